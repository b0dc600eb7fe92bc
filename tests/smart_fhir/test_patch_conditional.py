"""PATCH (JSON Patch), conditional create, update and delete, with the token's scopes."""

import pytest

from smart_fhir.models import ResourceVersion, StoredResource

from .conftest import FHIR_JSON, PAT1, PAT2


pytestmark = pytest.mark.django_db

MRN = "http://hospital.example/mrn"


def _patient(family, mrn=None, **extra):
    body = {"resourceType": "Patient", "name": [{"family": family}], **extra}
    if mrn:
        body["identifier"] = [{"system": MRN, "value": mrn}]
    return body


def _unchanged(test):
    """Run ``test`` and assert it wrote nothing."""
    before = (StoredResource.objects.count(), ResourceVersion.objects.count())
    test()
    assert (StoredResource.objects.count(), ResourceVersion.objects.count()) == before


# --- PATCH ---------------------------------------------------------------------------------------
def test_json_patch_updates_a_new_version(clinician):
    patch = [
        {"op": "test", "path": "/id", "value": PAT1},
        {"op": "replace", "path": "/gender", "value": "other"},
        {"op": "add", "path": "/active", "value": True},
    ]
    response = clinician.patch(f"Patient/{PAT1}", patch, HTTP_IF_MATCH='W/"1"')
    assert response.status_code == 200, response.content
    assert response["ETag"] == 'W/"2"' and "Last-Modified" in response
    body = clinician.get(f"Patient/{PAT1}").json()
    assert (body["gender"], body["active"], body["meta"]["versionId"]) == ("other", True, "2")
    # A JSON array sent as application/json is a JSON Patch too (fhirpy sends it that way).
    again = clinician.patch(
        f"Patient/{PAT1}", [{"op": "remove", "path": "/active"}], content_type="application/json"
    )
    assert again.status_code == 200 and "active" not in again.json()


@pytest.mark.parametrize(
    "document, status",
    [
        ({"gender": "other"}, 400),  # not a JSON Patch
        ([{"op": "jump", "path": "/gender"}], 400),
        ([{"op": "replace"}], 400),
        ([{"op": "test", "path": "/gender", "value": "nope"}], 422),
        ([{"op": "replace", "path": "/nothing/here", "value": 1}], 422),
        ([{"op": "replace", "path": "/birthDate", "value": "not a date"}], 422),
        ([{"op": "replace", "path": "/id", "value": "other-id"}], 422),
        ([{"op": "replace", "path": "/resourceType", "value": "Group"}], 422),
    ],
)
def test_bad_patches_are_operation_outcomes_and_change_nothing(clinician, document, status):
    def attempt():
        response = clinician.patch(f"Patient/{PAT1}", document)
        assert response.status_code == status, response.content
        assert response["Content-Type"].startswith(FHIR_JSON)
        assert response.json()["resourceType"] == "OperationOutcome"

    _unchanged(attempt)


def test_a_patch_cannot_grow_the_resource_without_bound(clinician, settings):
    """RFC 6902 ``copy`` can double a resource per operation (an Extension copied into its own
    ``extension``): 40 copies in a 3 KB body would be 2^40 Extensions, minutes of CPU and the
    worker's memory. What copies add is held to MAX_BODY_BYTES (422, nothing written); here
    20 KB, where 12 copies (8191 valid nested Extensions, ~400 KB) are already too many."""
    settings.SMART_FHIR = {**settings.SMART_FHIR, "MAX_BODY_BYTES": 20_000}
    leaf = {"url": "http://example.org/leaf", "valueString": "v"}
    root = {"url": "http://example.org/x", "extension": [leaf]}
    document = [{"op": "add", "path": "/extension", "value": [root]}]
    document += [{"op": "copy", "from": "/extension/0", "path": "/extension/0/extension/-"}] * 12

    def attempt():
        response = clinician.patch(f"Patient/{PAT1}", document)
        assert response.status_code == 422, response.content[:300]
        assert "copies more than" in response.json()["issue"][0]["diagnostics"]

    _unchanged(attempt)


def test_patch_checks_version_scope_and_compartment(api, clinician, issue):
    replace = [{"op": "replace", "path": "/gender", "value": "other"}]
    assert clinician.patch(f"Patient/{PAT1}", replace, HTTP_IF_MATCH='W/"7"').status_code == 412
    assert clinician.patch("Patient/nope", replace).status_code == 404
    reader = issue("openid fhirUser user/*.rs")
    assert api.patch(f"Patient/{PAT1}", replace, token=reader).status_code == 403
    own = issue("openid fhirUser patient/Patient.ru", patient=PAT1)
    assert api.patch(f"Patient/{PAT2}", replace, token=own).status_code == 403
    assert api.patch(f"Patient/{PAT1}", replace, token=own).status_code == 200
    # moving an Observation into another patient's compartment is a write there: refused
    obs = clinician.get(f"Observation?patient={PAT1}&_count=1").json()["entry"][0]["resource"]
    mine = issue("openid fhirUser patient/Observation.ru", patient=PAT1)
    move = [{"op": "replace", "path": "/subject/reference", "value": f"Patient/{PAT2}"}]
    assert api.patch(f"Observation/{obs['id']}", move, token=mine).status_code == 403
    clinician.delete(f"Patient/{PAT1}")
    assert clinician.patch(f"Patient/{PAT1}", replace).status_code == 410


# --- conditional create --------------------------------------------------------------------------
def test_conditional_create_creates_once_then_returns_the_match(clinician):
    first = clinician.post("Patient", _patient("Once", "C-1"), HTTP_IF_NONE_EXIST=f"identifier={MRN}|C-1")
    assert first.status_code == 201
    second = clinician.post("Patient", _patient("Once", "C-1"), HTTP_IF_NONE_EXIST=f"identifier={MRN}|C-1")
    assert second.status_code == 200 and second.json()["id"] == first.json()["id"]
    assert second["ETag"] == 'W/"1"'
    assert clinician.get(f"Patient?identifier={MRN}|C-1").json()["total"] == 1
    # the criteria in the query string (as fhirpy's get_or_create sends them) are read alike
    third = clinician.post(f"Patient?identifier={MRN}|C-1", _patient("Once", "C-1"))
    assert third.status_code == 200 and third.json()["id"] == first.json()["id"]
    # _format is not a criterion: an ordinary create
    assert clinician.post("Patient?_format=json", _patient("Once", "C-1")).status_code == 201


def test_conditional_create_matching_several_is_412(clinician):
    clinician.post("Patient", _patient("Twin", "T-1"))
    clinician.post("Patient", _patient("Twin", "T-1"))

    def attempt():
        response = clinician.post("Patient", _patient("Twin", "T-1"), HTTP_IF_NONE_EXIST="family=twin")
        assert response.status_code == 412 and response.json()["resourceType"] == "OperationOutcome"

    _unchanged(attempt)


def test_conditional_create_needs_the_search_it_implies(api, ehr_data, issue):
    create_only = issue("openid fhirUser user/Patient.c")
    conditional = api.post(
        "Patient", _patient("X", "S-1"), token=create_only, HTTP_IF_NONE_EXIST=f"identifier={MRN}|S-1"
    )
    assert conditional.status_code == 403
    assert api.post("Patient", _patient("X", "S-1"), token=create_only).status_code == 201
    bad = api.post(
        "Patient", _patient("X"), token=issue("openid fhirUser user/Patient.cs"), HTTP_IF_NONE_EXIST="bogus=1"
    )
    assert bad.status_code == 400


# --- conditional update --------------------------------------------------------------------------
def test_conditional_update_creates_updates_or_refuses(clinician):
    created = clinician.put(f"Patient?identifier={MRN}|U-1", _patient("Cond", "U-1"))
    assert created.status_code == 201
    ident = created.json()["id"]
    updated = clinician.put(f"Patient?identifier={MRN}|U-1", _patient("Cond2", "U-1"))
    assert updated.status_code == 200 and updated.json()["id"] == ident
    assert updated.json()["meta"]["versionId"] == "2"
    wrong_id = clinician.put(f"Patient?identifier={MRN}|U-1", {**_patient("C", "U-1"), "id": PAT1})
    assert wrong_id.status_code == 400
    # no match, and the body names an existing resource that does not match: 409
    conflict = clinician.put(f"Patient?identifier={MRN}|U-2", {**_patient("C", "U-2"), "id": PAT1})
    assert conflict.status_code == 409 and conflict.json()["resourceType"] == "OperationOutcome"
    clinician.post("Patient", _patient("Dup", "U-3"))
    clinician.post("Patient", _patient("Dup", "U-3"))
    assert clinician.put(f"Patient?identifier={MRN}|U-3", _patient("Dup", "U-3")).status_code == 412
    assert clinician.put("Patient", _patient("NoCriteria")).status_code == 400


# --- conditional delete --------------------------------------------------------------------------
def test_conditional_delete_deletes_one_and_refuses_several(clinician):
    ident = clinician.post("Patient", _patient("Del", "D-1")).json()["id"]
    assert clinician.delete(f"Patient?identifier={MRN}|D-1").status_code == 204
    assert clinician.get(f"Patient/{ident}").status_code == 410
    assert clinician.delete(f"Patient?identifier={MRN}|D-1").status_code == 204  # no match
    clinician.post("Patient", _patient("Del", "D-2"))
    clinician.post("Patient", _patient("Del", "D-2"))
    several = clinician.delete(f"Patient?identifier={MRN}|D-2")
    assert several.status_code == 412
    assert clinician.get(f"Patient?identifier={MRN}|D-2").json()["total"] == 2
    assert clinician.delete("Patient").status_code == 400
    assert clinician.delete("Patient?bogus=1").status_code == 400


@pytest.mark.parametrize("criteria", ["_id=", "_lastUpdated=", "_id=&_lastUpdated="])
def test_conditional_interactions_need_criteria_with_a_value(api, ehr_data, issue, criteria):
    """An empty ``_id``/``_lastUpdated`` is dropped from a search (FHIR R4 §3.1.1.5), so it is no
    criterion: the conditional delete/update must be a 400, not a match on everything the token
    reaches (a patient token reaches one Patient: its own, which was deleted)."""
    own = issue("openid fhirUser patient/Patient.rud", patient=PAT1)

    def attempt():
        assert api.delete(f"Patient?{criteria}", token=own).status_code == 400
        body = {"resourceType": "Patient", "id": PAT1, "gender": "other"}
        assert api.put(f"Patient?{criteria}", body, token=own).status_code == 400

    _unchanged(attempt)
    assert api.get(f"Patient/{PAT1}", token=own).status_code == 200


def test_conditional_delete_needs_d_and_stays_in_the_compartment(api, clinician, issue):
    reader = issue("openid fhirUser user/Patient.rs")
    assert api.delete(f"Patient?_id={PAT1}", token=reader).status_code == 403
    own = issue("openid fhirUser patient/Observation.rds", patient=PAT1)
    assert api.delete(f"Observation?patient={PAT2}", token=own).status_code == 403
    assert clinician.get(f"Observation?patient={PAT2}").json()["total"] == 4


def test_protected_fields_hold_for_patch_conditional_update_and_transactions(api, ehr_data, issue):
    """PROTECTED_FIELDS (Patient.identifier by default) hold on every write path."""
    own = issue("openid fhirUser patient/Patient.cruds", patient=PAT1)
    rewrite = [{"op": "replace", "path": "/identifier/0/value", "value": "MRN-0002"}]
    assert api.patch(f"Patient/{PAT1}", rewrite, token=own).status_code == 403
    current = api.get(f"Patient/{PAT1}", token=own).json()
    moved = {**current, "identifier": [{"system": MRN, "value": "MRN-0002"}]}
    assert api.put(f"Patient?_id={PAT1}", moved, token=own).status_code == 403
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": moved, "request": {"method": "PUT", "url": f"Patient/{PAT1}"}}],
    }
    assert api.post("", bundle, token=own).status_code == 403
    assert api.get(f"Patient/{PAT1}", token=own).json()["identifier"] == current["identifier"]
    assert (
        api.patch(
            f"Patient/{PAT1}", [{"op": "add", "path": "/gender", "value": "other"}], token=own
        ).status_code
        == 200
    )
