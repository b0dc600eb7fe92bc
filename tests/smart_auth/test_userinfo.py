"""The OpenID Connect userinfo endpoint with SMART tokens (OIDC Core §5.3).

A SMART app's access token always names its FHIR server (RFC 8707 ``resource``); userinfo, on
the authorization server's own origin, must still answer it (``validate_token_audience``), which
takes the request's absolute URL (``smart_auth.oauth2.backend.SmartOAuthLibCore``).
"""

import pytest

from tests.conftest import Flow


pytestmark = pytest.mark.django_db


def test_a_smart_apps_token_gets_its_users_claims(client, users, public_client):
    body = (
        Flow(client, public_client)
        .run("launch/patient openid fhirUser patient/*.rs", users["patient"])
        .json()
    )
    client.logout()
    response = client.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert response.status_code == 200, response.content
    claims = response.json()
    assert claims["sub"] == str(users["patient"].pk)
    assert claims["fhirUser"].endswith(f"Patient/{body['patient']}")


def test_a_token_without_openid_is_refused(client, users, public_client):
    body = Flow(client, public_client).run("launch/patient patient/*.rs", users["patient"]).json()
    client.logout()
    response = client.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert response.status_code in (401, 403)
    assert "sub" not in response.content.decode()
