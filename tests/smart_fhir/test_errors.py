"""Every error of the FHIR API is an OperationOutcome in application/fhir+json with its status."""

import pytest

from .conftest import FHIR_JSON, PAT1


pytestmark = pytest.mark.django_db


def _patient(**extra):
    return {"resourceType": "Patient", **extra}


CASES = [
    # (status, method, path, body, content type, headers)
    (400, "get", "Patient?birthdate=soon", None, None, {}),
    (400, "post", "Patient", "{broken", FHIR_JSON, {}),
    (404, "get", "Patient/nobody", None, None, {}),
    (404, "get", "Medication/x", None, None, {}),
    (405, "delete", "Patient/_history", None, None, {}),
    (405, "post", f"Patient/{PAT1}", _patient(), FHIR_JSON, {}),
    (406, "get", f"Patient/{PAT1}?_format=xml", None, None, {}),
    (406, "get", f"Patient/{PAT1}", None, None, {"HTTP_ACCEPT": "application/fhir+xml"}),
    (409, "put", "Patient?identifier=none-such", _patient(id=PAT1), FHIR_JSON, {}),
    (412, "put", f"Patient/{PAT1}", _patient(id=PAT1), FHIR_JSON, {"HTTP_IF_MATCH": 'W/"5"'}),
    (415, "post", "Patient", "resourceType=Patient", "text/plain", {}),
    (415, "patch", f"Patient/{PAT1}", "[]", "text/plain", {}),
    (
        422,
        "patch",
        f"Patient/{PAT1}",
        [{"op": "remove", "path": "/nothing"}],
        "application/json-patch+json",
        {},
    ),
]


@pytest.mark.parametrize("status, method, path, body, content_type, headers", CASES)
def test_error_statuses_are_fhir_operation_outcomes(
    clinician, status, method, path, body, content_type, headers
):
    call = getattr(clinician, method)
    if body is None:
        response = call(path, **headers)
    else:
        response = call(path, body, content_type=content_type, **headers)
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(FHIR_JSON)
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["severity"] == "error"


def test_gone_after_delete(clinician):
    clinician.delete(f"Patient/{PAT1}")
    response = clinician.get(f"Patient/{PAT1}")
    assert response.status_code == 410 and response.json()["resourceType"] == "OperationOutcome"
