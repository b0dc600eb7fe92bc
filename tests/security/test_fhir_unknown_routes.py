"""Unknown routes and operations under the FHIR base answer an OperationOutcome in
application/fhir+json, never Django's text/html page (FHIR R4 §3.1.0.4; issue 13 "FHIR 404s")."""

import pytest

from smart_fhir.models import StoredResource
from tests.smart_fhir.conftest import FHIR_JSON, PAT1, Api, ehr_data, fresh_token_cache, issue  # noqa: F401


@pytest.fixture
def api(client, issue, ehr_data):  # noqa: F811
    return Api(client, issue("openid fhirUser user/*.cruds"))


UNKNOWN = [
    f"Patient/{PAT1}/$no-such-operation",
    f"Patient/{PAT1}/Observation/extra/segments",
    "_no_such_thing",
    "Patient/bad id!",
    "$no-such-system-operation",
    "Observation/_history/1/2/3",
]


@pytest.mark.parametrize("path", UNKNOWN)
@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
def test_unknown_routes_are_404_operation_outcomes(api, path, method):
    """FHIR R4 §3.1.0.4: a 404 is an OperationOutcome (not-found), whatever the method."""
    before = StoredResource.objects.count()
    if method in ("post", "put"):
        response = getattr(api, method)(path, {"resourceType": "Patient"})
    else:
        response = getattr(api, method)(path)
    assert response.status_code == 404, response.content[:200]
    assert response["Content-Type"].startswith(FHIR_JSON)
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.json()["issue"][0]["code"] == "not-found"
    assert StoredResource.objects.count() == before


@pytest.mark.parametrize(
    "path", [f"Patient/{PAT1}/Observation", f"Patient/{PAT1}/$everything", "Observation/_history"]
)
def test_the_routes_from_the_report_never_answer_html(api, path):
    """These may become real interactions (compartment search, type history); until then, and
    for every error they answer, the answer is FHIR JSON."""
    response = api.get(path)
    assert response["Content-Type"].startswith(FHIR_JSON)
    if response.status_code >= 400:
        assert response.json()["resourceType"] == "OperationOutcome"


def test_unknown_routes_need_no_token_to_be_refused_in_fhir(client):
    """FHIR R4 §3.1.0.4, also before any token check; the discovery documents still answer."""
    response = client.get("/fhir/Patient/x/$everything")
    assert response.status_code == 404
    assert response["Content-Type"].startswith(FHIR_JSON)
    # The catch-all comes last: /metadata and .well-known/smart-configuration still answer.
    assert client.get("/fhir/metadata").json()["resourceType"] == "CapabilityStatement"
    assert "token_endpoint" in client.get("/fhir/.well-known/smart-configuration").json()
