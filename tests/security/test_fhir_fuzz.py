"""Fuzzing FHIR search parameters (Hypothesis, a bounded number of examples, no deadline): every
answer is a Bundle or an OperationOutcome in application/fhir+json, never a 5xx, and a search
changes nothing (FHIR R4 §3.1.0.4, §3.1.1; issue 13 "fuzz")."""

from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from smart_fhir.models import ResourceVersion, SearchValue, StoredResource
from smart_fhir.search import SEARCH_PARAMETERS
from tests.smart_fhir.conftest import FHIR_JSON, Api, ehr_data, fresh_token_cache, issue  # noqa: F401


NAMES = sorted({name for params in SEARCH_PARAMETERS.values() for name in params}) + [
    "_id",
    "_lastUpdated",
    "_count",
    "_offset",
    "_sort",
    "_include",
    "_revinclude",
    "_summary",
    "_total",
    "_elements",
    "_format",
]
MODIFIERS = ["", ":exact", ":contains", ":missing", ":not", ":text", ":Patient", ":identifier.x"]
SPECIAL = [
    "",
    ",",
    "\\,",
    "|",
    "a|",
    "|b",
    "Patient/",
    "Patient/pat-1",
    "http://x/Patient/pat-1/_history/1",
    "ge2024",
    "eb2024-13-40",
    "2024-02-30T25:61:61Z",
    "10" * 15,
    "-1",
    "1e400",
    "NaN",
    "Observation:patient",
    "Observation:patient:Patient",
    "*",
    "count",
    "true",
    "-_id,date,-status",
    "%00",
    "\x00",
    "'; DROP TABLE smart_fhir_storedresource; --",
]
TYPES = ["Patient", "Observation", "ImagingStudy", "Encounter", "DiagnosticReport", "Practitioner"]

values = st.one_of(
    st.sampled_from(SPECIAL),
    st.text(max_size=40),
    st.lists(st.sampled_from(SPECIAL + ["x", "pat-1", "CT"]), min_size=1, max_size=30).map(",".join),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)
keys = st.one_of(
    st.tuples(st.sampled_from(NAMES), st.sampled_from(MODIFIERS)).map("".join),
    st.text(min_size=1, max_size=20),
)
queries = st.lists(st.tuples(keys, values), max_size=8)


def _state():
    return (StoredResource.objects.count(), ResourceVersion.objects.count(), SearchValue.objects.count())


@pytest.fixture
def api(client, issue, ehr_data):  # noqa: F811
    return Api(client, issue("openid fhirUser user/*.rs"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    resource_type=st.sampled_from(TYPES),
    pairs=queries,
    how=st.sampled_from(["get", "get-json", "post-search", "lenient"]),
)
# The inputs of the report, always tried besides what Hypothesis draws.
@example(resource_type="Observation", pairs=[("_offset", "1" + "0" * 20)], how="get")
@example(resource_type="Observation", pairs=[("_offset", "1" + "0" * 20)], how="get-json")
@example(resource_type="Observation", pairs=[("code", ",".join(map(str, range(2000))))], how="get")
@example(resource_type="Observation", pairs=[("date", "9999-12-31T23:59:59-14:00")], how="post-search")
def test_search_parameters_never_5xx_and_change_nothing(api, resource_type, pairs, how):
    """FHIR R4 §3.1.1 (search) and §3.1.0.4 (errors): a Bundle or an OperationOutcome, no 5xx."""
    before = _state()
    query = urlencode(pairs)
    if how == "post-search":
        response = api.client.post(
            f"/fhir/{resource_type}/_search",
            query,
            content_type="application/x-www-form-urlencoded",
            HTTP_AUTHORIZATION=f"Bearer {api.token}",
        )
    else:
        extra = {"HTTP_ACCEPT": "application/json"} if how == "get-json" else {}
        if how == "lenient":
            extra["HTTP_PREFER"] = "handling=lenient"
        response = api.get(f"{resource_type}?{query}", **extra)
    assert response.status_code < 500, response.content[:300]
    assert response["Content-Type"].split(";")[0] in (FHIR_JSON, "application/json")
    body = response.json()
    assert body["resourceType"] == ("Bundle" if response.status_code == 200 else "OperationOutcome")
    if response.status_code == 200:
        assert body["total"] >= len([e for e in body.get("entry", []) if e["search"]["mode"] == "match"])
    assert _state() == before
