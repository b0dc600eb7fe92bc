"""The lean read/search path answers exactly as the full DRF view does, errors included."""

import pytest

from smart_fhir.api.views import ResourceViewSet

from .conftest import PAT1, PAT2


pytestmark = pytest.mark.django_db

FILTERS = "tests.smart_fhir.test_enforcement.hide_second_studies"


def _both(api, path, monkeypatch, **extra):
    lean = api.get(path, **extra)
    with monkeypatch.context() as patch:
        patch.setattr(ResourceViewSet, "lean_actions", frozenset())
        full = api.get(path, **extra)
    return lean, full


def _same(lean, full):
    assert (lean.status_code, lean.content) == (full.status_code, full.content)
    assert list(lean.headers.items()) == list(full.headers.items())


@pytest.fixture
def tokens(ehr_data, issue, fake_issuer):
    return {
        "user": issue("openid fhirUser user/*.cruds"),
        "patient": issue("openid fhirUser patient/*.rs", patient=PAT1),
        "observations only": issue("openid fhirUser user/Observation.rs"),
        "garbage": "not-a-token",
        "wrong audience": fake_issuer.token("user/*.rs", aud="https://elsewhere.example/fhir"),
        "expired": fake_issuer.token("user/*.rs", expires_in=-3600),
        "none": "",
    }


PATHS = [
    f"Patient/{PAT1}",
    f"Patient/{PAT2}",
    "Patient/nope",
    "Medication/x",
    f"ImagingStudy?patient={PAT1}",
    f"ImagingStudy?patient={PAT2}",
    "ImagingStudy?bogus=1",
    "ImagingStudy",
]


WHO = ["user", "patient", "observations only", "garbage", "wrong audience", "expired", "none"]


@pytest.mark.parametrize("who", WHO)
def test_lean_and_full_paths_agree(api, tokens, who, monkeypatch):
    for path in PATHS:
        _same(*_both(api, path, monkeypatch, token=tokens[who] or None))


def test_lean_path_serves_plain_reads_and_searches(api, tokens):
    read = api.get(f"Patient/{PAT1}", token=tokens["user"])
    search = api.get(f"ImagingStudy?patient={PAT1}", token=tokens["user"])
    # Django's HttpResponse, not DRF's Response: the lean path answered.
    assert not hasattr(read, "data") and not hasattr(search, "data")
    assert read["Allow"] == "GET, PUT, DELETE, HEAD, OPTIONS" and read["Vary"] == "Accept"
    assert hasattr(api.get(f"Patient/{PAT1}", token=tokens["user"], HTTP_ACCEPT="application/json"), "data")


def test_lean_path_keeps_deletions_and_resource_filters(api, tokens, settings, monkeypatch):
    settings.SMART_FHIR = {**settings.SMART_FHIR, "RESOURCE_FILTERS": [FILTERS]}
    for path in ("ImagingStudy/study-3-1", "ImagingStudy/study-3-2", "ImagingStudy?patient=pat-3"):
        _same(*_both(api, path, monkeypatch, token=tokens["user"]))
    assert api.get("ImagingStudy/study-3-2", token=tokens["user"]).status_code == 404
    assert api.delete(f"Patient/{PAT2}", token=tokens["user"]).status_code == 204
    lean, full = _both(api, f"Patient/{PAT2}", monkeypatch, token=tokens["user"])
    assert lean.status_code == 410
    _same(lean, full)
