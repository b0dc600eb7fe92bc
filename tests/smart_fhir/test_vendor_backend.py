"""The storage interface as a vendor uses it: the worked example of docs/smart_fhir.md, run."""

import pytest

from smart_fhir.search import resource_matches
from smart_fhir.storage import Entry, SearchResult, StorageBackend, get_storage, grant_allows

from .conftest import FakeIssuer


PEOPLE = {
    "1": {"mrn": "MRN-0001", "surname": "Ng", "forename": "Ada", "sex": "F", "dob": "1980-02-03"},
    "2": {"mrn": "MRN-0002", "surname": "Okafor", "forename": "Ben", "sex": "M", "dob": "1975-06-07"},
}


def as_fhir(pk, person):
    return {
        "resourceType": "Patient",
        "id": pk,
        "identifier": [{"system": "http://hospital.example/mrn", "value": person["mrn"]}],
        "name": [{"family": person["surname"], "given": [person["forename"]]}],
        "gender": {"F": "female", "M": "male"}[person["sex"]],
        "birthDate": person["dob"],
    }


class PersonStorage(StorageBackend):
    """Read-only Patients from a vendor's own table (a dict here)."""

    resource_types = frozenset({"Patient"})
    # smart_fhir's in-memory matcher handles these modifiers; no _sort, _include or chaining.
    search_features = frozenset({"exact", "contains", "missing"})

    def read_entry(self, resource_type, resource_id):
        person = PEOPLE.get(resource_id) if resource_type == "Patient" else None
        return Entry("Patient", resource_id, _resource=as_fhir(resource_id, person)) if person else None

    def run_search(self, query, grants=None):
        entries = [Entry("Patient", pk, _resource=as_fhir(pk, p)) for pk, p in sorted(PEOPLE.items())]
        entries = [e for e in entries if resource_matches("Patient", e.resource, query.clauses)]
        if grants is not None:
            entries = [e for e in entries if any(grant_allows(g, e) for g in grants)]
        return SearchResult(entries=entries[query.offset : query.offset + query.count], total=len(entries))


@pytest.fixture
def vendor(settings):
    issuer = FakeIssuer()
    settings.SMART_FHIR = {
        **settings.SMART_FHIR,
        "STORAGE_BACKEND": f"{__name__}.PersonStorage",
        "RESOURCE_TYPES": ["Patient"],
        "READ_ONLY": True,
        "TRUSTED_ISSUERS": [{"issuer": issuer.issuer, "jwks": issuer.key.jwks}],
    }
    return issuer


def test_vendor_backend_serves_reads_and_searches_with_enforcement(api, vendor, db):
    """SMART 2.2 patient/ scopes hold whatever the storage backend is."""
    assert isinstance(get_storage(), PersonStorage)
    token = vendor.token("patient/Patient.rs", patient="1", sub="u")
    assert api.get("Patient/1", token=token).json()["name"][0]["family"] == "Ng"
    assert api.get("Patient/2", token=token).status_code == 403
    assert api.get("Patient?identifier=MRN-0002", token=token).status_code == 200
    assert api.get("Patient?identifier=MRN-0002", token=token).json()["total"] == 0
    assert api.get("Patient?_id=2", token=token).status_code == 403
    everyone = vendor.token("user/Patient.rs", sub="u", fhirUser="Practitioner/p")
    assert api.get("Patient?family=oka", token=everyone).json()["total"] == 1
    assert api.delete("Patient/1", token=everyone).status_code == 405
