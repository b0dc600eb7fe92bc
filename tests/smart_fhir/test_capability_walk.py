"""/metadata lists exactly what answers: walk the CapabilityStatement and exercise every entry,
with the default backend and with the vendor example backend (docs/smart_fhir.md)."""

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from .conftest import PAT1
from .test_vendor_backend import vendor  # noqa: F401 - the vendor backend fixture


pytestmark = pytest.mark.django_db

MINIMAL = {
    "Patient": {"resourceType": "Patient"},
    "Practitioner": {"resourceType": "Practitioner"},
    "Encounter": {"resourceType": "Encounter", "status": "planned", "class": {"code": "AMB"}},
    "Observation": {"resourceType": "Observation", "status": "final", "code": {"text": "walk"}},
    "DiagnosticReport": {"resourceType": "DiagnosticReport", "status": "final", "code": {"text": "walk"}},
    "ImagingStudy": {
        "resourceType": "ImagingStudy",
        "status": "available",
        "subject": {"reference": "Patient/x"},
    },
    "Endpoint": {
        "resourceType": "Endpoint",
        "status": "active",
        "connectionType": {"code": "dicom-wado-rs"},
        "payloadType": [{"text": "DICOM"}],
        "address": "https://pacs.example/wado",
    },
}
VALUES = {"token": "walk", "string": "walk", "date": "ge2020-01-01", "reference": "Patient/x"}
ALL_INTERACTIONS = {
    "read",
    "vread",
    "history-instance",
    "history-type",
    "search-type",
    "create",
    "update",
    "patch",
    "delete",
}


def _ok(response, *statuses):
    assert response.status_code in (statuses or (200,)), (response.status_code, response.content[:300])
    return response


def walk(api, existing):
    """Exercise every entry of the statement; ``existing``: an id per type for instance-level
    interactions when the server cannot create one. Returns what was exercised."""
    statement = _ok(api.get("metadata")).json()
    CapabilityStatement.model_validate(statement)
    rest = statement["rest"][0]
    done = []
    for resource in rest["resource"]:
        kind = resource["type"]
        codes = [i["code"] for i in resource["interaction"]]
        ident = existing.get(kind)
        if "create" in codes:
            created = _ok(api.post(kind, MINIMAL[kind]), 201)
            ident = created.json()["id"]
            done.append((kind, "create"))
            if resource["conditionalCreate"]:
                again = api.post(kind, MINIMAL[kind], HTTP_IF_NONE_EXIST=f"_id={ident}")
                assert _ok(again).json()["id"] == ident
                done.append((kind, "conditionalCreate"))
        for code in codes:
            if code == "read":
                _ok(api.get(f"{kind}/{ident}"))
            elif code == "vread":
                _ok(api.get(f"{kind}/{ident}/_history/1"))
            elif code == "history-instance":
                assert _ok(api.get(f"{kind}/{ident}/_history")).json()["type"] == "history"
            elif code == "history-type":
                assert _ok(api.get(f"{kind}/_history")).json()["type"] == "history"
            elif code == "search-type":
                assert _ok(api.get(kind)).json()["type"] == "searchset"
            elif code == "update":
                current = api.get(f"{kind}/{ident}").json()
                version = current["meta"]["versionId"]
                if resource["versioning"] == "versioned-update":
                    _ok(api.put(f"{kind}/{ident}", current, HTTP_IF_MATCH='W/"999"'), 412)
                _ok(api.put(f"{kind}/{ident}", current, HTTP_IF_MATCH=f'W/"{version}"'))
            elif code == "patch":
                assert "application/json-patch+json" in statement["patchFormat"]
                _ok(api.patch(f"{kind}/{ident}", [{"op": "add", "path": "/language", "value": "en"}]))
            done.append((kind, code))
        if resource.get("conditionalUpdate"):
            _ok(api.put(f"{kind}?_id={ident}", {**api.get(f"{kind}/{ident}").json()}))
            done.append((kind, "conditionalUpdate"))
        for param in resource.get("searchParam", []):
            name, kind_of = param["name"], param["type"]
            _ok(api.get(f"{kind}?{name}={VALUES[kind_of]}"))
            notes = param.get("documentation", "")
            for modifier in ("exact", "contains", "missing"):
                if f":{modifier}" in notes:
                    _ok(api.get(f"{kind}?{name}:{modifier}={'true' if modifier == 'missing' else 'walk'}"))
            if "chaining" in notes:
                _ok(api.get(f"{kind}?{name}._id=walk"))
            done.append((kind, name))
        if "_sort" in resource.get("documentation", ""):
            _ok(api.get(f"{kind}?_sort=-_lastUpdated"))
        for include in resource.get("searchInclude", []):
            _ok(api.get(f"{kind}?_include={include}"))
            done.append((kind, include))
        for include in resource.get("searchRevInclude", []):
            _ok(api.get(f"{kind}?_revinclude={include}"))
            done.append((kind, include))
        # what is not listed answers 405 (interactions) or 400 (search features)
        for code in ALL_INTERACTIONS - set(codes):
            response = _unlisted(api, kind, code, ident or "1")
            assert response.status_code == 405, (kind, code, response.status_code)
            assert response.json()["resourceType"] == "OperationOutcome"
        if "delete" in codes:
            _ok(api.delete(f"{kind}/{ident}"), 204)
            _ok(api.get(f"{kind}/{ident}"), 410)
            done.append((kind, "delete"))
            if resource["conditionalDelete"] != "not-supported":
                _ok(api.delete(f"{kind}?_id={ident}"), 204)
    for interaction in rest.get("interaction", []):
        kind = interaction["code"]
        bundle = {
            "resourceType": "Bundle",
            "type": kind,
            "entry": [{"request": {"method": "GET", "url": "Patient"}}],
        }
        assert _ok(api.post("", bundle)).json()["type"] == f"{kind}-response"
        done.append(("system", kind))
    for compartment in rest.get("compartment", []):
        assert compartment == "http://hl7.org/fhir/CompartmentDefinition/patient"
        for member in {r["type"] for r in rest["resource"]} - {"Patient", "Practitioner", "Endpoint"}:
            _ok(api.get(f"Patient/{existing.get('Patient', PAT1)}/{member}"))
        done.append(("system", "compartment"))
    return statement, done


def _unlisted(api, kind, code, ident):
    calls = {
        "read": lambda: api.get(f"{kind}/{ident}"),
        "vread": lambda: api.get(f"{kind}/{ident}/_history/1"),
        "history-instance": lambda: api.get(f"{kind}/{ident}/_history"),
        "history-type": lambda: api.get(f"{kind}/_history"),
        "search-type": lambda: api.get(kind),
        "create": lambda: api.post(kind, MINIMAL[kind]),
        "update": lambda: api.put(f"{kind}/{ident}", {**MINIMAL[kind], "id": ident}),
        "patch": lambda: api.patch(f"{kind}/{ident}", [{"op": "add", "path": "/language", "value": "en"}]),
        "delete": lambda: api.delete(f"{kind}/{ident}"),
    }
    return calls[code]()


def test_default_backend_statement_lists_exactly_what_answers(clinician):
    statement, done = walk(clinician, {"Patient": PAT1})
    rest = statement["rest"][0]
    assert {r["type"] for r in rest["resource"]} == set(MINIMAL)
    assert ("Patient", "patch") in done and ("Observation", "history-type") in done
    assert ("system", "transaction") in done and ("system", "compartment") in done
    assert ("ImagingStudy", "ImagingStudy:endpoint") in done and ("Patient", "Observation:patient") in done


def test_vendor_backend_statement_lists_only_reads_and_searches(api, vendor):  # noqa: F811
    token = vendor.token("user/Patient.cruds", sub="u", fhirUser="Practitioner/p")
    statement, done = walk(api.with_token(token), {"Patient": "1"})
    patient = statement["rest"][0]["resource"][0]
    assert [i["code"] for i in patient["interaction"]] == ["read", "search-type"]
    assert patient["readHistory"] is False and patient["conditionalCreate"] is False
    assert "searchInclude" not in patient and "_sort" not in patient.get("documentation", "")
    assert [i["code"] for i in statement["rest"][0]["interaction"]] == ["batch"]
    # search features the vendor's storage does not honour are refused, not silently ignored
    authed = api.with_token(token)
    assert authed.get("Patient?_sort=family").status_code == 400
    assert authed.get("Patient?general-practitioner.name=x").status_code == 400
    lenient = authed.get(
        "Patient?_sort=family&family=ng&general-practitioner.name=x", HTTP_PREFER="handling=lenient"
    ).json()
    assert lenient["total"] == 1
    assert lenient["link"][0]["url"] == "http://testserver/fhir/Patient?family=ng"
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": []}
    assert authed.post("", transaction).status_code == 405
