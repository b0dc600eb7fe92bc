"""Federation as a vendor deployment runs it (issue 12), across two live deployments: the demo app
has a different ``client_id`` at the EHR and at imaging and one ``software_id``; each attack on
app identity, federated users, patient matching and multi-server patient context is refused.

Rules: RFC 7591 §2 (``software_id``), RFC 8693 §2.1/§2.2.2, SMART App Launch 2.2 (scopes and
launch context, ``fhirUser``, experimental ``authorization_details``), FHIR R4 search §3.1.1.1
(escaping), multi-server draft (patient matching on ``Patient.identifier``; ``launch-full-url``).
"""

import json

import jwt
import pytest
from jwcrypto.jwk import JWK

from sandbox_project.clients import DEMO_CLIENT_IDS, DEMO_SOFTWARE_ID
from sandbox_project.scripted import App, Browser

from .test_multi_server import ACCESS_TOKEN, ID_TOKEN, LAUNCH_TOKEN, callback, ehr_token, exchange


pytestmark = pytest.mark.live
MRN = "http://hospital.example/mrn"


def put_patient(live, role, ident, identifiers, family="Stranger"):
    """Store a Patient straight into ``role``'s database (test set-up, not an API call)."""
    resource = {
        "resourceType": "Patient",
        "id": ident,
        "name": [{"family": family, "given": ["Test"]}],
        "identifier": identifiers,
    }
    code = (
        "from smart_fhir.storage import get_storage; import json; "
        f"get_storage().update('Patient', {ident!r}, json.loads({json.dumps(resource)!r}))"
    )
    live.manage(role, "shell", "-c", code)


def ehr_launch(live, app, browser, patient, scope="launch launch-token openid fhirUser patient/*.rs"):
    launch = browser.ehr_launch(live.urls["ehr"], app.client_id, patient, stop_at=live.urls["app"])
    return ehr_token(live, app, browser, scope, launch=launch["launch"])


def claims_of(token):
    return jwt.decode(token, options={"verify_signature": False})


def imaging_read(live, app, path, token):
    return app.read(f"{live.fhir('imaging')}/{path}", token)


# --- 1. app identity across registrations -------------------------------------------------------
def test_the_demo_app_has_different_client_ids_and_one_software_id(live, app):
    """DESIGN §6: every mechanism below runs with two vendors' own client ids."""
    assert app.client_ids["ehr"] != app.client_ids["imaging"]
    for role in ("ehr", "imaging"):
        output = live.manage(
            role,
            "shell",
            "-c",
            "from smart_auth.models import SmartClient; "
            f"print(SmartClient.objects.get(application__client_id={DEMO_CLIENT_IDS[role]!r}).software_id)",
        )
        assert output.strip().splitlines()[-1] == DEMO_SOFTWARE_ID


def test_every_mechanism_with_different_client_ids(live, app, browser):
    """A (id_token as login_hint), B (launch-token), C (id_token, access token and launch-token
    subjects), D (one token, two audiences): RFC 7591 §2, the app is the same app by software_id."""
    ehr = ehr_launch(live, app, browser, "pat-20")
    assert claims_of(ehr["id_token"])["aud"] == DEMO_CLIENT_IDS["ehr"]
    # C with each subject type.
    for subject, kind, scope in (
        (ehr["access_token"], ACCESS_TOKEN, "patient/*.rs"),
        (ehr["id_token"], ID_TOKEN, "user/*.rs"),
        (ehr["launch_token"], LAUNCH_TOKEN, "patient/*.rs"),
    ):
        status, body = exchange(live, app, subject, kind, scope=scope)
        assert status == 200, (kind, body)
        assert claims_of(body["access_token"])["client_id"] == DEMO_CLIENT_IDS["imaging"]
        if kind != ID_TOKEN:
            assert body["patient"] == "im-pat-20"
    # B: a fresh launch-token (the one above was used up by the exchange).
    ehr = ehr_launch(live, app, browser, "pat-21")
    url, _ = app.authorize_url(
        live.fhir("imaging"), "launch openid fhirUser patient/*.rs", "imaging", launch=ehr["launch_token"]
    )
    assert DEMO_CLIENT_IDS["imaging"] in url
    imaging = app.finish(browser.visit(url, callback(live, "imaging")))
    assert imaging["patient"] == "im-pat-21", imaging
    # A: the dual launch.
    url, _ = app.authorize_url(
        live.fhir("imaging"),
        "launch/patient openid fhirUser patient/*.rs",
        "imaging",
        login_hint=ehr["id_token"],
    )
    dual = app.finish(browser.visit(url, callback(live, "imaging")))
    assert dual["patient"] == "im-pat-21", dual
    assert imaging_read(live, app, "Patient/im-pat-21", dual["access_token"]).status_code == 200


def _public_jwks(pem):
    key = JWK.from_pem(pem.encode())
    return {"keys": [{**key.export_public(as_dict=True), "kid": key.thumbprint(), "alg": "RS384"}]}


def _foreign_app(live):
    """An EHR app whose client_id is our app's software_id, with a software_id of its own."""
    client_id = DEMO_SOFTWARE_ID
    live.register(
        "ehr",
        {
            "client_id": client_id,
            "software_id": "org.example.someone-else",
            "client_name": "Someone else's app",
            "redirect_uris": [f"{live.urls['app']}/callback/ehr"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": _public_jwks(App(live.data_dir, live.urls["app"]).key),
            "scope": "launch/patient openid fhirUser patient/*.rs user/*.rs",
        },
    )
    return App(live.data_dir, live.urls["app"], client_id=client_id, urls=live.urls)


def test_an_app_whose_client_id_is_our_software_id_is_not_our_app(live, app):
    """RFC 7591 §2: a software_id is compared with a software_id only. The foreign app's
    id_token (aud = its client_id = our software_id) is refused by A and C: invalid_request."""
    foreign = _foreign_app(live)
    token = ehr_token(live, foreign, Browser("clinician"), "launch/patient openid fhirUser patient/*.rs")
    assert "id_token" in token, token
    status, body = exchange(live, app, token["id_token"], ID_TOKEN, scope="user/*.rs")
    assert status == 400 and body["error"] == "invalid_request", body
    assert "another app" in body["error_description"]
    url, state = app.authorize_url(
        live.fhir("imaging"),
        "launch/patient openid fhirUser patient/*.rs",
        "imaging",
        login_hint=token["id_token"],
    )
    query = Browser("clinician").visit(url, callback(live, "imaging"))
    assert query["error"] == "invalid_request" and query["state"] == state and "code" not in query
    # Its access token too (introspection carries its software_id).
    status, body = exchange(live, app, token["access_token"], ACCESS_TOKEN, scope="patient/*.rs")
    assert status == 400 and body["error"] == "invalid_request", body


# --- 2. federated users get no more than the EHR vouches for ---------------------------------------
def test_federated_patient_user_reaches_only_their_own_patient_by_user_scopes(live, app):
    """SMART 2.2 user/ scopes follow the user: the EHR's Patient user, exchanged to imaging by
    id_token, is mapped to the matched local patient; another patient is 403."""
    patient = Browser("patient")
    ehr = ehr_token(live, app, patient, "launch/patient openid fhirUser patient/*.rs user/*.rs")
    status, body = exchange(live, app, ehr["id_token"], ID_TOKEN, scope="user/*.rs")
    assert status == 200, body
    assert imaging_read(live, app, "Patient/im-pat-2", body["access_token"]).status_code == 403
    assert imaging_read(live, app, "Patient/im-pat-1", body["access_token"]).status_code == 200
    assert claims_of(body["access_token"])["fhirUser"] == "Patient/im-pat-1"
    bundle = imaging_read(live, app, "ImagingStudy", body["access_token"]).json()
    assert {e["resource"]["subject"]["reference"] for e in bundle.get("entry", [])} <= {"Patient/im-pat-1"}
    # The same by the access token as subject (it carried user/*.rs).
    status, body = exchange(live, app, ehr["access_token"], ACCESS_TOKEN, scope="patient/*.rs user/*.rs")
    assert status == 200 and body["patient"] == "im-pat-1", body
    assert imaging_read(live, app, "Patient/im-pat-2", body["access_token"]).status_code == 403


def test_ehr_relative_fhir_user_is_not_a_local_patient_id(live, app):
    """SMART 2.2 fhirUser / multi-server draft: the EHR's ``Patient/pat-1`` in a token for both
    servers names the EHR's patient; at imaging it is not our Patient pat-1 (another person)."""
    put_patient(live, "imaging", "pat-1", [{"system": MRN, "value": "IMAGING-ONLY-1"}])
    token = ehr_token(
        live,
        app,
        Browser("patient"),
        "launch/patient openid fhirUser user/*.rs",
        resources=[live.fhir("ehr"), live.fhir("imaging")],
    )
    assert claims_of(token["access_token"])["fhirUser"] == "Patient/pat-1"
    assert app.read(f"{live.fhir('ehr')}/Patient/pat-1", token["access_token"]).status_code == 200
    assert imaging_read(live, app, "Patient/pat-1", token["access_token"]).status_code == 403


def test_patient_user_cannot_take_a_launch_token_for_another_patient(live, app, browser):
    """SMART 2.2: a patient user acts for themself; a launch-token naming another patient (B)
    ends in access_denied at imaging for the imaging ``patient`` user."""
    ehr = ehr_launch(live, app, browser, "pat-22")
    url, state = app.authorize_url(
        live.fhir("imaging"), "launch patient/*.rs", "imaging", launch=ehr["launch_token"]
    )
    query = Browser("patient").visit(url, callback(live, "imaging"))
    assert query["error"] == "access_denied" and query["state"] == state and "code" not in query


def test_federated_patient_user_picks_only_themself_at_imaging(live, app):
    """After a dual launch, the EHR's Patient user has an imaging session; a standalone launch
    there offers only their matched patient (the picker used to list every patient)."""
    patient = Browser("patient")
    ehr = ehr_token(live, app, patient, "launch/patient openid fhirUser patient/*.rs")
    url, _ = app.authorize_url(
        live.fhir("imaging"),
        "launch/patient openid fhirUser patient/*.rs",
        "imaging",
        login_hint=ehr["id_token"],
    )
    dual = app.finish(patient.visit(url, callback(live, "imaging")))
    assert dual["patient"] == "im-pat-1", dual
    assert imaging_read(live, app, "Patient/im-pat-2", dual["access_token"]).status_code == 403
    url, _ = app.authorize_url(live.fhir("imaging"), "launch/patient patient/*.rs", "imaging")
    standalone = app.finish(patient.visit(url, callback(live, "imaging"), patient="im-pat-2"))
    assert standalone.get("patient") == "im-pat-1", standalone
    assert imaging_read(live, app, "Patient/im-pat-2", standalone["access_token"]).status_code == 403
    # A clinician's launch-token for another patient, used in the federated patient's session.
    other = ehr_launch(live, app, Browser("clinician"), "pat-24")
    url, state = app.authorize_url(
        live.fhir("imaging"), "launch patient/*.rs", "imaging", launch=other["launch_token"]
    )
    query = patient.visit(url, callback(live, "imaging"))
    assert query["error"] == "access_denied" and query["state"] == state and "code" not in query


def test_token_exchange_grants_no_more_than_the_subject_token(live, app, browser):
    """RFC 8693 §2.1 / SMART 2.2: an EHR grant of patient/Observation.rs does not become
    patient/*.cruds at imaging; a letter or type the subject lacks is never granted."""
    launch = browser.ehr_launch(live.urls["ehr"], app.client_id, "pat-23", stop_at=live.urls["app"])
    ehr = ehr_token(
        live, app, browser, "launch openid fhirUser patient/Observation.rs", launch=launch["launch"]
    )
    assert ehr["scope"].split().count("patient/Observation.rs") == 1, ehr
    status, body = exchange(live, app, ehr["access_token"], ACCESS_TOKEN, scope="patient/*.cruds user/*.rs")
    assert status == 400 and body["error"] == "invalid_scope", body
    status, body = exchange(
        live, app, ehr["access_token"], ACCESS_TOKEN, scope="patient/Observation.rs patient/ImagingStudy.rs"
    )
    assert status == 200 and body["scope"] == "patient/Observation.rs", body


# --- 3. patient matching on identifiers the patient cannot change ------------------------------------
def test_patient_cannot_rewrite_their_identifier_to_hijack_another_patient(live, app, browser):
    """Multi-server draft: patients are matched on Patient.identifier. A patient/ token with write
    letters cannot change it (SMART_FHIR PROTECTED_FIELDS): 403 OperationOutcome; A, B, C and D
    still map the patient to their own imaging patient."""
    patient = Browser("patient")
    ehr = ehr_token(live, app, patient, "launch/patient launch-token openid fhirUser patient/*.cruds")
    url = f"{live.fhir('ehr')}/Patient/pat-1"
    resource = app.read(url, ehr["access_token"]).json()
    hijacked = {**resource, "identifier": [{"system": MRN, "value": "MRN-0003"}]}
    response = app.http.put(
        url,
        json=hijacked,
        headers={"Authorization": f"Bearer {ehr['access_token']}", "Content-Type": "application/fhir+json"},
    )
    assert response.status_code == 403 and response.json()["resourceType"] == "OperationOutcome"
    renamed = {**resource, "name": [{"family": "Renamed", "given": ["Pat"]}]}
    response = app.http.put(
        url,
        json=renamed,
        headers={"Authorization": f"Bearer {ehr['access_token']}", "Content-Type": "application/fhir+json"},
    )
    assert response.status_code == 200, response.text  # other fields stay the patient's to edit
    status, body = exchange(live, app, ehr["access_token"], ACCESS_TOKEN, scope="patient/*.rs")
    assert status == 200 and body["patient"] == "im-pat-1", body  # C
    url, _ = app.authorize_url(
        live.fhir("imaging"), "launch patient/*.rs", "imaging", launch=ehr["launch_token"]
    )
    assert app.finish(patient.visit(url, callback(live, "imaging")))["patient"] == "im-pat-1"  # B
    url, _ = app.authorize_url(
        live.fhir("imaging"),
        "launch/patient openid fhirUser patient/*.rs",
        "imaging",
        login_hint=ehr["id_token"],
    )
    assert app.finish(patient.visit(url, callback(live, "imaging")))["patient"] == "im-pat-1"  # A
    shared = ehr_token(
        live, app, patient, "launch/patient patient/*.rs", resources=[live.fhir("ehr"), live.fhir("imaging")]
    )
    details = {d["locations"][0]: d.get("patient") for d in shared["authorization_details"]}
    assert details[live.fhir("imaging")] == "im-pat-1"  # D


@pytest.mark.parametrize("index,value", [(1, "ZZ-1,"), (2, "ZZ-2,MRN-0005"), (3, "a|b\\c$d")])
def test_identifier_values_are_escaped_in_fhir_search(live, app, browser, index, value):
    """FHIR R4 search §3.1.1.1: ``,`` ``|`` ``\\`` ``$`` in an identifier value are escaped. The
    token endpoint never answers 500, and a value never matches a patient by a fragment."""
    ident = f"pat-esc-{index}"
    put_patient(live, "ehr", ident, [{"system": MRN, "value": value}])
    put_patient(live, "imaging", f"im-{ident}", [{"system": MRN, "value": value}])
    ehr = ehr_launch(live, app, browser, ident)
    status, body = exchange(live, app, ehr["access_token"], ACCESS_TOKEN, scope="patient/*.rs")
    assert status == 200, body
    assert body["patient"] == f"im-{ident}"


def test_no_or_ambiguous_match_refuses_patient_scopes(live, app, browser):
    """Multi-server draft: no patient scopes without a match; an identifier two imaging patients
    carry is no match. An exchange asking only patient scopes is invalid_scope; it never reports
    patient/ scopes it cannot honour."""
    put_patient(live, "ehr", "pat-twice", [{"system": MRN, "value": "TWICE-1"}])
    put_patient(live, "imaging", "im-twice-a", [{"system": MRN, "value": "TWICE-1"}])
    put_patient(live, "imaging", "im-twice-b", [{"system": MRN, "value": "TWICE-1"}])
    ehr = ehr_launch(
        live, app, browser, "pat-twice", scope="launch launch-token openid fhirUser patient/*.rs"
    )
    status, body = exchange(live, app, ehr["access_token"], ACCESS_TOKEN, scope="patient/*.rs")
    assert status == 400 and body["error"] == "invalid_scope", body
    url, state = app.authorize_url(
        live.fhir("imaging"), "launch patient/*.rs", "imaging", launch=ehr["launch_token"]
    )
    query = browser.visit(url, callback(live, "imaging"))
    assert query["error"] == "invalid_scope" and query["state"] == state


# --- 4. no cross-server fallback ------------------------------------------------------------------
def test_server_without_a_match_gets_no_patient_from_another_server(live, app):
    """SMART 2.2 authorization_details / draft launch-full-url: the imaging server has no match
    for the EHR's pat-orphan, so it gets no patient context, never the EHR's id (which is a
    different person's id at imaging)."""
    put_patient(live, "ehr", "pat-orphan", [{"system": MRN, "value": "ORPHAN-EHR"}])
    put_patient(live, "imaging", "pat-orphan", [{"system": MRN, "value": "SOMEONE-ELSE"}])
    browser = Browser("clinician")
    launch = browser.ehr_launch(live.urls["ehr"], app.client_id, "pat-orphan", stop_at=live.urls["app"])
    token = ehr_token(
        live,
        app,
        browser,
        "launch openid fhirUser patient/*.rs",
        launch=launch["launch"],
        resources=[live.fhir("ehr"), live.fhir("imaging")],
    )
    details = {d["locations"][0]: d.get("patient") for d in token["authorization_details"]}
    assert details == {live.fhir("ehr"): "pat-orphan", live.fhir("imaging"): None}
    assert app.read(f"{live.fhir('ehr')}/Patient/pat-orphan", token["access_token"]).status_code == 200
    assert imaging_read(live, app, "Patient/pat-orphan", token["access_token"]).status_code == 403
    # Token exchange of that grant: no patient here, so patient scopes are refused.
    status, body = exchange(live, app, token["access_token"], ACCESS_TOKEN, scope="patient/*.rs")
    assert status == 400 and body["error"] == "invalid_scope", body
