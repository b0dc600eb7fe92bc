"""SMART enforcement at the FHIR API, each test trying to break one rule with real tokens.

Spec references: SMART App Launch 2.2 (``scopes-and-launch-context``, ``backend-services``,
``token-introspection``), RFC 6750 (Bearer tokens), RFC 9068 (JWT access tokens), RFC 8707
(resource indicators) and the ONC g10 checks listed in the reference notes (b.4 T15-T18, b.9 N8-N11).
"""

from urllib.parse import urlencode

import pytest

from smart_fhir.models import StoredResource
from tests.conftest import ClientKey

from .conftest import IMAGING, LAB, PAT1, PAT2


pytestmark = pytest.mark.django_db

VITALS = "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"


def _observation(patient, category="laboratory"):
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}
                ]
            }
        ],
        "code": {"text": "test"},
        "subject": {"reference": f"Patient/{patient}"},
    }


def _assert_401(response):
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"].startswith("Bearer ")
    assert response.json()["resourceType"] == "OperationOutcome"


# --- authentication ------------------------------------------------------------------------------
def test_no_token_is_401_with_bearer_challenge(api, ehr_data):
    """g10 T16: GET Patient/{id} without a token returns 401 (RFC 6750 §3: WWW-Authenticate)."""
    response = api.get(f"Patient/{PAT1}")
    _assert_401(response)
    assert "error=" not in response["WWW-Authenticate"]


def test_patient_token_reads_its_patient(api, ehr_data, issue):
    """g10 T15: GET Patient/{patient} with the launch token returns 200 and the Patient."""
    token = issue("openid fhirUser patient/*.rs", patient=PAT1)
    response = api.get(f"Patient/{PAT1}", token=token)
    assert response.status_code == 200
    assert response.json()["id"] == PAT1


def test_token_for_another_audience_is_401(api, ehr_data, issue):
    """SMART 2.2 §aud / RFC 8707: a token whose aud is another server (imaging) is refused here."""
    token = issue("openid fhirUser patient/*.rs", patient=PAT1, aud=IMAGING)
    response = api.get(f"Patient/{PAT1}", token=token)
    _assert_401(response)
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_revoked_token_is_401(api, client, ehr_data, issue, public_client):
    """g10 N8: after revocation a FHIR read with the old token is 401 (SMART token-introspection)."""
    token = issue("openid fhirUser patient/*.rs", patient=PAT1)
    assert api.get(f"Patient/{PAT1}", token=token).status_code == 200
    revoked = client.post(
        "/o/revoke_token/",
        urlencode({"token": token, "client_id": public_client.client_id}),
        content_type="application/x-www-form-urlencoded",
    )
    assert revoked.status_code == 200
    _assert_401(api.get(f"Patient/{PAT1}", token=token))


def test_expired_token_is_401(api, ehr_data, fake_issuer):
    """RFC 9068 §4: exp must be in the future (beyond the allowed clock skew)."""
    token = fake_issuer.token("user/*.rs", expires_in=-300)
    _assert_401(api.get(f"Patient/{PAT1}", token=token))
    assert api.get(f"Patient/{PAT1}", token=fake_issuer.token("user/*.rs")).status_code == 200


def test_token_signed_by_an_unknown_key_is_401(api, ehr_data, fake_issuer):
    """RFC 9068 §4 / SMART JWKS: the signature must verify with a key the issuer publishes."""
    stranger = ClientKey("RS256")
    _assert_401(api.get(f"Patient/{PAT1}", token=fake_issuer.token("user/*.rs", key=stranger)))
    stranger.kid = fake_issuer.key.kid  # same kid, different key: the signature check fails
    _assert_401(api.get(f"Patient/{PAT1}", token=fake_issuer.token("user/*.rs", key=stranger)))


def test_untrusted_issuer_and_malformed_tokens_are_401(api, ehr_data, fake_issuer):
    """RFC 6750 §3.1 invalid_token: malformed, untrusted or non-Bearer credentials."""
    fake_issuer.issuer = "https://evil.example/o"
    _assert_401(api.get(f"Patient/{PAT1}", token=fake_issuer.token("user/*.rs")))
    _assert_401(api.get(f"Patient/{PAT1}", token="abc.def.ghi"))
    _assert_401(api.get(f"Patient/{PAT1}", token="not-a-known-opaque-token"))
    _assert_401(api.get(f"Patient/{PAT1}", HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz"))


def test_id_token_is_not_an_access_token(api, ehr_data, issue):
    """RFC 9068 §2.1 typ at+jwt: an OpenID id_token (aud = client) cannot be used as a Bearer token."""
    body = issue("openid fhirUser patient/*.rs", patient=PAT1, full=True)
    _assert_401(api.get(f"Patient/{PAT1}", token=body["id_token"]))


# --- patient compartment -----------------------------------------------------------------------
def test_wrong_patient_read_and_search_are_403(api, ehr_data, issue):
    """SMART 2.2 patient/ scopes: access is limited to the launch patient's compartment."""
    token = issue("openid fhirUser patient/*.rs", patient=PAT1)
    denied = api.get(f"Patient/{PAT2}", token=token)
    assert denied.status_code == 403
    assert 'error="insufficient_scope"' in denied["WWW-Authenticate"]
    assert denied.json()["issue"][0]["code"] == "forbidden"
    assert api.get("Observation/obs-2-lab-1", token=token).status_code == 403
    assert api.get(f"Observation?patient={PAT2}", token=token).status_code == 403
    assert api.get(f"Patient?_id={PAT2}", token=token).status_code == 403
    response = api.get("Observation", token=token)  # no patient named: confined, not widened
    assert response.status_code == 200
    subjects = {e["resource"]["subject"]["reference"] for e in response.json()["entry"]}
    assert subjects == {f"Patient/{PAT1}"}


def test_patient_scoped_write_cannot_target_another_patient(api, ehr_data, issue):
    """SMART 2.2 patient/ scopes apply to writes: a create for another patient is 403 and stores nothing."""
    token = issue("openid fhirUser patient/Observation.cu", patient=PAT1)
    before = StoredResource.objects.count()
    assert api.post("Observation", _observation(PAT2), token=token).status_code == 403
    assert StoredResource.objects.count() == before
    assert api.post("Observation", _observation(PAT1), token=token).status_code == 201


def test_authorization_details_patient_for_this_server_wins(api, ehr_data, fake_issuer):
    """SMART 2.2 authorization_details (experimental): the entry listing our base names our patient."""
    details = [
        {"type": "smart_on_fhir", "locations": [IMAGING], "patient": PAT2},
        {"type": "smart_on_fhir", "locations": ["http://testserver/fhir"], "patient": PAT1},
    ]
    token = fake_issuer.token("patient/*.rs", patient=PAT2, authorization_details=details, sub="u1")
    assert api.get(f"Patient/{PAT1}", token=token).status_code == 200
    assert api.get(f"Patient/{PAT2}", token=token).status_code == 403


def test_patient_scope_without_patient_context_reaches_nothing(api, ehr_data, fake_issuer):
    """SMART 2.2: patient/ scopes need a patient in the launch context."""
    token = fake_issuer.token("patient/*.rs", sub="u1", fhirUser="Practitioner/prac-1")
    assert api.get(f"Patient/{PAT1}", token=token).status_code == 403
    assert api.get("Observation", token=token).status_code == 403


def test_user_scopes_of_a_patient_user_stay_in_their_compartment(api, ehr_data, issue):
    """SMART 2.2 user/ scopes: what the user may see; a Patient user sees their own record only."""
    token = issue("openid fhirUser user/*.rs", user="patient")
    assert api.get(f"Patient/{PAT1}", token=token).status_code == 200
    assert api.get(f"Patient/{PAT2}", token=token).status_code == 403
    assert api.get(f"Encounter?patient={PAT2}", token=token).status_code == 403


# --- letters, types and granular scopes -----------------------------------------------------
def test_missing_scope_letter_is_403(api, ehr_data, issue):
    """SMART 2.2 .cruds: each interaction needs its letter (r read, s search, c/u/d writes)."""
    token = issue("openid fhirUser patient/Patient.r patient/Observation.s", patient=PAT1)
    assert api.get(f"Patient/{PAT1}", token=token).status_code == 200
    assert api.get(f"Patient?_id={PAT1}", token=token).status_code == 403  # no s on Patient
    assert api.get("Observation/obs-1-lab-1", token=token).status_code == 403  # no r on Observation
    assert api.get(f"Observation?patient={PAT1}", token=token).status_code == 200
    assert api.delete(f"Patient/{PAT1}", token=token).status_code == 403
    assert api.put(f"Patient/{PAT1}", {"resourceType": "Patient", "id": PAT1}, token=token).status_code == 403
    assert api.get(f"Patient/{PAT1}", token=token).json()["meta"]["versionId"] == "1"


def test_category_scope_filters_searches_and_refuses_other_reads(api, ehr_data, issue):
    """g10 N11 / SMART 2.2 granular scopes: only the granted category is searchable or readable."""
    token = issue(f"openid fhirUser patient/Observation.rs?category={LAB}", patient=PAT1)
    body = api.get(f"Observation?patient={PAT1}", token=token).json()
    categories = {e["resource"]["category"][0]["coding"][0]["code"] for e in body["entry"]}
    assert categories == {"laboratory"} and body["total"] == 2
    assert api.get("Observation?category=vital-signs", token=token).json()["total"] == 0
    assert api.get("Observation/obs-1-lab-1", token=token).status_code == 200
    assert api.get("Observation/obs-1-vit-1", token=token).status_code == 403


def test_combining_scopes_does_not_broaden_access(api, ehr_data, issue):
    """SMART 2.2: a letter, a type and a constraint only combine within one scope."""
    token = issue(f"openid fhirUser patient/Observation.s?category={LAB} patient/Patient.rs", patient=PAT1)
    body = api.get(f"Observation?patient={PAT1}", token=token).json()
    assert body["total"] == 2  # search stays limited to laboratory
    assert api.get("Observation/obs-1-lab-1", token=token).status_code == 403  # no r for Observation
    assert api.get(f"Encounter?patient={PAT1}", token=token).status_code == 403


def test_system_scope_from_an_app_token_is_403(api, ehr_data, fake_issuer):
    """SMART Backend Services: system/ scopes only for a client acting on its own (no user, no patient)."""
    user_token = fake_issuer.token("system/*.rs", sub="u1", fhirUser="Practitioner/prac-1")
    assert api.get(f"Patient/{PAT1}", token=user_token).status_code == 403
    patient_token = fake_issuer.token("system/*.rs", sub="remote-app", patient=PAT1)
    assert api.get(f"Patient/{PAT2}", token=patient_token).status_code == 403


def test_backend_token_with_system_scopes_reads_every_patient(api, ehr_data, backend_token):
    """SMART Backend Services: a client_credentials token with system/*.rs reads any patient."""
    token = backend_token("system/*.rs")
    assert api.get(f"Patient/{PAT2}", token=token).status_code == 200
    assert api.get("Observation?_summary=count", token=token).json()["total"] == 12
    assert api.post("Observation", _observation(PAT1), token=token).status_code == 403


# --- resource filters ------------------------------------------------------------------------
def hide_second_studies(access, resource_type, resource):
    return not (resource_type == "ImagingStudy" and resource["id"].endswith("-2"))


def test_resource_filters_hide_resources_from_reads_and_searches(api, ehr_data, issue, settings):
    """RESOURCE_FILTERS hooks run after the scope checks (used by imaging consent)."""
    settings.SMART_FHIR = {**settings.SMART_FHIR, "RESOURCE_FILTERS": [f"{__name__}.hide_second_studies"]}
    token = issue("openid fhirUser user/*.rs")
    assert api.get("ImagingStudy/study-3-1", token=token).status_code == 200
    assert api.get("ImagingStudy/study-3-2", token=token).status_code == 404  # as for an unknown id
    ids = {e["resource"]["id"] for e in api.get("ImagingStudy?patient=pat-3", token=token).json()["entry"]}
    assert ids == {"study-3-1"}
