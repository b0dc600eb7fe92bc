"""The hand-written compartment search SQL returns what the ORM query does."""

import pytest

from smart_fhir.search import parse_search
from smart_fhir.storage import Grant, get_storage
from smart_fhir.storage.orm import OrmStorage

from .conftest import PAT1, PAT2


pytestmark = pytest.mark.django_db

SEARCHES = [
    ("ImagingStudy", {"patient": [PAT1]}),
    ("ImagingStudy", {"subject": [f"Patient/{PAT1}"]}),
    ("ImagingStudy", {"patient": [f"{PAT1},{PAT2}"]}),
    ("ImagingStudy", {"patient": [PAT1, PAT2]}),  # both at once: nothing
    ("ImagingStudy", {"patient": [PAT1], "_count": ["1"], "_offset": ["1"]}),
    ("ImagingStudy", {"patient": [PAT1], "_count": ["1"], "_offset": ["99"]}),
    ("ImagingStudy", {}),
    ("Observation", {"patient": [PAT1]}),
    ("Observation", {"patient": [PAT1], "_sort": ["-date"]}),
    ("Observation", {"patient": [PAT1], "_sort": ["code,-_id"]}),
    ("Observation", {"patient": [PAT1, PAT2], "_sort": ["date"]}),
    ("Observation", {"_sort": ["-_lastUpdated"], "_count": ["3"], "_offset": ["2"]}),
    ("ImagingStudy", {"patient": [f"{PAT1},{PAT2}"], "_sort": ["-started,modality"]}),
    ("ImagingStudy", {"patient": [PAT1], "_sort": ["status,-_id"]}),
    ("Observation", {"patient": [PAT1], "_sort": ["date,code"]}),
    ("Observation", {"patient": [PAT1], "_sort": ["-code,-date"]}),
    ("Encounter", {"patient": [PAT1], "_sort": ["class"]}),
    ("Patient", {"_id": [PAT1]}),  # not this path
    (
        "Observation",
        {"patient": [PAT1], "_sort": ["-date"], "_include": ["Observation:encounter"]},
    ),  # not this
]
GRANTS = [
    None,
    [Grant(frozenset([PAT1]), ())],
    [Grant(frozenset([PAT2]), ()), Grant(frozenset([PAT1]), ())],
    [Grant(frozenset(), ())],
    [Grant(None, ())],
]


def _rows(result):
    entries = [(e.resource_id, e.version_id, e.deleted, e.compartment, e.text) for e in result.entries]
    return result.total, entries


@pytest.mark.parametrize("resource_type,params", SEARCHES)
def test_compartment_sql_matches_the_orm(ehr_data, monkeypatch, resource_type, params):
    storage = get_storage()
    assert isinstance(storage, OrmStorage)
    storage.delete("ImagingStudy", next(e.resource_id for e in _any_studies(storage)))
    # sort keys some rows lack (NULLS LAST on both paths)
    undated = {"resourceType": "Observation", "status": "final", "code": {"text": "no date, no coding"}}
    storage.create("Observation", {**undated, "subject": {"reference": f"Patient/{PAT1}"}})
    for grants in GRANTS:
        query = parse_search(resource_type, params)
        fast = storage.run_search(query, grants)
        with monkeypatch.context() as patch:
            patch.setattr(OrmStorage, "_compartment_page", lambda self, query, grants: None)
            slow = storage.run_search(query, grants)
        assert _rows(fast) == _rows(slow), (params, grants)


def _any_studies(storage):
    return storage.run_search(parse_search("ImagingStudy", {"patient": [PAT1]}), None).entries


def test_patient_searches_take_the_sql_path(ehr_data):
    storage = get_storage()
    for resource_type in ("ImagingStudy", "Observation"):
        query = parse_search(resource_type, {"patient": [PAT1]})
        assert storage._compartment_page(query, [Grant(frozenset([PAT1]), ())])
    assert storage._compartment_page(
        parse_search("Observation", {"patient": [PAT1], "_sort": ["-date"]}), None
    )
    assert storage._compartment_page(parse_search("Patient", {"_id": [PAT1]}), None) is None
