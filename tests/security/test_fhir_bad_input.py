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


def _nested_arrays(depth):
    return json.dumps(_observation())[:-1] + ',"extension":' + "[" * depth + "]" * depth + "}"


def _nested_extensions(depth):
    """Valid FHIR: an extension holding an extension, ``depth`` times (two JSON levels each)."""
    extension = {"url": "http://example.org/e", "valueString": "v"}
    for _ in range(depth):
        extension = {"url": "http://example.org/e", "extension": [extension]}
    return json.dumps(_observation(extension=[extension]))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_nested_arrays(100_000), id="100k-levels"),  # json.loads: RecursionError
        pytest.param(_nested_extensions(200), id="200-extensions"),  # the validator: RecursionError
        pytest.param(_nested_extensions(40), id="over-MAX_JSON_DEPTH"),  # stored before the limit
    ],
)
@pytest.mark.parametrize("method", ["post", "put"])
def test_deeply_nested_bodies_are_400_and_store_nothing(api, body, method):
    """FHIR R4 §3.1.0.4 / RFC 8259 §9 (a parser may limit nesting): 400 structure, not a 500."""
    before = _state()
    if method == "post":
        response = api.post("Observation", body)
    else:
        response = api.put("Observation/obs-1-lab-1", body)
    assert _outcome(response, 400)["code"] == "structure"
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


def test_huge_numbers_are_refused_or_capped_never_an_integer_overflow(api):
    """`_offset=10^20` overflowed SQLite (then failed again on the lean path); `_count=10^20` is
    capped by MAX_PAGE_SIZE (FHIR R4 §3.1.1.5.7: the server may return fewer)."""
    _outcome(api.get(f"Observation?_offset={HUGE}&patient={PAT1}"), 400)
    response = api.get(f"Observation?_count={HUGE}&patient={PAT1}")
    assert response.status_code == 200
    assert len(response.json()["entry"]) == response.json()["total"]


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_dates_at_the_edge_of_the_calendar_are_stored_or_refused_never_a_500(api, when):
    """FHIR R4 dateTime allows any offset; one past datetime's range in UTC is a 400 at worst."""
    before = _state()
    response = api.post("Observation", _observation(effectiveDateTime=when))
    assert response.status_code in (201, 400), response.content[:300]
    if response.status_code == 400:
        assert _state() == before
