"""The demo data set: deterministic, idempotent, consistent across the two deployments."""

import pytest
from django.core.management import call_command

from smart_fhir.demo import DEMO_PRACTITIONER_ID, MRN_SYSTEM, demo_patient_id, load_demo_data
from smart_fhir.models import ResourceVersion
from smart_fhir.storage import get_storage


pytestmark = pytest.mark.django_db


def _identifiers(resources):
    return {
        (i.get("system"), i["value"]) for r in resources for i in r.get("identifier", []) if i.get("system")
    }


def test_command_loads_fifty_patients_and_is_idempotent(capsys):
    call_command("fhir_demo_data", "--role", "ehr")
    versions = ResourceVersion.objects.count()
    call_command("fhir_demo_data", "--role", "ehr")
    assert "nothing new" in capsys.readouterr().out
    assert ResourceVersion.objects.count() == versions
    storage = get_storage()
    assert storage.search("Patient", {"_summary": ["count"]}).total == 50
    assert storage.read("Practitioner", DEMO_PRACTITIONER_ID)["resourceType"] == "Practitioner"
    for category in ("laboratory", "vital-signs"):
        assert storage.search("Observation", {"category": [category], "_summary": ["count"]}).total == 100
    assert storage.search("DiagnosticReport", {"_summary": ["count"]}).total == 100
    assert storage.read("Patient", demo_patient_id("ehr", 1))["identifier"][0] == {
        "system": MRN_SYSTEM,
        "value": "MRN-0001",
    }


def test_both_roles_share_patients_and_studies_under_different_ids():
    load_demo_data("ehr", patients=5)
    ehr = get_storage()
    ehr_patients = ehr.search("Patient", {"_count": ["100"]}).resources
    ehr_studies = ehr.search("ImagingStudy", {"_count": ["100"]}).resources
    ResourceVersion.objects.all().delete()
    from smart_fhir.models import StoredResource

    StoredResource.objects.all().delete()
    load_demo_data("imaging", patients=5)
    img_patients = ehr.search("Patient", {"_count": ["100"]}).resources
    img_studies = ehr.search("ImagingStudy", {"_count": ["100"]}).resources
    assert _identifiers(ehr_patients) == _identifiers(img_patients)
    assert _identifiers(ehr_studies) == _identifiers(img_studies)
    assert {p["id"] for p in ehr_patients}.isdisjoint({p["id"] for p in img_patients})
    assert all(s["endpoint"] == [{"reference": "Endpoint/dicomweb"}] for s in img_studies)
    assert ehr.read("Endpoint", "dicomweb")["address"].startswith("https://")
    assert demo_patient_id("ehr", 1) != demo_patient_id("imaging", 1)
