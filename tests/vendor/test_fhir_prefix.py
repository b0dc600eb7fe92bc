"""The FHIR routes mount under any prefix the vendor chooses (issue 14)."""

import pytest
from django.test import override_settings

from tests.smart_fhir.conftest import PAT1


pytestmark = pytest.mark.django_db
BASE = "http://testserver/api/r4"


@override_settings(
    ROOT_URLCONF="tests.vendor.urls_prefixed",
    SMART_FHIR={},  # BASE_URL derived from where the routes are mounted
    SMART_AUTH={"FHIR_BASE_URLS": [BASE]},
)
def test_fhir_api_and_discovery_under_a_custom_prefix(client, ehr_data, backend_client):
    from tests.smart_auth.test_backend_services import request_token

    metadata = client.get("/api/r4/metadata")
    assert metadata.status_code == 200
    assert metadata.json()["implementation"]["url"] == BASE
    discovery = client.get("/api/r4/.well-known/smart-configuration").json()
    assert discovery["token_endpoint"] == "http://testserver/o/token/"

    token = request_token(client, backend_client, scope="system/Patient.rs").json()["access_token"]
    read = client.get(f"/api/r4/Patient/{PAT1}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert read.status_code == 200 and read.json()["id"] == PAT1
    search = client.get("/api/r4/Patient?_count=1", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert search["link"][0]["url"].startswith(f"{BASE}/Patient")
    assert client.get("/fhir/metadata").status_code == 404


def test_total_none_skips_the_total_but_keeps_the_next_link(client, ehr_data, backend_client):
    """FHIR _total=none (the patient picker's searches): no COUNT, paging still works."""
    from tests.smart_auth.test_backend_services import request_token

    token = request_token(client, backend_client, scope="system/Observation.rs").json()["access_token"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    counted = client.get("/fhir/Observation?_count=2", **auth).json()
    bundle = client.get("/fhir/Observation?_count=2&_total=none", **auth).json()
    assert "total" in counted and "total" not in bundle
    assert [link["relation"] for link in bundle["link"]] == ["self", "next"]
    assert len(bundle["entry"]) == 2
    assert client.get("/fhir/Observation?_total=sometimes", **auth).status_code == 400
