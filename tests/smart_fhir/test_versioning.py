"""Versioning as FHIR R4 §3.1.0 describes it: ETag/Last-Modified/Location, vread, instance and
type history Bundles (request and response per entry), If-Match, 410 after delete."""

from email.utils import parsedate_to_datetime

import pytest
from fhir.resources.R4B.bundle import Bundle

from .conftest import PAT1, PAT2


pytestmark = pytest.mark.django_db


def _patient(family, **extra):
    return {"resourceType": "Patient", "name": [{"family": family}], **extra}


def test_create_and_update_carry_etag_last_modified_and_location(clinician):
    created = clinician.post("Patient", _patient("Versioned"))
    assert created.status_code == 201
    body = created.json()
    ident = body["id"]
    assert created["ETag"] == 'W/"1"'
    assert created["Location"] == f"http://testserver/fhir/Patient/{ident}/_history/1"
    modified = parsedate_to_datetime(created["Last-Modified"])
    assert modified.strftime("%Y-%m-%dT%H:%M:%S") == body["meta"]["lastUpdated"][:19]
    updated = clinician.put(f"Patient/{ident}", {**_patient("Versioned2"), "id": ident})
    assert updated.status_code == 200 and updated["ETag"] == 'W/"2"'
    assert "Last-Modified" in updated and "Location" not in updated
    created_by_put = clinician.put("Patient/client-chosen", {**_patient("Put"), "id": "client-chosen"})
    assert created_by_put.status_code == 201
    assert created_by_put["Location"].endswith("/Patient/client-chosen/_history/1")


def test_vread_returns_each_version_and_410_for_a_deleted_one(clinician):
    ident = clinician.post("Patient", _patient("One")).json()["id"]
    clinician.put(f"Patient/{ident}", {**_patient("Two"), "id": ident})
    first = clinician.get(f"Patient/{ident}/_history/1")
    assert first.status_code == 200 and first["ETag"] == 'W/"1"' and "Last-Modified" in first
    assert first.json()["name"][0]["family"] == "One"
    assert clinician.get(f"Patient/{ident}/_history/2").json()["name"][0]["family"] == "Two"
    assert clinician.get(f"Patient/{ident}/_history/9").status_code == 404
    assert clinician.delete(f"Patient/{ident}").status_code == 204
    assert clinician.get(f"Patient/{ident}").status_code == 410
    gone = clinician.get(f"Patient/{ident}/_history/3")
    assert gone.status_code == 410 and gone.json()["resourceType"] == "OperationOutcome"


def test_if_match_is_optimistic_locking(clinician):
    ident = clinician.post("Patient", _patient("Lock")).json()["id"]
    ok = clinician.put(f"Patient/{ident}", {**_patient("Lock2"), "id": ident}, HTTP_IF_MATCH='W/"1"')
    assert ok.status_code == 200
    stale = clinician.put(f"Patient/{ident}", {**_patient("Lost"), "id": ident}, HTTP_IF_MATCH='W/"1"')
    assert stale.status_code == 412 and stale.json()["issue"][0]["code"] == "conflict"
    assert clinician.get(f"Patient/{ident}").json()["name"][0]["family"] == "Lock2"
    assert clinician.delete(f"Patient/{ident}", HTTP_IF_MATCH='W/"1"').status_code == 412
    assert clinician.get(f"Patient/{ident}").status_code == 200
    assert clinician.delete(f"Patient/{ident}", HTTP_IF_MATCH='W/"2"').status_code == 204


def _bdl_4(bundle):
    """Every history entry has request and response (bdl-3, bdl-4), and validates as R4B."""
    Bundle.model_validate(bundle)
    for entry in bundle["entry"]:
        assert entry["request"]["method"] in ("POST", "PUT", "DELETE")
        assert entry["response"]["status"] and entry["response"]["etag"].startswith('W/"')


def test_instance_history_lists_every_version_with_request_and_response(clinician):
    ident = clinician.post("Patient", _patient("H1")).json()["id"]
    clinician.put(f"Patient/{ident}", {**_patient("H2"), "id": ident})
    clinician.delete(f"Patient/{ident}")
    history = clinician.get(f"Patient/{ident}/_history").json()
    assert history["type"] == "history" and history["total"] == 3
    _bdl_4(history)
    methods = [(e["request"]["method"], e["response"]["status"]) for e in history["entry"]]
    assert methods == [("DELETE", "204 No Content"), ("PUT", "200 OK"), ("POST", "201 Created")]
    assert "resource" not in history["entry"][0]
    assert (
        history["entry"][1]["response"]["lastModified"]
        == history["entry"][1]["resource"]["meta"]["lastUpdated"]
    )


def test_type_history_pages_newest_first(clinician):
    before = clinician.get("Patient/_history?_count=100").json()
    _bdl_4(before)
    assert len(before["entry"]) == 3  # the demo patients
    ident = clinician.post("Patient", _patient("T1")).json()["id"]
    clinician.put(f"Patient/{ident}", {**_patient("T2"), "id": ident})
    page = clinician.get("Patient/_history?_count=2").json()
    assert [e["response"]["etag"] for e in page["entry"]] == ['W/"2"', 'W/"1"']
    assert {e["resource"]["id"] for e in page["entry"]} == {ident}
    following = next(link["url"] for link in page["link"] if link["relation"] == "next")
    assert following == "http://testserver/fhir/Patient/_history?_count=2&_offset=2"
    rest = clinician.get(following.removeprefix("http://testserver/fhir/")).json()
    assert len(rest["entry"]) == 2 and ident not in {e["resource"]["id"] for e in rest["entry"]}
    assert clinician.get("Patient/_history?_since=2100-01-01").json().get("entry") is None
    assert clinician.get("Patient/_history?_since=yesterday").status_code == 400
    assert clinician.get("Patient/_history?bogus=1").status_code == 400


@pytest.mark.parametrize("query", ["_offset=99999999999999999999999", "_offset=1000001"])
def test_type_history_holds_the_search_limits(clinician, query):
    """``_history`` paging takes the search's limits (MAX_SEARCH_OFFSET): an _offset beyond the
    database's integers is a 400 OperationOutcome (FHIR R4 §3.1.0.3), not a 500."""
    response = clinician.get(f"Patient/_history?{query}")
    assert response.status_code == 400, response.content[:300]
    assert response.json()["resourceType"] == "OperationOutcome"


def test_deleting_a_deleted_resource_stays_in_the_tokens_compartment(api, clinician, issue):
    """Deleting again is a 204 (FHIR R4 §3.1.0.7.1), but only where the token may delete: for a
    resource of another patient's compartment it is the 404 of an unknown id, so the answer does
    not tell a patient/ token which ids of other patients existed (SMART 2.2 patient/ scopes)."""
    theirs = clinician.get(f"Observation?patient={PAT2}&_count=1").json()["entry"][0]["resource"]["id"]
    mine = clinician.get(f"Observation?patient={PAT1}&_count=1").json()["entry"][0]["resource"]["id"]
    assert clinician.delete(f"Observation/{theirs}").status_code == 204
    assert clinician.delete(f"Observation/{mine}").status_code == 204
    token = issue("openid fhirUser patient/Observation.rds", patient=PAT1)
    assert api.delete(f"Observation/{theirs}", token=token).status_code == 404
    assert api.delete("Observation/never-existed", token=token).status_code == 404
    assert api.delete(f"Observation/{mine}", token=token).status_code == 204


def test_type_history_stays_in_the_tokens_compartment(api, clinician, issue):
    clinician.put(f"Patient/{PAT2}", {**clinician.get(f"Patient/{PAT2}").json(), "gender": "other"})
    clinician.delete(f"Patient/{PAT2}")
    token = issue("openid fhirUser patient/*.rs", patient=PAT1)
    history = api.get("Patient/_history", token=token).json()
    assert {e["fullUrl"].rsplit("/", 1)[1] for e in history["entry"]} == {PAT1}
    observations = api.get("Observation/_history", token=token).json()
    assert observations["entry"] and all(
        e["resource"]["subject"]["reference"] == f"Patient/{PAT1}" for e in observations["entry"]
    )
    # history-type needs the s letter (SMART: history-type is a search)
    reader = issue("openid fhirUser patient/*.r", patient=PAT1)
    assert api.get("Patient/_history", token=reader).status_code == 403


def test_storage_create_with_a_taken_id_is_a_conflict_that_changes_nothing(ehr_data):
    from smart_fhir.models import ResourceVersion
    from smart_fhir.storage import Conflict, get_storage

    before = ResourceVersion.objects.count()
    with pytest.raises(Conflict):
        get_storage().create("Patient", {"resourceType": "Patient", "id": PAT1, "gender": "other"})
    assert ResourceVersion.objects.count() == before
    assert get_storage().read("Patient", PAT1).get("gender") != "other"
