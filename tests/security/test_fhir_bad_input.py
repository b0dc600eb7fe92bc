"""Bad input to the FHIR API: every one answers an OperationOutcome 400/413, never a 500, and
changes nothing (issue 13 "bad input"; FHIR R4 §3.1.0.4: errors are OperationOutcomes).

Django's test client re-raises any exception a view lets escape, so a 500 fails these tests."""

import json

import pytest

from smart_fhir.models import ResourceVersion, SearchValue, StoredResource
from tests.smart_fhir.conftest import FHIR_JSON, PAT1, Api, ehr_data, fresh_token_cache, issue  # noqa: F401


@pytest.fixture
def api(client, issue, ehr_data):  # noqa: F811
    return Api(client, issue("openid fhirUser user/*.cruds"))


def _state():
    return (
        StoredResource.objects.count(),
        ResourceVersion.objects.count(),
        SearchValue.objects.count(),
        sorted(StoredResource.objects.values_list("resource_type", "logical_id", "version_id")),
    )


def _outcome(response, status):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith(FHIR_JSON)
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]


def _observation(**extra):
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": f"Patient/{PAT1}"},
        **extra,
    }


def _nested(depth):
    return '{"resourceType":"Observation","status":"final","code":{"text":"x"},"extension":' + (
        "[" * depth + "]" * depth + "}"
    )


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_nested(100_000), id="100k-levels"),
        pytest.param(_nested(65), id="over-MAX_JSON_DEPTH"),
        pytest.param(json.dumps(_observation(valueQuantity={"value": 1}))[:-1] + ',"x":1e400}', id="1e400"),
        pytest.param(json.dumps(_observation())[:-1] + ',"x":Infinity}', id="Infinity"),
        pytest.param(json.dumps(_observation())[:-1] + ',"note":[{"text":"\\ud800"}]}', id="lone-surrogate"),
        pytest.param(b'{"resourceType":"Observation","status":"\xff"}', id="not-utf-8"),
    ],
)
@pytest.mark.parametrize("method", ["post", "put"])
def test_hostile_bodies_are_400_and_store_nothing(api, body, method):
    before = _state()
    if method == "post":
        response = api.post("Observation", body)
    else:
        response = api.put("Observation/obs-1-lab-1", body)
    assert _outcome(response, 400)["code"] in ("structure", "invalid")
    assert _state() == before


def test_a_body_over_MAX_BODY_BYTES_is_413(api, settings):
    """RFC 9110 §15.5.14: 413 Content Too Large, as an OperationOutcome (too-long)."""
    settings.SMART_FHIR = {**settings.SMART_FHIR, "MAX_BODY_BYTES": 2000}
    before = _state()
    response = api.post("Observation", _observation(note=[{"text": "x" * 3000}]))
    assert _outcome(response, 413)["code"] == "too-long"
    assert _state() == before


HUGE = "100000000000000000000"  # 10^20: past SQLite's 64-bit integers


@pytest.mark.parametrize(
    "query",
    [
        f"_offset={HUGE}",
        f"_offset={HUGE}&_count=0",
        "_offset=1000001",
        "code=" + ",".join(f"c{i}" for i in range(2000)),
        "_id=" + ",".join(f"i{i}" for i in range(2000)),
        "date=" + ",".join("ge2020-01-01" for _ in range(2000)),
        "&".join(f"code=c{i}" for i in range(60)),
        "&".join(f"_include=Observation:patient&x{i}=1" for i in range(30)),
        "date=9999-12-31T23:59:59-14:00",  # past datetime.max once in UTC
        "date=ge0001-01-01T00:00:00%2B14:00",
    ],
)
@pytest.mark.parametrize("accept", ["application/fhir+json", "application/json"])  # lean path, DRF path
def test_search_limits_answer_400(api, query, accept):
    """Limits on numbers and parameter counts: OperationOutcome 400, not an SQL error."""
    before = _state()
    response = api.get(f"Observation?{query}", HTTP_ACCEPT=accept)
    assert response.status_code == 400, response.content[:300]
    assert response.json()["resourceType"] == "OperationOutcome"
    assert _state() == before


def test_too_many_query_fields_is_an_operation_outcome(api):
    """Django's DATA_UPLOAD_MAX_NUMBER_FIELDS (TooManyFieldsSent) answered as FHIR, not HTML."""
    query = "&".join(f"p{i}=1" for i in range(1100))
    for accept in ("application/fhir+json", "application/json"):
        response = api.get(f"Observation?{query}", HTTP_ACCEPT=accept)
        _outcome(response, 400)


def test_a_huge_count_is_capped_not_an_error(api):
    """FHIR R4 §3.1.1.5.7: the server may return fewer than _count; MAX_PAGE_SIZE caps it."""
    response = api.get(f"Observation?_count={HUGE}&patient={PAT1}")
    assert response.status_code == 200
    assert len(response.json()["entry"]) == response.json()["total"]


def test_a_version_id_past_64_bits_is_a_404(api):
    """vread of /_history/<20 digits>: not an SQLite OverflowError but 404 OperationOutcome."""
    response = api.get("Observation/obs-1-lab-1/_history/" + "9" * 40)
    assert _outcome(response, 404)["code"] == "not-found"


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_dates_at_the_edge_of_the_calendar_are_stored_or_refused_never_a_500(api, when):
    before = _state()
    response = api.post("Observation", _observation(effectiveDateTime=when))
    assert response.status_code in (201, 400), response.content[:300]
    if response.status_code == 400:
        assert _state() == before
