"""The multi-server mechanisms across two live deployments (EHR and imaging: separate processes,
databases and keys), from discovery to a FHIR read on both servers, and the attacks on each.

Design: shared/DESIGN.md §3 (B launch-token, C token exchange, D one token for several servers);
rules: SMART App Launch 2.2, RFC 8707, RFC 8693, RFC 7662, RFC 9207.
"""

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox_project.clients import PUBLIC_CLIENT_IDS
from sandbox_project.scripted import App, Browser


pytestmark = pytest.mark.live
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
LAUNCH_TOKEN = "urn:ietf:params:oauth:token-type:launch_token"


def callback(live, role):
    return f"{live.urls['app']}/callback/{role}"


def ehr_token(live, app, browser, scope, patient=None, **extra):
    url, _ = app.authorize_url(live.fhir("ehr"), scope, "ehr", **extra)
    return app.finish(browser.visit(url, callback(live, "ehr"), patient=patient))


def ehr_launch_token(live, app, browser, patient="pat-2"):
    launch = browser.ehr_launch(live.urls["ehr"], app.client_id, patient, stop_at=live.urls["app"])
    assert launch["iss"] == live.fhir("ehr")
    return ehr_token(
        live, app, browser, "launch launch-token openid fhirUser patient/*.rs", launch=launch["launch"]
    )


def test_discovery_lists_the_imaging_server_and_mechanisms(live, app):
    """SMART 2.2 associated_endpoints; each deployment lists the capabilities it supports."""
    ehr = app.discover(live.fhir("ehr"))
    imaging = app.discover(live.fhir("imaging"))
    (endpoint,) = ehr["associated_endpoints"]
    assert endpoint["url"] == live.fhir("imaging")
    assert {
        "auth-multi-aud-token",
        "launch-token",
        "token-exchange-openid",
        "token-exchange-accesstoken",
    } <= set(endpoint["capabilities"])
    assert {"launch-token", "auth-multi-aud-token"} <= set(ehr["capabilities"])
    assert {"token-exchange-openid", "token-exchange-accesstoken"} <= set(imaging["capabilities"])
    assert TOKEN_EXCHANGE in imaging["grant_types_supported"]
    assert ehr["issuer"] != imaging["issuer"]


# --- D: one token for several servers -------------------------------------------------------------
def test_one_token_for_both_servers_with_per_server_patient(live, app):
    """auth-multi-aud-token: several RFC 8707 resources; per-location patient ids (ids differ)."""
    browser = Browser("patient")
    token = ehr_token(
        live,
        app,
        browser,
        "launch/patient openid fhirUser patient/*.rs offline_access",
        resources=[live.fhir("ehr"), live.fhir("imaging")],
    )
    assert "access_token" in token, token
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert sorted(claims["aud"]) == sorted([live.fhir("ehr"), live.fhir("imaging")])
    details = {d["locations"][0]: d["patient"] for d in token["authorization_details"]}
    assert details == {live.fhir("ehr"): "pat-1", live.fhir("imaging"): "im-pat-1"}
    assert {"reference": f"{live.fhir('imaging')}/Patient/im-pat-1", "role": "launch-full-url"} in token[
        "fhirContext"
    ]
    assert "both" in browser.consent_pages[-1] or live.fhir("imaging") in browser.consent_pages[-1]
    assert app.read(f"{live.fhir('ehr')}/Patient/pat-1", token["access_token"]).status_code == 200
    assert app.read(f"{live.fhir('imaging')}/Patient/im-pat-1", token["access_token"]).status_code == 200
    studies = app.read(f"{live.fhir('imaging')}/ImagingStudy?patient=im-pat-1", token["access_token"])
    assert studies.status_code == 200 and studies.json()["entry"]
    # The patient compartment holds on each server: another patient is refused.
    assert app.read(f"{live.fhir('imaging')}/Patient/im-pat-2", token["access_token"]).status_code == 403

    # Narrowing at refresh works; widening beyond the grant does not (RFC 8707 §2.2).
    config = app.discover(live.fhir("ehr"))
    status, narrowed = app.token_request(
        config["token_endpoint"],
        grant_type="refresh_token",
        refresh_token=token["refresh_token"],
        resource=live.fhir("ehr"),
    )
    assert status == 200, narrowed
    assert jwt.decode(narrowed["access_token"], options={"verify_signature": False})["aud"] == live.fhir(
        "ehr"
    )
    assert app.read(f"{live.fhir('imaging')}/Patient/im-pat-1", narrowed["access_token"]).status_code == 401


def test_resource_outside_the_governed_set_is_invalid_target(live, app):
    """RFC 8707 §2: an unknown resource is invalid_target, redirected with state, no code."""
    url, state = app.authorize_url(
        live.fhir("ehr"),
        "launch/patient patient/*.rs",
        "ehr",
        resources=[live.fhir("ehr"), "https://elsewhere.example/fhir"],
    )
    query = Browser("patient").visit(url, callback(live, "ehr"))
    assert query["error"] == "invalid_target" and query["state"] == state and "code" not in query


def test_token_for_one_server_is_refused_by_the_other(live, app):
    """RFC 9700 §2.3 audience restriction: an EHR-only token is 401 at the imaging server."""
    token = ehr_token(live, app, Browser("patient"), "launch/patient patient/*.rs")
    assert app.read(f"{live.fhir('ehr')}/Patient/pat-1", token["access_token"]).status_code == 200
    assert app.read(f"{live.fhir('imaging')}/Patient/im-pat-1", token["access_token"]).status_code == 401


# --- B: launch-token ------------------------------------------------------------------------------
def test_launch_token_second_launch_at_the_imaging_server(live, app, browser):
    """Approach B: EHR launch with scope launch-token, then launch=<launch-token> at the imaging
    authorization server, which introspects it at the EHR and maps the patient by MRN."""
    ehr = ehr_launch_token(live, app, browser)
    assert ehr["patient"] == "pat-2" and ehr["launch_token"]
    url, _ = app.authorize_url(
        live.fhir("imaging"), "launch openid fhirUser patient/*.rs", "imaging", launch=ehr["launch_token"]
    )
    imaging = app.finish(browser.visit(url, callback(live, "imaging")))
    assert imaging["patient"] == "im-pat-2", imaging
    assert app.read(f"{live.fhir('imaging')}/Patient/im-pat-2", imaging["access_token"]).status_code == 200
    assert app.read(f"{live.fhir('ehr')}/Patient/pat-2", ehr["access_token"]).status_code == 200
    # A token minted by one server is refused by the other.
    assert app.read(f"{live.fhir('ehr')}/Patient/pat-2", imaging["access_token"]).status_code == 401

    # The launch-token is single-use: a replay ends in an error redirect with state.
    url, state = app.authorize_url(
        live.fhir("imaging"), "launch patient/*.rs", "imaging", launch=ehr["launch_token"]
    )
    query = browser.visit(url, callback(live, "imaging"))
    assert query["error"] == "invalid_request" and query["state"] == state


def test_launch_token_used_by_another_client_is_refused(live, app, browser):
    ehr = ehr_launch_token(live, app, browser, patient="pat-3")
    other = App(live.data_dir, live.urls["app"], urls=live.urls, client_ids=PUBLIC_CLIENT_IDS)
    url, state = other.authorize_url(
        live.fhir("imaging"), "launch patient/*.rs", "imaging", launch=ehr["launch_token"]
    )
    url = url.replace("callback%2Fimaging", "public%2Fcallback")
    query = browser.visit(url, f"{live.urls['app']}/public/callback")
    assert query["error"] == "invalid_request" and query["state"] == state
    assert "another app" in query["error_description"]


def test_foreign_launch_token_is_refused(live, app, browser):
    url, state = app.authorize_url(
        live.fhir("imaging"), "launch patient/*.rs", "imaging", launch="lt_forged-value"
    )
    query = browser.visit(url, callback(live, "imaging"))
    assert query["error"] == "invalid_request" and query["state"] == state


# --- C: token exchange ----------------------------------------------------------------------------
def exchange(live, app, subject_token, subject_type, scope="patient/*.rs user/*.rs"):
    config = app.discover(live.fhir("imaging"))
    return app.token_request(
        config["token_endpoint"],
        grant_type=TOKEN_EXCHANGE,
        subject_token=subject_token,
        subject_token_type=subject_type,
        scope=scope,
    )


def test_token_exchange_with_the_ehr_access_token(live, app, browser):
    """RFC 8693 with an EHR access token: introspected at the EHR, patient mapped, no browser."""
    ehr = ehr_launch_token(live, app, browser, patient="pat-4")
    status, body = exchange(live, app, ehr["access_token"], ACCESS_TOKEN)
    assert status == 200, body
    assert body["issued_token_type"] == ACCESS_TOKEN and body["token_type"].lower() == "bearer"
    assert body["patient"] == "im-pat-4"
    assert app.read(f"{live.fhir('imaging')}/Patient/im-pat-4", body["access_token"]).status_code == 200


def test_token_exchange_with_the_id_token_grants_no_patient_scopes(live, app, browser):
    ehr = ehr_launch_token(live, app, browser, patient="pat-5")
    status, body = exchange(live, app, ehr["id_token"], ID_TOKEN)
    assert status == 200, body
    assert "patient" not in body and "patient/" not in body["scope"]
    assert body["scope"] == "user/*.rs"


def test_token_exchange_with_a_launch_token(live, app, browser):
    ehr = ehr_launch_token(live, app, browser, patient="pat-6")
    status, body = exchange(live, app, ehr["launch_token"], LAUNCH_TOKEN)
    assert status == 200 and body["patient"] == "im-pat-6"


def test_token_exchange_refuses_untrusted_expired_and_tampered_subjects(live, app, browser):
    """RFC 8693 §2.2.2: an unacceptable subject token is invalid_request."""
    ehr = ehr_launch_token(live, app, browser, patient="pat-7")
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    forged = jwt.encode(
        {"iss": "https://evil.example/o", "sub": "1", "aud": app.client_id, "exp": now + 60},
        stranger,
        algorithm="RS256",
        headers={"kid": "x"},
    )
    header, payload, signature = ehr["id_token"].split(".")
    claims = jwt.decode(ehr["id_token"], options={"verify_signature": False})
    tampered_payload = jwt.utils.base64url_encode(
        jwt.api_jws.json.dumps({**claims, "sub": "999"}).encode()
    ).decode()
    forged_own_issuer = jwt.encode(
        {**claims, "exp": now - 600},
        stranger,
        algorithm="RS256",
        headers={"kid": jwt.get_unverified_header(ehr["id_token"])["kid"]},
    )
    for subject in (forged, f"{header}.{tampered_payload}.{signature}", forged_own_issuer):
        status, body = exchange(live, app, subject, ID_TOKEN)
        assert status == 400 and body["error"] == "invalid_request", body
    status, body = exchange(live, app, "not-a-token", ACCESS_TOKEN)
    assert status == 400 and body["error"] == "invalid_request"


def test_token_exchange_rules_of_rfc8693(live, app, browser):
    ehr = ehr_launch_token(live, app, browser, patient="pat-8")
    config = app.discover(live.fhir("imaging"))
    status, body = app.token_request(config["token_endpoint"], grant_type=TOKEN_EXCHANGE, scope="user/*.rs")
    assert status == 400 and body["error"] == "invalid_request"  # subject_token missing
    status, body = app.token_request(
        config["token_endpoint"],
        grant_type=TOKEN_EXCHANGE,
        scope="user/*.rs",
        subject_token=ehr["access_token"],
        subject_token_type=ACCESS_TOKEN,
        resource="https://elsewhere.example/fhir",
    )
    assert status == 400 and body["error"] == "invalid_target"
    public = app.http.post(
        config["token_endpoint"],
        data={
            "grant_type": TOKEN_EXCHANGE,
            "client_id": PUBLIC_CLIENT_IDS["imaging"],
            "subject_token": ehr["access_token"],
            "subject_token_type": ACCESS_TOKEN,
            "scope": "user/*.rs",
        },
    )
    assert public.status_code in (400, 401) and public.json()["error"] in (
        "invalid_client",
        "unauthorized_client",
    )


# --- security across servers ----------------------------------------------------------------------
def test_each_server_names_itself_in_authorization_responses(live, app):
    """RFC 9207: iss in success and error responses; the app's mix-up check rejects a response
    carrying another server's iss."""
    browser = Browser("patient")
    url, state = app.authorize_url(live.fhir("ehr"), "launch/patient patient/*.rs", "ehr")
    query = browser.visit(url, callback(live, "ehr"))
    assert query["iss"] == app.discover(live.fhir("ehr"))["issuer"]
    url, state = app.authorize_url(live.fhir("imaging"), "launch/patient patient/*.rs", "imaging")
    mixed = dict(query, state=state)  # the EHR's response replayed into the imaging hop
    with pytest.raises(ValueError, match="mix-up"):
        app.finish(mixed)


def test_codes_cannot_be_replayed_across_or_within_servers(live, app):
    browser = Browser("patient")
    url, state = app.authorize_url(live.fhir("ehr"), "launch/patient patient/*.rs", "ehr")
    query = browser.visit(url, callback(live, "ehr"))
    hop = dict(app.hops[state])
    first = app.finish(query)
    assert "access_token" in first
    app.hops[state] = hop
    again = app.finish(query)
    assert again["error"] == "invalid_grant"


def test_token_revoked_at_the_ehr_is_refused_by_the_imaging_server(live, app):
    """SMART 2.2 / RFC 7662: the imaging server learns of revocation through the EHR's
    introspection (it is the EHR's backend client there)."""
    token = ehr_token(
        live,
        app,
        Browser("patient"),
        "launch/patient patient/*.rs",
        resources=[live.fhir("ehr"), live.fhir("imaging")],
    )
    config = app.discover(live.fhir("ehr"))
    response = app.http.post(
        config["revocation_endpoint"],
        data={"token": token["access_token"], **app.assertion(config["token_endpoint"])},
    )
    assert response.status_code == 200
    assert app.read(f"{live.fhir('imaging')}/Patient/im-pat-1", token["access_token"]).status_code == 401
    assert app.read(f"{live.fhir('ehr')}/Patient/pat-1", token["access_token"]).status_code == 401
