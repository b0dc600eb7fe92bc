"""An ordinary maintained FHIR client (fhirpy) against a live server: Django's live_server
serving the test settings, real HTTP, a real RS256 access token from a trusted issuer."""

import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import MultipleResourcesFound, OperationOutcome

from smart_fhir.demo import load_demo_data

from .conftest import PAT1, FakeIssuer


MRN = "http://hospital.example/mrn"


@pytest.fixture
def fhir(live_server, settings, transactional_db):
    base = f"{live_server.url}/fhir"
    issuer = FakeIssuer()
    settings.SMART_FHIR = {
        **settings.SMART_FHIR,
        "BASE_URL": base,
        "TRUSTED_ISSUERS": [{"issuer": issuer.issuer, "jwks": issuer.key.jwks}],
    }
    load_demo_data("ehr", patients=3)
    token = issuer.token("user/*.cruds", aud=base, fhirUser="Practitioner/prac-1")
    return SyncFHIRClient(base, authorization=f"Bearer {token}")


def test_create_conditional_create_patch_and_history(fhir):
    patient = fhir.resource("Patient", identifier=[{"system": MRN, "value": "FP-1"}], name=[{"family": "Py"}])
    patient.save()
    assert patient.id and patient["meta"]["versionId"] == "1"

    same, created = (
        fhir.resources("Patient")
        .search(identifier=f"{MRN}|FP-1")
        .get_or_create(fhir.resource("Patient", identifier=[{"system": MRN, "value": "FP-1"}]))
    )
    assert created is False and same.id == patient.id
    other, created = (
        fhir.resources("Patient")
        .search(identifier=f"{MRN}|FP-2")
        .get_or_create(fhir.resource("Patient", identifier=[{"system": MRN, "value": "FP-2"}]))
    )
    assert created is True and other.id != patient.id
    fhir.resource("Patient", identifier=[{"system": MRN, "value": "FP-2"}]).save()
    with pytest.raises(MultipleResourcesFound):
        fhir.resources("Patient").search(identifier=f"{MRN}|FP-2").get_or_create(
            fhir.resource("Patient", identifier=[{"system": MRN, "value": "FP-2"}])
        )

    patched = fhir.execute(
        f"Patient/{patient.id}",
        method="patch",
        data=[{"op": "replace", "path": "/name/0/family", "value": "Patched"}],
    )
    assert patched["name"][0]["family"] == "Patched" and patched["meta"]["versionId"] == "2"
    with pytest.raises(OperationOutcome):
        fhir.execute(
            f"Patient/{patient.id}", method="patch", data=[{"op": "test", "path": "/id", "value": "x"}]
        )

    history = fhir.execute(f"Patient/{patient.id}/_history", method="get")
    assert [e["response"]["etag"] for e in history["entry"]] == ['W/"2"', 'W/"1"']
    assert fhir.get("Patient", patient.id)["name"][0]["family"] == "Patched"


def test_search_with_paging_and_sort(fhir):
    search = fhir.resources("Observation").search(patient=PAT1).sort("-date", "_id").limit(3)
    first_page = search.fetch()
    assert len(first_page) == 3
    everything = search.fetch_all()  # follows the Bundle's next links
    assert len(everything) == 4 and [o.id for o in everything[:3]] == [o.id for o in first_page]
    dates = [o["effectiveDateTime"] for o in everything]
    assert dates == sorted(dates, reverse=True)
    names = [p["name"][0]["family"] for p in fhir.resources("Patient").sort("family").fetch_all()]
    assert names == sorted(names, key=str.lower)


def test_transaction(fhir):
    urn = "urn:uuid:0b8ac3f1-5c0b-4e6b-9d1a-3f0f1f1f1f1f"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": urn,
                "resource": {"resourceType": "Patient", "name": [{"family": "Tx"}]},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "tx"},
                    "subject": {"reference": urn},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    response = fhir.execute("", method="post", data=bundle)
    assert [e["response"]["status"] for e in response["entry"]] == ["201 Created", "201 Created"]
    patient_id = response["entry"][0]["resource"]["id"]
    found = fhir.resources("Observation").search(subject=f"Patient/{patient_id}").fetch_all()
    assert [o["code"]["text"] for o in found] == ["tx"]
    # a failing entry rolls the whole transaction back
    bundle["entry"][1]["resource"]["status"] = 42
    with pytest.raises(OperationOutcome):
        fhir.execute("", method="post", data=bundle)
    assert len(fhir.resources("Patient").search(family="Tx").fetch_all()) == 1
