"""The imaging deployment's FHIR API trusting a separate authorization server over real HTTP.

``live_server`` plays the EHR's authorization server (its JWKS and introspection endpoints);
the test client plays the imaging FHIR API, configured with that issuer as trusted and with the
local issuer not trusted, so every check goes through HTTP.
"""

from urllib.parse import urlencode

import pytest

from smart_fhir.demo import demo_patient_id, load_demo_data

from .conftest import IMAGING


IMAGING_PATIENT = demo_patient_id("imaging", 1)


@pytest.fixture
def imaging_api(settings, live_server, symmetric_client, api):
    load_demo_data("imaging", patients=2)
    # The resource server introspects as this client: a designated resource server (registered
    # with the introspection scope) sees every client's tokens, any other client only its own.
    symmetric_client.smart.allowed_scopes += " introspection"
    symmetric_client.smart.save(update_fields=["allowed_scopes"])

    def configure(introspect="never", introspection_endpoint=None):
        settings.SMART_FHIR = {
            "BASE_URL": IMAGING,
            "TRUST_LOCAL_ISSUER": False,
            "TRUSTED_ISSUERS": [
                {
                    "issuer": "http://testserver/o",
                    "jwks_uri": f"{live_server.url}/o/.well-known/jwks.json",
                    "introspection_endpoint": introspection_endpoint or f"{live_server.url}/o/introspect/",
                    "introspect": introspect,
                    "introspection_auth": {
                        "type": "basic",
                        "client_id": symmetric_client.client_id,
                        "client_secret": symmetric_client.plain_secret,
                    },
                }
            ],
            "INTROSPECTION_TIMEOUT_SECONDS": 2,
        }
        return api

    return configure


@pytest.mark.django_db(transaction=True)
def test_remote_token_checked_through_jwks(imaging_api, issue):
    """SMART 2.2 / RFC 9068: a resource server verifies the issuer's signature with its published JWKS."""
    api = imaging_api(introspect="never")
    token = issue("openid fhirUser patient/*.rs", patient=IMAGING_PATIENT, aud=IMAGING)
    response = api.get(f"Patient/{IMAGING_PATIENT}", token=token)
    assert response.status_code == 200, response.content
    studies = api.get(f"ImagingStudy?patient={IMAGING_PATIENT}&_include=ImagingStudy:endpoint", token=token)
    assert studies.status_code == 200
    assert {e["resource"]["resourceType"] for e in studies.json()["entry"]} == {"ImagingStudy", "Endpoint"}
    assert api.get(f"Patient/{demo_patient_id('imaging', 2)}", token=token).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_remote_token_for_the_ehr_audience_is_refused(imaging_api, issue):
    """RFC 8707 / SMART aud: the imaging server refuses a token minted for the EHR's base only."""
    api = imaging_api(introspect="never")
    token = issue("openid fhirUser patient/*.rs", patient=IMAGING_PATIENT)
    assert api.get(f"Patient/{IMAGING_PATIENT}", token=token).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_remote_revocation_learned_through_introspection(imaging_api, issue, client, public_client):
    """SMART token-introspection / RFC 7662: a revoked token is inactive at the issuer, hence 401."""
    api = imaging_api(introspect="always")
    token = issue("openid fhirUser patient/*.rs", patient=IMAGING_PATIENT, aud=IMAGING)
    assert api.get(f"Patient/{IMAGING_PATIENT}", token=token).status_code == 200
    client.post(
        "/o/revoke_token/",
        urlencode({"token": token, "client_id": public_client.client_id}),
        content_type="application/x-www-form-urlencoded",
    )
    response = api.get(f"Patient/{IMAGING_PATIENT}", token=token)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


@pytest.mark.django_db(transaction=True)
def test_unreachable_introspection_endpoint_is_503(imaging_api, issue):
    """A token we cannot check is not accepted: 503 with an OperationOutcome, not 200 and not 401."""
    api = imaging_api(introspect="always", introspection_endpoint="http://127.0.0.1:9/o/introspect/")
    token = issue("openid fhirUser patient/*.rs", patient=IMAGING_PATIENT, aud=IMAGING)
    response = api.get(f"Patient/{IMAGING_PATIENT}", token=token)
    assert response.status_code == 503
    assert response.json()["issue"][0]["code"] == "transient"
