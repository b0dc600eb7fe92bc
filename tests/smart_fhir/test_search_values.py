"""Search parameter parsing and value extraction (pure functions, no database)."""

from datetime import UTC, datetime

import pytest

from smart_fhir.search import SearchError, date_range, parse_search, resource_matches


def test_date_precision_ranges():
    assert date_range("2024") == (datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))
    assert date_range("2024-12")[1] == datetime(2025, 1, 1, tzinfo=UTC)
    assert date_range("2024-02-03T10:00:00+02:00")[0] == datetime(2024, 2, 3, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    "params",
    [
        {"unknown": ["x"]},
        {"birthdate": ["not-a-date"]},
        {"birthdate": ["2024-13-01"]},
        {"_count": ["ten"]},
        {"_count": ["-1"]},
        {"_sort": ["gender:text"]},
        {"name:fuzzy": ["x"]},
        {"gender": [""]},
        {"_include": ["Observation:patient"]},
        {"_summary": ["short"]},
        {"_total": ["all"]},
        {"gender:missing": ["maybe"]},
        {"general-practitioner.name.family": ["x"]},
        {"gender.name": ["x"]},
        {"general-practitioner.nope": ["x"]},
    ],
)
def test_malformed_search_parameters_are_refused(params):
    with pytest.raises(SearchError):
        parse_search("Patient", params)


def test_lenient_handling_ignores_unknown_parameters():
    query = parse_search("Patient", {"unknown": ["x"], "gender": ["female"]}, lenient=True)
    assert [c.param for c in query.clauses] == ["gender"]


def test_in_memory_matching_of_tokens_strings_dates_and_references():
    resource = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "category": [{"coding": [{"system": "http://sys", "code": "laboratory"}]}],
        "effectiveDateTime": "2024-05-06T10:00:00Z",
    }
    query = parse_search(
        "Observation",
        {
            "patient": ["p1"],
            "category": ["http://sys|laboratory"],
            "date": ["ge2024-05-01"],
            "status": ["final,amended"],
        },
    )
    assert resource_matches("Observation", resource, query.clauses)
    for other in ({"patient": ["p2"]}, {"category": ["http://other|laboratory"]}, {"date": ["lt2024-05-01"]}):
        assert not resource_matches("Observation", resource, parse_search("Observation", other).clauses)
