"""Audience attacks at the token endpoint (RFC 8707 §2: ``invalid_target``).

Every grant's ``resource`` (and token exchange's ``audience``, RFC 8693 §2.1) must be a FHIR base
this authorization server governs and one the client's registration allows; inherited audiences
(code, refresh) are held to the same rule.
"""

import pytest

from smart_auth.models import SmartClient
from smart_auth.registration import register_client
from tests.conftest import FHIR, ClientKey, Flow, token_post
from tests.security.auth_helpers import ASSERTION_TYPE, backend_token, state


pytestmark = pytest.mark.django_db
IMAGING = "http://imaging.test/fhir"  # governed by the test deployment (FHIR_BASE_URLS)
FOREIGN = "https://evil.example/fhir"
SCOPE = "launch/patient openid fhirUser patient/*.rs offline_access"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def _restrict(application, audiences):
    SmartClient.objects.filter(application=application).update(allowed_audiences=audiences)


def _refused(response):
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_target"


@pytest.fixture
def exchanger(db):
    key = ClientKey("RS384")
    app, _ = register_client(
        {
            "client_name": "Exchanger",
            "grant_types": [TOKEN_EXCHANGE],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": key.jwks,
            "scope": "user/*.rs openid fhirUser",
            "audiences": [FHIR],
        }
    )
    app.key = key
    return app


def test_client_credentials_refuses_a_server_not_governed_here(client, backend_client):
    """RFC 8707 §2: a resource this AS does not govern is invalid_target, never signed into aud."""
    before = state()
    _refused(backend_token(client, backend_client, scope="system/*.rs", resource=FOREIGN))
    assert state() == before


def test_client_credentials_refuses_a_base_outside_the_registration(client, backend_client):
    """RFC 8707 §2: a governed base the client is not registered for is invalid_target."""
    _restrict(backend_client, [FHIR])
    before = state()
    _refused(backend_token(client, backend_client, scope="system/*.rs", resource=IMAGING))
    assert state() == before
    allowed = backend_token(client, backend_client, scope="system/*.rs", resource=FHIR)
    assert allowed.status_code == 200


def test_token_exchange_refuses_audience_outside_the_registration(client, exchanger):
    """RFC 8693 §2.2.2 / RFC 8707 §2: invalid_target before the subject token is looked at."""
    before = state()
    for name, value in (("audience", IMAGING), ("resource", IMAGING), ("audience", FOREIGN)):
        response = token_post(
            client,
            {
                "grant_type": TOKEN_EXCHANGE,
                "subject_token": "lt_not-looked-at",
                "subject_token_type": "urn:ietf:params:oauth:token-type:launch_token",
                "scope": "user/*.rs",
                name: value,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": exchanger.key.assertion(exchanger.client_id),
            },
        )
        _refused(response)
    assert state() == before


def test_code_exchange_refuses_an_audience_the_registration_no_longer_allows(client, users, public_client):
    """RFC 8707 §2: the audience a code carries is checked again when the code is redeemed."""
    flow = Flow(client, public_client)
    client.force_login(users["patient"])
    response = flow.authorize(SCOPE, resource=IMAGING)
    code = flow.code_from(flow.approve(response))
    _restrict(public_client, [FHIR])
    before = state()
    _refused(flow.exchange(code))
    assert state() == before


def test_refresh_refuses_an_audience_the_registration_no_longer_allows(client, users, public_client):
    """RFC 8707 §2: a refresh cannot keep an audience the client is no longer registered for;
    the refresh token stays as it was."""
    issued = Flow(client, public_client).run(SCOPE, users["patient"], resource=IMAGING).json()
    _restrict(public_client, [FHIR])
    before = state()
    refresh = {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]}
    _refused(token_post(client, refresh))
    _refused(token_post(client, {**refresh, "resource": FOREIGN}))
    assert state() == before
    _restrict(public_client, [])
    assert token_post(client, refresh).status_code == 200
