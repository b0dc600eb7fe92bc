"""Every sandbox flow clicked through in headless Chromium, screenshots saved into docs/."""

import re

import pytest

from tests.browser.conftest import shot, sign_in, sign_in_if_asked


pytestmark = pytest.mark.live


def test_standalone_launch_as_a_patient(sandbox, page):
    page.goto(sandbox["app"] + "/")
    page.get_by_role("button", name="Standalone launch (EHR)").click()
    sign_in(page, "patient")
    page.wait_for_selector("text=asks for access")
    shot(page, "ehr-consent")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_selector("text=Patient id:")
    assert "pat-1" in page.inner_text("main")
    shot(page, "demo-app-standalone")


def patient_with_studies(sandbox, minimum=2):
    """A demo patient with at least ``minimum`` imaging studies, asked of the EHR's FHIR API."""
    from sandbox_project.scripted import App

    app = App(sandbox["data_dir"], sandbox["app"], urls=sandbox)
    config = app.discover(sandbox["ehr"] + "/fhir")
    _, token = app.token_request(
        config["token_endpoint"], grant_type="client_credentials", scope="system/*.rs"
    )
    for index in range(2, 51):
        bundle = app.read(
            f"{sandbox['ehr']}/fhir/ImagingStudy?patient=pat-{index}", token["access_token"]
        ).json()
        if len(bundle.get("entry", [])) >= minimum:
            return f"pat-{index}"
    raise AssertionError("no demo patient with enough imaging studies")


def ehr_launch(sandbox, page, patient="pat-3"):
    page.goto(sandbox["ehr"] + "/")
    if page.locator("input[name=password]").count():
        sign_in(page, "clinician")
    page.wait_for_selector("text=Patients")
    shot(page, "ehr-patients")
    row = page.locator("tr", has=page.locator(f'input[name=patient][value="{patient}"]'))
    row.locator("button", has_text="Launch app: Sandbox demo app").click()
    page.wait_for_selector("text=asks for access")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_selector("text=Patient id:")


def test_ehr_launch_then_dual_launch_with_one_study_unticked(sandbox, page):
    ehr_launch(sandbox, page, patient_with_studies(sandbox))
    page.get_by_role("button", name="Dual launch at imaging").click()
    page.wait_for_selector("input[name=study]")
    shot(page, "imaging-consent")
    studies = page.locator("input[name=study]")
    count = studies.count()
    values = [studies.nth(i).get_attribute("value") for i in range(count)]
    assert count >= 2
    studies.nth(0).uncheck()
    page.get_by_role("button", name="Approve").click()
    page.wait_for_selector("text=IMAGING")
    text = page.inner_text("main")
    shot(page, "demo-app-dual-launch")
    imaging = text.split("IMAGING", 1)[1].split("Protocol trace", 1)[0]
    assert re.search(r"Patient id: im-pat-\d+", imaging)
    rows = [line for line in imaging.splitlines() if re.match(r"\d{4}-\d{2}-\d{2}", line.strip())]
    assert len(rows) == count - 1, (values, rows)


def test_launch_token_and_token_exchange_from_the_demo_app(sandbox, page):
    ehr_launch(sandbox, page, "pat-5")
    page.get_by_role("button", name="Token exchange at imaging").click()
    page.wait_for_selector("text=IMAGING")
    assert re.search(r"Patient id: im-pat-\d+", page.inner_text("main").split("IMAGING", 1)[1])
    page.get_by_role("button", name="Start over").click()
    ehr_launch(sandbox, page, "pat-6")
    page.get_by_role("button", name="Launch-token at imaging").click()
    sign_in_if_asked(page, "clinician", "text=asks for access")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_selector("text=IMAGING")
    assert re.search(r"Patient id: im-pat-\d+", page.inner_text("main").split("IMAGING", 1)[1])
    shot(page, "demo-app-launch-token")


def test_shared_token_for_both_servers(sandbox, page):
    page.goto(sandbox["app"] + "/")
    page.get_by_role("button", name="Shared token (both servers)").click()
    sign_in(page, "patient")
    page.wait_for_selector("text=asks for access")
    assert "/fhir" in page.inner_text("main")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_selector("text=IMAGING")
    text = page.inner_text("main")
    assert "Patient id: pat-1" in text and "Patient id: im-pat-1" in text
    shot(page, "demo-app-shared-token")


def test_protocol_trace_redacts_tokens(sandbox, page):
    page.goto(sandbox["app"] + "/")
    text = page.inner_text("main")
    assert "Protocol trace" in text
    assert not re.search(r"eyJ[\w-]{20,}\.[\w-]{20,}\.[\w-]{20,}", page.content())


def test_fhircast_demo_two_viewers_follow_each_other(sandbox, page):
    """FHIRcast 3.0: two subscribers of the clinician's session; opening a patient or a study in
    one viewer is delivered to both over their WebSockets."""
    page.goto(sandbox["ehr"] + "/fhircast/")
    if page.locator("input[name=password]").count():
        sign_in(page, "clinician")
    a = page.locator("[data-pane=A]")
    b = page.locator("[data-pane=B]")
    for pane in (a, b):
        pane.locator("[data-role=context]").filter(has_text="subscribed").wait_for()
    a.locator("button[data-open=Patient]").first.click()
    patient = a.locator("button[data-open=Patient]").first.get_attribute("data-patient")
    b.locator("[data-role=context]").filter(has_text=f"Patient-open — patient: Patient/{patient}").wait_for()
    study_button = b.locator("button[data-open=ImagingStudy]").first
    study = study_button.get_attribute("data-study")
    study_button.click()
    a.locator("[data-role=context]").filter(has_text=f"ImagingStudy/{study}").wait_for()
    shot(page, "fhircast-demo")
    page.goto(sandbox["ehr"] + "/")
    assert f"ImagingStudy/{study}" in page.inner_text("main")  # the EHR page shows the session's context
