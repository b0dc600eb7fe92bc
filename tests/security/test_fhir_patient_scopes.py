"""Patient scopes never write outside the patient's compartment; resources every patient shares
(Practitioner at the EHR, Endpoint at imaging: viewers fetch images from `Endpoint.address`) are
at most readable under them (SMART App Launch 2.2, "Scopes and Launch Context": patient/ scopes
cover the patient in context). Issue 13, "patient scopes"."""

import copy

import pytest

from smart_fhir.models import ResourceVersion, StoredResource
from smart_fhir.storage import get_storage
from tests.smart_fhir.conftest import PAT1, PAT2, Api, ehr_data, fresh_token_cache, issue  # noqa: F401


def _state():
    return (
        StoredResource.objects.count(),
        ResourceVersion.objects.count(),
        sorted(StoredResource.objects.values_list("resource_type", "logical_id", "version_id")),
    )


def _endpoint(address="https://attacker.example/dicomweb"):
    return {
        "resourceType": "Endpoint",
        "status": "active",
        "connectionType": {"code": "dicom-wado-rs"},
        "payloadType": [{"text": "any"}],
        "address": address,
    }


@pytest.fixture
def shared_resources(ehr_data):  # noqa: F811
    from smart_fhir.demo import imaging_endpoint

    get_storage().update("Endpoint", "dicomweb", imaging_endpoint())


@pytest.fixture(params=["patient", "patient-user"])
def patient_api(request, client, issue, shared_resources):  # noqa: F811
    """A patient-confined token: a launch's patient/*.cruds, or a Patient user's user/*.cruds."""
    if request.param == "patient":
        token = issue("patient/*.cruds", patient=PAT1)
    else:
        token = issue("openid fhirUser user/*.cruds", user="patient")
    return Api(client, token)


@pytest.mark.parametrize(("resource_type", "ident"), [("Practitioner", "prac-1"), ("Endpoint", "dicomweb")])
def test_shared_resources_are_read_only_for_patient_scopes(patient_api, resource_type, ident):
    """SMART 2.2: patient/*.cruds reads a shared Practitioner/Endpoint but creates, updates and
    deletes none (403 OperationOutcome, nothing stored)."""
    current = patient_api.get(f"{resource_type}/{ident}")
    assert current.status_code == 200
    assert patient_api.get(f"{resource_type}?_count=1").status_code == 200
    before = _state()
    changed = copy.deepcopy(current.json())
    if resource_type == "Endpoint":
        changed["address"] = "https://attacker.example/dicomweb"
        created = _endpoint()
    else:
        changed["name"] = [{"family": "Mallory"}]
        created = {"resourceType": "Practitioner", "name": [{"family": "Mallory"}]}
    attempts = [
        patient_api.post(resource_type, created),
        patient_api.put(f"{resource_type}/{ident}", changed),
        patient_api.put(f"{resource_type}/new-{ident}", {**created, "id": f"new-{ident}"}),
        patient_api.delete(f"{resource_type}/{ident}"),
    ]
    attempts += _writes_into_another_compartment(patient_api)
    for response in attempts:
        assert response.status_code == 403, response.content
        assert response.json()["resourceType"] == "OperationOutcome"
    assert _state() == before
    assert patient_api.get(f"{resource_type}/{ident}").json() == current.json()


def _writes_into_another_compartment(api):
    """And, as before, nothing written into another patient's compartment (SMART 2.2)."""
    other_obs = get_storage().search("Observation", {"patient": [PAT2]}).resources[0]
    mine = get_storage().search("Observation", {"patient": [PAT1]}).resources[0]
    stolen = {**mine, "subject": {"reference": f"Patient/{PAT2}"}}
    planted = {k: v for k, v in stolen.items() if k not in ("id", "meta")}
    return [
        api.post("Observation", planted),
        api.put(f"Observation/{other_obs['id']}", {**other_obs, "status": "entered-in-error"}),
        api.put(f"Observation/{mine['id']}", stolen),  # moving my resource into PAT2's compartment
        api.delete(f"Observation/{other_obs['id']}"),
        api.delete(f"Patient/{PAT2}"),
        api.post("Patient", {"resourceType": "Patient", "name": [{"family": "New"}]}),
    ]


@pytest.mark.parametrize("resource_type", ["Condition", "MedicationRequest", "AllergyIntolerance"])
def test_a_patients_type_this_server_cannot_confine_is_refused_not_shared(resource_type):
    """SMART App Launch 2.2 "patient/ scopes": a type in FHIR R4's patient compartment that this
    server has no compartment parameter for (a vendor backend serving Condition) is never read as
    a type every patient shares: patient-confined tokens get no grant for it, not every patient's."""
    from smart_fhir.access import TokenAccess
    from smart_fhir.enforcement import grants_for

    patient = TokenAccess.from_claims({"scope": "patient/*.rs", "patient": "pat-1"}, "http://testserver/fhir")
    assert grants_for(patient, "search-type", resource_type) == []
    assert grants_for(patient, "read", resource_type) == []
    # Shared types stay readable, and the compartment types stay confined to the patient.
    assert grants_for(patient, "read", "Practitioner")
    (observation,) = grants_for(patient, "search-type", "Observation")
    assert observation.patients == frozenset(["pat-1"])
