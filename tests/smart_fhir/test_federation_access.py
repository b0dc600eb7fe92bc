"""What a token reaches when it comes from another server or acts for a patient (issue 12):
the fail-closed default USER_ACCESS_POLICY, another issuer's fhirUser, a patient per server for
tokens with several audiences, and fields a patient may not change (PROTECTED_FIELDS).

Rules: SMART App Launch 2.2 (user/ scopes follow the user; patient/ the launch patient;
experimental ``authorization_details``), multi-server draft (``launch-full-url``; patient
matching on ``Patient.identifier``)."""

import pytest

from tests.smart_fhir.conftest import IMAGING, PAT1, PAT2


pytestmark = pytest.mark.django_db
MRN = "http://hospital.example/mrn"


@pytest.fixture
def default_policy(settings):
    settings.SMART_FHIR = {
        **settings.SMART_FHIR,
        "USER_ACCESS_POLICY": "smart_fhir.policies.default_user_access",
    }


def test_default_user_policy_is_closed_for_users_it_knows_nothing_about(api, ehr_data, issue, default_policy):
    """A user who is not one of our Patients gets nothing through user/ scopes by default."""
    clinician = issue("openid fhirUser user/*.rs")
    assert api.get(f"Patient/{PAT1}", token=clinician).status_code == 403
    assert api.get("Observation", token=clinician).status_code == 403
    patient = issue("openid fhirUser user/*.rs", user="patient")
    assert api.get(f"Patient/{PAT1}", token=patient).status_code == 200
    assert api.get(f"Patient/{PAT2}", token=patient).status_code == 403


def test_user_without_fhir_user_gets_nothing_even_with_the_opt_in_policy(api, ehr_data, fake_issuer):
    token = fake_issuer.token("user/*.rs", fhirUser=None)
    assert api.get(f"Patient/{PAT1}", token=token).status_code == 403


def test_another_issuers_relative_fhir_user_is_not_our_patient(api, ehr_data, fake_issuer):
    """SMART 2.2 fhirUser: ``Patient/pat-1`` in the EHR's token names the EHR's patient, not ours."""
    token = fake_issuer.token("user/*.rs", fhirUser=f"Patient/{PAT1}")
    assert api.get(f"Patient/{PAT1}", token=token).status_code == 403
    ours = fake_issuer.token("user/*.rs", fhirUser=f"http://testserver/fhir/Patient/{PAT1}")
    assert api.get(f"Patient/{PAT1}", token=ours).status_code == 200
    assert api.get(f"Patient/{PAT2}", token=ours).status_code == 403


def test_multi_audience_token_without_our_patient_gets_none(api, ehr_data, fake_issuer):
    """No cross-server fallback: the top-level patient of a token for two servers is not ours
    unless its authorization_details (or launch-full-url) say so for our base."""
    both = ["http://testserver/fhir", IMAGING]
    elsewhere = [
        {"type": "smart_on_fhir", "locations": [IMAGING], "fhirVersions": ["4.0.1"], "patient": PAT1},
        {"type": "smart_on_fhir", "locations": ["http://testserver/fhir"], "fhirVersions": ["4.0.1"]},
    ]
    token = fake_issuer.token("patient/*.rs", aud=both, patient=PAT1, authorization_details=elsewhere)
    assert api.get(f"Patient/{PAT1}", token=token).status_code == 403
    bare = fake_issuer.token("patient/*.rs", aud=both, patient=PAT1)
    assert api.get(f"Patient/{PAT1}", token=bare).status_code == 403
    full_url = [{"reference": f"http://testserver/fhir/Patient/{PAT2}", "role": "launch-full-url"}]
    named = fake_issuer.token("patient/*.rs", aud=both, patient=PAT1, fhirContext=full_url)
    assert api.get(f"Patient/{PAT2}", token=named).status_code == 200
    assert api.get(f"Patient/{PAT1}", token=named).status_code == 403


def _with_identifier(resource, value):
    return {**resource, "identifier": [{"system": MRN, "value": value}]}


def test_patient_token_cannot_change_protected_fields(api, ehr_data, issue):
    """Other servers match patients on Patient.identifier: a patient/ token with write letters
    may edit the Patient, not its identifiers (SMART_FHIR PROTECTED_FIELDS): 403."""
    token = issue("launch/patient patient/*.cruds", patient=PAT1, user="patient")
    current = api.get(f"Patient/{PAT1}", token=token).json()
    response = api.put(f"Patient/{PAT1}", _with_identifier(current, "MRN-0002"), token=token)
    assert response.status_code == 403 and response.json()["resourceType"] == "OperationOutcome"
    removed = {k: v for k, v in current.items() if k != "identifier"}
    assert api.put(f"Patient/{PAT1}", removed, token=token).status_code == 403
    renamed = {**current, "name": [{"family": "Renamed"}]}
    assert api.put(f"Patient/{PAT1}", renamed, token=token).status_code == 200
    # A Patient user's user/ scopes are held to the same rule.
    own = issue("openid fhirUser user/*.cruds", user="patient")
    assert api.put(f"Patient/{PAT1}", _with_identifier(current, "MRN-0002"), token=own).status_code == 403


def test_practitioner_may_change_protected_fields(api, ehr_data, issue):
    clinician = issue("openid fhirUser user/*.cruds")
    current = api.get(f"Patient/{PAT1}", token=clinician).json()
    assert (
        api.put(f"Patient/{PAT1}", _with_identifier(current, "MRN-9001"), token=clinician).status_code == 200
    )


def test_protected_fields_are_a_vendor_setting(api, ehr_data, issue, settings):
    settings.SMART_FHIR = {
        **settings.SMART_FHIR,
        "PROTECTED_FIELDS": {"Patient": ["identifier", "birthDate"]},
    }
    token = issue("launch/patient patient/*.cruds", patient=PAT1, user="patient")
    current = api.get(f"Patient/{PAT1}", token=token).json()
    assert api.put(f"Patient/{PAT1}", {**current, "birthDate": "1901-01-01"}, token=token).status_code == 403
