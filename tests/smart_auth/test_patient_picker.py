"""The standalone-launch patient picker (default PATIENT_CHOICES): search by name, birth date and
identifier, and pages, as plain HTML forms (issue 14)."""

import re

import pytest
from django.test import override_settings

from smart_fhir.storage import get_storage


pytestmark = pytest.mark.django_db
MRN = "http://hospital.example/mrn"
SCOPE = "openid fhirUser launch/patient patient/*.rs"


@pytest.fixture
def patients(db):
    storage = get_storage()
    for n in range(45):
        storage.create(
            "Patient",
            {
                "resourceType": "Patient",
                "id": f"pick-{n:02d}",
                "identifier": [{"system": MRN, "value": f"MRN{n:04d}"}],
                "name": [{"family": f"Family{n:02d}", "given": ["Given"]}],
                "birthDate": f"19{50 + n}-01-0{1 + n % 9}",
            },
        )
    storage.create(
        "Patient",
        {"resourceType": "Patient", "id": "pick-zz", "name": [{"family": "Zebedee", "given": ["Zoe"]}]},
    )


@pytest.fixture
def picker(flow, users, patients):
    """The first picker page for the clinician (the default hook, not the tests' fixed panel)."""
    default_hook = {
        "FHIR_BASE_URLS": ["http://testserver/fhir"],
        "PATIENT_DIRECTORY": "smart_fhir.directory.StoragePatientDirectory",
    }
    with override_settings(SMART_AUTH=default_hook):
        flow.client.force_login(users["clinician"])
        response = flow.authorize(SCOPE)
        yield flow, response


def radios(response):
    return re.findall(r'<input type="radio" name="patient" value="([^"]+)"', response.content.decode())


def search(flow, first, **fields):
    return flow.client.post("/o/authorize/", {"pending": flow.consent_form(first), **fields})


def test_first_page_offers_twenty_and_a_next_page(picker):
    flow, response = picker
    assert len(radios(response)) == 20
    html = response.content.decode()
    assert 'name="page" value="2"' in html and "Previous page" not in html
    assert "<script" not in html


def test_pages_are_disjoint_and_the_last_has_no_next(picker):
    flow, first = picker
    second = search(flow, first, page="2")
    third = search(flow, first, page="3")
    pages = [radios(first), radios(second), radios(third)]
    assert [len(p) for p in pages] == [20, 20, 6]
    assert len(set().union(*pages)) == 46
    assert 'name="page" value="4"' not in third.content.decode()
    assert 'name="page" value="2"' in third.content.decode()  # previous


def test_search_by_name_birthdate_and_identifier(picker):
    flow, first = picker
    assert radios(search(flow, first, name="zebe")) == ["pick-zz"]
    assert radios(search(flow, first, name="family07")) == ["pick-07"]
    assert radios(search(flow, first, birthdate="1957-01-08")) == ["pick-07"]
    assert radios(search(flow, first, identifier=f"{MRN}|MRN0012")) == ["pick-12"]
    assert radios(search(flow, first, identifier="MRN0013")) == ["pick-13"]
    nothing = search(flow, first, name="nobody-like-this")
    assert radios(nothing) == [] and "No patient matches." in nothing.content.decode()
    kept = search(flow, first, name="zebe").content.decode()
    assert 'name="name" value="zebe"' in kept  # the terms stay in the form


def test_a_bad_birth_date_is_a_message_not_an_error(picker):
    flow, first = picker
    response = search(flow, first, birthdate="yesterday")
    assert response.status_code == 200
    assert "Give the birth date as YYYY-MM-DD." in response.content.decode()


def test_a_patient_beyond_the_first_page_can_be_chosen(picker):
    flow, first = picker
    assert "pick-zz" not in radios(first)
    chosen = search(flow, first, patient="pick-zz")
    assert chosen.status_code == 200 and 'name="grant_scope"' in chosen.content.decode()


def test_an_unknown_patient_cannot_be_chosen(picker):
    flow, first = picker
    assert search(flow, first, patient="not-a-patient").status_code == 400


class ListingOnly:
    """A vendor's directory without ``search``: the picker lists, without a search form."""

    def read(self, patient_id):
        return {"resourceType": "Patient", "id": patient_id} if patient_id == "v-1" else None

    def with_identifier(self, system, value):
        return []

    def listing(self, limit):
        return [{"resourceType": "Patient", "id": "v-1", "name": [{"family": "Vendor"}]}]


def test_a_directory_without_search_is_listed_without_a_search_form(flow, users):
    hook = {"FHIR_BASE_URLS": ["http://testserver/fhir"], "PATIENT_DIRECTORY": f"{__name__}.ListingOnly"}
    with override_settings(SMART_AUTH=hook):
        flow.client.force_login(users["clinician"])
        first = flow.authorize(SCOPE)
        assert radios(first) == ["v-1"] and 'name="name"' not in first.content.decode()
        assert search(flow, first, patient="v-1").status_code == 200
