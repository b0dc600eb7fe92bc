"""Search as FHIR R4 §3.1.1 describes it: compartments, chains, _sort, _elements, _summary,
_total, modifiers, date prefixes, tokens, strict/lenient handling and the links that follow."""

from urllib.parse import parse_qs, urlsplit

import pytest
from fhir.resources.R4B.bundle import Bundle

from .conftest import PAT1, PAT2


pytestmark = pytest.mark.django_db

SYS = "http://example.org/ids"


def _ids(response):
    assert response.status_code == 200, response.content
    return [e["resource"]["id"] for e in response.json().get("entry", []) if e["search"]["mode"] == "match"]


@pytest.fixture
def people(clinician):
    """Patients whose names, birth dates and identifiers the tests choose."""
    rows = [
        ("sp-1", "McDonald", "Ann", "1970-01-05", "A-1", "female"),
        ("sp-2", "Mcdonald", "Bea", "1980-06-15", "A-2", "male"),
        ("sp-3", "O'Brien", "Cal", "1990-12-31", "B-1", None),
        ("sp-4", "Zúñiga", "Dee", "2000-03-01", "B-2", "female"),
    ]
    for ident, family, given, born, value, gender in rows:
        body = {
            "resourceType": "Patient",
            "id": ident,
            "name": [{"family": family, "given": [given]}],
            "birthDate": born,
            "identifier": [{"system": SYS, "value": value}],
        }
        if gender:
            body["gender"] = gender
        assert clinician.put(f"Patient/{ident}", body).status_code == 201
    return clinician


def test_compartment_search(clinician, api, issue):
    compartment = clinician.get(f"Patient/{PAT1}/Observation?category=laboratory")
    assert compartment.json()["total"] == 2
    assert _ids(compartment) == _ids(clinician.get(f"Observation?patient={PAT1}&category=laboratory"))
    self_link = compartment.json()["link"][0]["url"]
    assert self_link == f"http://testserver/fhir/Patient/{PAT1}/Observation?category=laboratory"
    assert _ids(clinician.get(f"Patient/{PAT1}/Patient")) == [PAT1]
    assert clinician.get(f"Patient/{PAT1}/Practitioner").status_code == 400
    assert clinician.get(f"Patient/{PAT1}/Observation?patient={PAT2}").status_code == 400
    own = issue("openid fhirUser patient/*.rs", patient=PAT1)
    assert api.get(f"Patient/{PAT1}/Encounter", token=own).json()["total"] == 2
    assert api.get(f"Patient/{PAT2}/Encounter", token=own).status_code == 403


def test_chained_parameters_one_level(people):
    people.post(
        "Observation",
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": "Patient/sp-3"},
        },
    )
    assert len(_ids(people.get("Observation?subject.family=o'brien"))) == 1
    assert len(_ids(people.get("Observation?subject:Patient.identifier=B-1"))) == 1
    assert len(_ids(people.get("Observation?patient.family=nobody"))) == 0
    assert len(_ids(people.get("Observation?patient.identifier=MRN-0001"))) == 4
    assert people.get("Observation?subject.organization.name=x").status_code == 400


def test_sort_ascending_descending_and_by_several_keys(people):
    by_birth = _ids(
        people.get(f"Patient?identifier={SYS}|A-1,{SYS}|A-2,{SYS}|B-1,{SYS}|B-2&_sort=-birthdate")
    )
    assert by_birth == ["sp-4", "sp-3", "sp-2", "sp-1"]
    by_family = _ids(people.get("Patient?_id=sp-1,sp-2,sp-3,sp-4&_sort=family,-given"))
    assert by_family == ["sp-2", "sp-1", "sp-3", "sp-4"]  # mcdonald (Bea before Ann), o'brien, zuniga
    assert _ids(people.get("Patient?_id=sp-1,sp-2,sp-3&_sort=-_id")) == ["sp-3", "sp-2", "sp-1"]
    assert people.get("Patient?_sort=general-practitioner").status_code == 400


def test_elements_and_summary(people):
    elements = people.get("Patient?_id=sp-1&_elements=birthDate").json()["entry"][0]["resource"]
    assert set(elements) == {"resourceType", "id", "meta", "birthDate"}
    assert elements["meta"]["tag"][0]["code"] == "SUBSETTED"
    summary = people.get("Patient?_id=sp-1&_summary=true").json()
    Bundle.model_validate(summary)
    resource = summary["entry"][0]["resource"]
    assert {"name", "birthDate", "identifier", "gender"} <= set(resource) and "text" not in resource
    observation = people.get(f"Observation?patient={PAT1}&_count=1&_summary=true").json()["entry"][0][
        "resource"
    ]
    assert "category" not in observation and observation["code"] and observation["valueQuantity"]
    text = people.get(f"Observation?patient={PAT1}&_count=1&_summary=text").json()["entry"][0]["resource"]
    assert set(text) <= {"resourceType", "id", "meta", "text", "status", "code"} and "status" in text
    data = people.get(f"Observation?patient={PAT1}&_count=1&_summary=data").json()["entry"][0]["resource"]
    assert "text" not in data and "category" in data
    count = people.get("Patient?_summary=count").json()
    assert count["total"] == 7 and "entry" not in count


def test_total_none_and_accurate(people):
    assert "total" not in people.get("Patient?_total=none").json()
    assert people.get("Patient?_total=accurate&_count=1").json()["total"] == 7
    assert people.get("Patient?_total=sometimes").status_code == 400


def test_string_modifiers_exact_contains_missing(people):
    assert _ids(people.get("Patient?family=mcd&_sort=_id")) == ["sp-1", "sp-2"]
    assert _ids(people.get("Patient?family:exact=McDonald")) == ["sp-1"]
    assert _ids(people.get("Patient?family:exact=Mcdonald")) == ["sp-2"]
    assert _ids(people.get("Patient?family:exact=mcdonald")) == []
    assert _ids(people.get("Patient?family:exact=Zúñiga")) == ["sp-4"]
    assert _ids(people.get("Patient?family:contains=brie")) == ["sp-3"]
    assert _ids(people.get("Patient?family=zuniga")) == ["sp-4"]  # accent-insensitive
    assert _ids(people.get(f"Patient?identifier={SYS}|&gender:missing=true")) == ["sp-3"]
    assert set(_ids(people.get(f"Patient?identifier={SYS}|&gender:missing=false"))) == {
        "sp-1",
        "sp-2",
        "sp-4",
    }
    assert people.get("Patient?gender:exact=female").status_code == 400


def test_date_prefixes(people):
    within = f"identifier={SYS}|"
    assert _ids(people.get(f"Patient?{within}&birthdate=1980-06-15")) == ["sp-2"]
    assert _ids(people.get(f"Patient?{within}&birthdate=1980")) == ["sp-2"]
    assert _ids(people.get(f"Patient?{within}&birthdate=gt1980-06-15&_sort=_id")) == ["sp-3", "sp-4"]
    assert _ids(people.get(f"Patient?{within}&birthdate=ge1980-06-15&_sort=_id")) == ["sp-2", "sp-3", "sp-4"]
    assert _ids(people.get(f"Patient?{within}&birthdate=lt1980-06-15")) == ["sp-1"]
    assert _ids(people.get(f"Patient?{within}&birthdate=le1980-06-15&_sort=_id")) == ["sp-1", "sp-2"]
    assert _ids(people.get(f"Patient?{within}&birthdate=ne1980-06-15&_sort=_id")) == ["sp-1", "sp-3", "sp-4"]
    assert _ids(people.get(f"Patient?{within}&birthdate=sa1990-12-31")) == ["sp-4"]
    assert _ids(people.get(f"Patient?{within}&birthdate=eb1970-01-06")) == ["sp-1"]
    assert _ids(people.get(f"Patient?{within}&birthdate=ge1975&birthdate=lt1995&_sort=_id")) == [
        "sp-2",
        "sp-3",
    ]


def test_token_system_and_code(people):
    assert _ids(people.get(f"Patient?identifier={SYS}|A-1")) == ["sp-1"]
    assert _ids(people.get("Patient?identifier=http://elsewhere|A-1")) == []
    assert _ids(people.get("Patient?identifier=A-1")) == ["sp-1"]
    assert len(_ids(people.get(f"Patient?identifier={SYS}|"))) == 4
    assert _ids(people.get("Patient?identifier=|A-1")) == []  # |code: no system


def test_strict_and_lenient_handling_and_the_self_link(people):
    strict = people.get("Patient?family=mcd&unknown=1", HTTP_PREFER="handling=strict")
    assert strict.status_code == 400 and strict.json()["resourceType"] == "OperationOutcome"
    assert people.get("Patient?family=mcd&unknown=1").status_code == 400  # strict by default
    lenient = people.get("Patient?family=mcd&unknown=1&_count=1&_sort=_id", HTTP_PREFER="handling=lenient")
    body = lenient.json()
    assert body["total"] == 2 and _ids(lenient) == ["sp-1"]
    links = {link["relation"]: link["url"] for link in body["link"]}
    assert "unknown" not in links["self"] and "unknown" not in links["next"]
    assert parse_qs(urlsplit(links["next"]).query) == {
        "family": ["mcd"],
        "_count": ["1"],
        "_sort": ["_id"],
        "_offset": ["1"],
    }


def test_paging_agrees_with_total(people):
    seen, path, pages = [], "Patient?_count=2&_sort=-_id", 0
    first = people.get(path).json()
    total, body = first["total"], first
    while True:
        pages += 1
        seen += [e["resource"]["id"] for e in body.get("entry", [])]
        following = [link["url"] for link in body["link"] if link["relation"] == "next"]
        if not following:
            break
        body = people.get(following[0].removeprefix("http://testserver/fhir/")).json()
        assert body["total"] == total
    assert len(seen) == total == len(set(seen)) == 7 and pages == 4
    assert seen == sorted(seen, reverse=True)


def test_count_zero_gives_the_total_and_no_next_link(people):
    body = people.get("Patient?_count=0").json()
    assert body["total"] == 7 and "entry" not in body
    assert [link["relation"] for link in body["link"]] == ["self"]
    history = people.get("Patient/_history?_count=0").json()
    assert [link["relation"] for link in history["link"]] == ["self"]
