"""Imaging consent, end to end on the live sandbox (EHR + imaging deployments): a study the user
did not consent to is invisible to every count and probe of the imaging FHIR API (issue 13
"consent counts": the consent promise; FHIR R4 §3.1.1.4 Bundle.total)."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from sandbox_project.scripted import App, Browser, _field
from smart_fhir.demo import DICOM_UID_SYSTEM, MODALITIES, study_uid
from tests.integration.test_dual_launch import SCOPE, _patient_with_two_studies, ehr_session_and_id_token


pytestmark = pytest.mark.live


@pytest.fixture
def consented(live):
    """A dual launch whose consent screen is answered with all studies but the first."""
    app = App(live.data_dir, live.urls["app"], urls=live.urls)
    browser = Browser("clinician")
    patient = _patient_with_two_studies(live)
    ehr = ehr_session_and_id_token(live, app, browser, patient)
    url, _ = app.authorize_url(live.fhir("imaging"), SCOPE, "imaging", login_hint=ehr["id_token"])
    page = browser.http.get(url, allow_redirects=True)
    offered = sorted(re.findall(r'name="study" value="([^"]+)"', page.text))
    assert len(offered) == 2, page.text[:500]
    hidden, kept = offered[0], offered[1:]
    response = browser.http.post(
        f"{live.urls['imaging']}/o/authorize/",
        data={
            "csrfmiddlewaretoken": _field(page.text, "csrfmiddlewaretoken"),
            "pending": _field(page.text, "pending"),
            "action": "approve",
            "grant_scope": SCOPE.split(),
            "study": kept,
        },
        headers={"Referer": page.url},
        allow_redirects=False,
    )
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    token = app.finish({k: v[0] for k, v in query.items()})
    index = int(patient.rsplit("-", 1)[1])
    number = int(hidden.rsplit("-", 1)[1])
    return {
        "read": lambda path: app.read(f"{live.fhir('imaging')}/{path}", token["access_token"]),
        "patient": token["patient"],
        "hidden": hidden,
        "kept": kept,
        "uid": study_uid(index, number),
        "modality": MODALITIES[(index + number) % len(MODALITIES)][0],
    }


def _bundle(consented, path):
    response = consented["read"](path)
    assert response.status_code == 200, response.text
    return response.json()


def test_counts_and_probes_never_reveal_an_unconsented_study(consented):
    """The consent promise (design approach A: access limited to the consented studies); FHIR R4
    §3.1.1.4 (total), §3.1.1.5.7 (paging links), §3.1.1.5.8 (_revinclude)."""
    kept, hidden = consented["kept"], consented["hidden"]
    assert _bundle(consented, "ImagingStudy?_summary=count")["total"] == len(kept)
    assert _bundle(consented, "ImagingStudy?_count=0")["total"] == len(kept)
    page = _bundle(consented, f"ImagingStudy?_count={len(kept)}")
    assert page["total"] == len(kept)
    assert [link["relation"] for link in page["link"]] == ["self"]  # no `next` to a hidden study
    assert sorted(e["resource"]["id"] for e in page["entry"]) == kept
    for probe in (
        f"ImagingStudy?_id={hidden}",
        f"ImagingStudy?identifier={DICOM_UID_SYSTEM}|{consented['uid']}",
        f"ImagingStudy?identifier={consented['uid']}&_summary=count",
    ):
        bundle = _bundle(consented, probe)
        assert bundle["total"] == 0 and "entry" not in bundle, probe
    by_modality = _bundle(consented, f"ImagingStudy?modality={consented['modality']}")
    assert hidden not in [e["resource"]["id"] for e in by_modality.get("entry", [])]
    assert by_modality["total"] == len(by_modality.get("entry", []))
    included = _bundle(consented, f"Patient?_id={consented['patient']}&_revinclude=ImagingStudy:patient")
    assert sorted(e["resource"]["id"] for e in included["entry"] if e["search"]["mode"] == "include") == kept
    read = consented["read"](f"ImagingStudy/{hidden}")
    missing = consented["read"]("ImagingStudy/no-such-study")
    assert read.status_code == missing.status_code == 404
    assert read.json()["resourceType"] == "OperationOutcome"
