"""FHIR R4 REST behaviour: interactions, Bundles, paging, includes, errors as OperationOutcome."""

import json

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from smart_fhir.demo import MRN_SYSTEM
from smart_fhir.models import StoredResource

from .conftest import FHIR_JSON, PAT1, PAT2


pytestmark = pytest.mark.django_db


def _ids(response):
    return [e["resource"]["id"] for e in response.json().get("entry", []) if e["search"]["mode"] == "match"]


def test_metadata_is_a_valid_capability_statement_with_smart_oauth_uris(api):
    response = api.get("metadata")
    assert response.status_code == 200
    assert response["Content-Type"].startswith(FHIR_JSON)
    statement = response.json()
    CapabilityStatement.model_validate(statement)
    security = statement["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    uris = {e["url"]: e["valueUri"] for e in security["extension"][0]["extension"]}
    assert uris == {
        "authorize": "http://testserver/o/authorize/",
        "token": "http://testserver/o/token/",
        "introspect": "http://testserver/o/introspect/",
        "revoke": "http://testserver/o/revoke_token/",
    }
    types = {r["type"] for r in statement["rest"][0]["resource"]}
    assert {"Patient", "ImagingStudy", "Endpoint", "Observation"} <= types


def test_smart_configuration_comes_from_smart_auth_at_the_fhir_base(api):
    response = api.get(".well-known/smart-configuration")
    assert response.status_code == 200
    assert response.json()["token_endpoint"] == "http://testserver/o/token/"


def test_read_returns_the_stored_resource_with_etag(clinician):
    response = clinician.get(f"Patient/{PAT1}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith(FHIR_JSON)
    assert response["ETag"] == 'W/"1"'
    body = response.json()
    assert body["identifier"][0] == {"system": MRN_SYSTEM, "value": "MRN-0001"}


def test_format_parameter_and_plain_json_accept(clinician):
    assert clinician.get(f"Patient/{PAT1}?_format=json").status_code == 200
    assert clinician.get(f"Patient/{PAT1}?_format=xml").status_code == 406
    response = clinician.get(f"Patient/{PAT1}", HTTP_ACCEPT="application/json")
    assert response["Content-Type"].startswith("application/json")


def test_unknown_resource_and_type_are_404_operation_outcomes(clinician):
    for path in ("Patient/nope", "Medication/x"):
        response = clinician.get(path)
        assert response.status_code == 404
        assert response.json()["resourceType"] == "OperationOutcome"


def test_search_by_identifier_name_gender_and_birthdate(clinician):
    response = clinician.get(f"Patient?identifier={MRN_SYSTEM}|MRN-0002")
    assert _ids(response) == [PAT2]
    Bundle.model_validate(response.json())
    patient = clinician.get(f"Patient/{PAT2}").json()
    family = patient["name"][0]["family"]
    assert PAT2 in _ids(clinician.get(f"Patient?family={family[:3].lower()}"))
    assert PAT2 in _ids(clinician.get(f"Patient?birthdate={patient['birthDate']}&gender={patient['gender']}"))
    assert PAT2 not in _ids(clinician.get(f"Patient?birthdate=lt{patient['birthDate']}"))


def test_search_observations_by_patient_category_code_and_date(clinician):
    response = clinician.get(f"Observation?patient={PAT1}&category=laboratory")
    body = response.json()
    assert body["total"] == 2
    assert all(r["resource"]["subject"]["reference"] == f"Patient/{PAT1}" for r in body["entry"])
    assert (
        clinician.get(f"Observation?subject=Patient/{PAT1}&code=http://loinc.org|8867-4").json()["total"] == 1
    )
    assert clinician.get(f"Observation?patient={PAT1}&date=ge2100").json()["total"] == 0


def test_paging_with_next_links(clinician):
    first = clinician.get("Observation?_count=5&_sort=_id").json()
    assert first["total"] == 12 and len(first["entry"]) == 5
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = clinician.get(next_url.removeprefix("http://testserver/fhir/")).json()
    assert {e["resource"]["id"] for e in second["entry"]}.isdisjoint(
        {e["resource"]["id"] for e in first["entry"]}
    )
    assert first["entry"][-1]["resource"]["id"] < second["entry"][0]["resource"]["id"]


def test_summary_count_and_post_search(clinician):
    body = clinician.get("Encounter?_summary=count").json()
    assert body["total"] == 6 and "entry" not in body
    response = clinician.post(
        "Encounter/_search", f"patient={PAT1}", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200 and response.json()["total"] == 2


def test_include_and_revinclude(api, db, issue):
    from smart_fhir.demo import load_demo_data

    load_demo_data("imaging", patients=2)
    token = issue("openid fhirUser user/*.rs")
    body = api.get("ImagingStudy?patient=im-pat-1&_include=ImagingStudy:endpoint", token=token).json()
    modes = {(e["resource"]["resourceType"], e["search"]["mode"]) for e in body["entry"]}
    assert modes == {("ImagingStudy", "match"), ("Endpoint", "include")}
    body = api.get("Patient?_id=im-pat-1&_revinclude=ImagingStudy:patient", token=token).json()
    assert {e["resource"]["resourceType"] for e in body["entry"]} == {"Patient", "ImagingStudy"}


def test_last_updated_filter(clinician):
    assert clinician.get("Patient?_lastUpdated=ge2000-01-01").json()["total"] == 3
    assert clinician.get("Patient?_lastUpdated=lt2000-01-01").json()["total"] == 0


def test_create_update_vread_history_delete(clinician):
    created = clinician.post("Patient", {"resourceType": "Patient", "name": [{"family": "Newman"}]})
    assert created.status_code == 201
    ident = created.json()["id"]
    assert created["Location"] == f"http://testserver/fhir/Patient/{ident}/_history/1"
    updated = clinician.put(
        f"Patient/{ident}",
        {"resourceType": "Patient", "id": ident, "name": [{"family": "Newer"}]},
        HTTP_IF_MATCH='W/"1"',
    )
    assert updated.status_code == 200 and updated.json()["meta"]["versionId"] == "2"
    stale = clinician.put(f"Patient/{ident}", {"resourceType": "Patient", "id": ident}, HTTP_IF_MATCH='W/"1"')
    assert stale.status_code == 412
    assert clinician.get(f"Patient/{ident}/_history/1").json()["name"][0]["family"] == "Newman"
    assert clinician.get("Patient?family=newer").json()["total"] == 1
    history = clinician.get(f"Patient/{ident}/_history").json()
    assert history["type"] == "history" and history["total"] == 2
    assert clinician.delete(f"Patient/{ident}").status_code == 204
    assert clinician.get(f"Patient/{ident}").status_code == 410
    assert clinician.get("Patient?family=newer").json()["total"] == 0


@pytest.mark.parametrize(
    "body, content_type",
    [
        ("{not json", "application/fhir+json"),
        (json.dumps({"resourceType": "Observation", "status": "final"}), "application/fhir+json"),
        (json.dumps({"resourceType": "Patient", "birthDate": "1990-13-45"}), "application/fhir+json"),
        (json.dumps({"resourceType": "Patient", "unknownField": 1}), "application/fhir+json"),
        (json.dumps(["Patient"]), "application/fhir+json"),
        ("resourceType=Patient", "text/plain"),
    ],
)
def test_malformed_bodies_are_refused_and_change_nothing(clinician, body, content_type):
    before = StoredResource.objects.count()
    response = clinician.post("Patient", body, content_type=content_type)
    assert response.status_code in (400, 415)
    assert response.json()["resourceType"] == "OperationOutcome"
    assert StoredResource.objects.count() == before


def test_update_with_mismatched_id_is_refused(clinician):
    response = clinician.put(f"Patient/{PAT1}", {"resourceType": "Patient", "id": PAT2})
    assert response.status_code == 400
    assert clinician.get(f"Patient/{PAT1}").json()["meta"]["versionId"] == "1"


@pytest.mark.parametrize(
    "query",
    ["Patient?birthdate=yesterday", "Patient?foo=bar", "Observation?_count=abc", "Observation?date=xx2024"],
)
def test_malformed_search_parameters_are_400_operation_outcomes(clinician, query):
    response = clinician.get(query)
    assert response.status_code == 400
    assert response.json()["issue"][0]["code"] == "invalid"


def test_storage_contract_used_by_smart_auth_patient_picker(ehr_data):
    """smart_auth.hooks.patient_choices: get_storage().search("Patient", {"_count", "_sort": family})."""
    from smart_fhir.storage import get_storage

    result = get_storage().search("Patient", {"_count": ["200"], "_sort": ["family"]})
    families = [r["name"][0]["family"] for r in result.resources]
    assert result.total == 3 and families == sorted(families)
    assert get_storage().read("Patient", PAT1)["id"] == PAT1
    assert get_storage().read("Patient", "missing") is None


def test_patient_picker_lists_demo_patients(ehr_data, users, rf):
    from smart_auth.hooks import patient_choices

    choices = patient_choices(rf.get("/"), users["clinician"])
    assert {ident for ident, _label in choices} == {PAT1, PAT2, "pat-3"}
    assert patient_choices(rf.get("/"), users["patient"])[0][0] == PAT1
