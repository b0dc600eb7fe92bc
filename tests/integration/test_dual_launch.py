"""The imaging dual launch (design approach A, March-2025 text; issue imaging_consent) across two
live deployments: the EHR's id_token as login_hint, the silent prompt=none hop to the EHR, the
consent screen of imaging studies, consent records and revocation."""

import re
import time
from pathlib import Path

import jwt
import pytest

from sandbox_project.scripted import App, Browser


pytestmark = pytest.mark.live
SCOPE = "launch/patient openid fhirUser patient/*.rs"


def ehr_session_and_id_token(live, app, browser, patient):
    launch = browser.ehr_launch(live.urls["ehr"], app.client_id, patient, stop_at=live.urls["app"])
    url, _ = app.authorize_url(
        live.fhir("ehr"), "launch openid fhirUser patient/*.rs", "ehr", launch=launch["launch"]
    )
    token = app.finish(browser.visit(url, f"{live.urls['app']}/callback/ehr"))
    assert token["patient"] == patient
    return token


def dual_launch(live, app, browser, id_token, hint_param="login_hint", **visit):
    url, state = app.authorize_url(live.fhir("imaging"), SCOPE, "imaging", **{hint_param: id_token})
    query = browser.visit(url, f"{live.urls['app']}/callback/imaging", **visit)
    return query, state


def studies_of(app, live, token, patient):
    response = app.read(f"{live.fhir('imaging')}/ImagingStudy?patient={patient}", token)
    assert response.status_code == 200, response.text
    return sorted(e["resource"]["id"] for e in response.json().get("entry", []))


def test_dual_launch_to_a_consented_study(live, app):
    """The whole dual launch, from the EHR's id_token to a FHIR read of a consented study."""
    browser = Browser("clinician")
    ehr = ehr_session_and_id_token(live, app, browser, "pat-10")
    query, _ = dual_launch(live, app, browser, ehr["id_token"])
    page = browser.consent_pages[-1]
    offered = re.findall(r'name="study" value="([^"]+)"', page)
    assert len(offered) >= 1 and "Approve" in page and "Deny" in page
    token = app.finish(query)
    assert token["patient"] == "im-pat-10", token
    assert studies_of(app, live, token["access_token"], "im-pat-10") == sorted(offered)
    assert (
        app.read(f"{live.fhir('imaging')}/ImagingStudy/{offered[0]}", token["access_token"]).status_code
        == 200
    )


def test_dual_launch_unticked_study_is_invisible_and_revocation_ends_access(live, app):
    """A study not consented is omitted from searches and refused on read; revoking the consent
    on the imaging server's consent list ends the token at once."""
    browser = Browser("clinician")
    patient = _patient_with_two_studies(live)
    ehr = ehr_session_and_id_token(live, app, browser, patient)
    browser.studies = None
    url, _ = app.authorize_url(live.fhir("imaging"), SCOPE, "imaging", login_hint=ehr["id_token"])
    # Answer the consent screen with all but the first study.
    first_page = browser.http.get(url, allow_redirects=True)
    offered = re.findall(r'name="study" value="([^"]+)"', first_page.text)
    assert len(offered) >= 2, first_page.text[:500]
    kept = offered[1:]
    from sandbox_project.scripted import _field

    response = browser.http.post(
        f"{live.urls['imaging']}/o/authorize/",
        data={
            "csrfmiddlewaretoken": _field(first_page.text, "csrfmiddlewaretoken"),
            "pending": _field(first_page.text, "pending"),
            "action": "approve",
            "grant_scope": SCOPE.split(),
            "study": kept,
        },
        headers={"Referer": first_page.url},
        allow_redirects=False,
    )
    location = response.headers["Location"]
    from urllib.parse import parse_qs, urlsplit

    token = app.finish({k: v[0] for k, v in parse_qs(urlsplit(location).query).items()})
    local = token["patient"]
    assert studies_of(app, live, token["access_token"], local) == sorted(kept)
    hidden = app.read(f"{live.fhir('imaging')}/ImagingStudy/{offered[0]}", token["access_token"])
    assert hidden.status_code in (403, 404)
    visible = app.read(f"{live.fhir('imaging')}/ImagingStudy/{kept[0]}", token["access_token"])
    assert visible.status_code == 200

    # The user lists their consents on the imaging server and revokes this one: access ends.
    consents = browser.http.get(f"{live.urls['imaging']}/consents/")
    assert "Revoke" in consents.text
    form = re.search(r'action="(/consents/\d+/revoke)"', consents.text).group(1)
    browser.http.post(
        f"{live.urls['imaging']}{form}",
        data={"csrfmiddlewaretoken": _field(consents.text, "csrfmiddlewaretoken")},
        headers={"Referer": consents.url},
    )
    assert (
        app.read(f"{live.fhir('imaging')}/ImagingStudy/{kept[0]}", token["access_token"]).status_code == 401
    )


def _patient_with_two_studies(live):
    for index in range(11, 40):
        app = App(live.data_dir, live.urls["app"], urls=live.urls)
        # The EHR's own FHIR API, read with a backend token of the demo app.
        config = app.discover(live.fhir("ehr"))
        status, body = app.token_request(
            config["token_endpoint"], grant_type="client_credentials", scope="system/*.rs"
        )
        bundle = app.read(f"{live.fhir('ehr')}/ImagingStudy?patient=pat-{index}", body["access_token"]).json()
        if len(bundle.get("entry", [])) >= 2:
            return f"pat-{index}"
    pytest.fail("no demo patient with two imaging studies")


def _ehr_key(live):
    return (Path(live.data_dir) / "ehr" / "signing-key.pem").read_text()


def _resign(live, id_token, **changes):
    """An id_token signed with the EHR's own key but with changed claims (a test-only forgery)."""
    from jwcrypto.jwk import JWK

    pem = _ehr_key(live)
    claims = {**jwt.decode(id_token, options={"verify_signature": False}), **changes}
    return jwt.encode(
        claims, pem, algorithm="RS256", headers={"kid": JWK.from_pem(pem.encode()).thumbprint()}
    )


@pytest.mark.parametrize("case", ["bad-signature", "wrong-issuer", "wrong-audience", "expired"])
def test_bad_id_tokens_end_in_an_error_and_grant_nothing(live, app, case):
    """The hint is verified before it influences anything: EHR JWKS signature, trusted issuer,
    audience = the app, expiry (OIDC Core §3.1.2.1; multi-server anchors c.9 item 72)."""
    browser = Browser("clinician")
    ehr = ehr_session_and_id_token(live, app, browser, "pat-12")
    id_token = ehr["id_token"]
    if case == "bad-signature":
        head, body, sig = id_token.split(".")
        id_token = f"{head}.{body}.{sig[:-4]}AAAA"
    elif case == "wrong-issuer":
        id_token = _resign(live, id_token, iss="https://evil.example/o")
    elif case == "wrong-audience":
        id_token = _resign(live, id_token, aud="sandbox-public-app")
    elif case == "expired":
        id_token = _resign(live, id_token, exp=int(time.time()) - 600)
    query, state = dual_launch(live, app, browser, id_token)
    assert query["state"] == state and query["error"] == "invalid_request" and "code" not in query


def test_symmetric_or_unknown_clients_cannot_dual_launch(live, app):
    """March-2025 text: only public clients with a matching redirect URI and asymmetric clients,
    checked in the EHR's client registry, may dual launch."""
    for role in ("ehr", "imaging"):
        live.register(
            role,
            {
                "client_id": "secret-app",
                "client_name": "Secret app",
                "redirect_uris": [f"{live.urls['app']}/callback/imaging", f"{live.urls['app']}/callback/ehr"],
                "token_endpoint_auth_method": "client_secret_basic",
                "scope": "launch openid fhirUser patient/*.rs launch/patient",
            },
        )
    live.register(
        "imaging",
        {
            "client_id": "ghost-app",
            "client_name": "Unknown at the EHR",
            "redirect_uris": [f"{live.urls['app']}/callback/imaging"],
            "token_endpoint_auth_method": "none",
            "scope": "launch/patient openid fhirUser patient/*.rs",
        },
    )
    browser = Browser("clinician")
    ehr = ehr_session_and_id_token(live, app, browser, "pat-13")
    for client_id in ("secret-app", "ghost-app"):
        other = App(live.data_dir, live.urls["app"], client_id=client_id, urls=live.urls)
        hint = _resign(live, ehr["id_token"], aud=client_id)
        url, state = other.authorize_url(live.fhir("imaging"), SCOPE, "imaging", login_hint=hint)
        query = browser.visit(url, f"{live.urls['app']}/callback/imaging")
        assert query["error"] == "unauthorized_client" and query["state"] == state, (client_id, query)


def test_ehr_session_of_another_user_is_login_required(live, app):
    """OIDC Core §3.1.2.6: the EHR's silent answer for a session of another user is passed on."""
    browser = Browser("clinician")
    ehr = ehr_session_and_id_token(live, app, browser, "pat-14")
    other = Browser("patient")
    other.login(live.urls["ehr"])
    query, state = dual_launch(live, app, other, ehr["id_token"])
    assert query["error"] == "login_required" and query["state"] == state


def test_no_ehr_session_is_login_required(live, app):
    browser = Browser("clinician")
    ehr = ehr_session_and_id_token(live, app, browser, "pat-15")
    query, state = dual_launch(live, app, Browser("clinician"), ehr["id_token"])
    assert query["error"] == "login_required" and query["state"] == state


def test_denied_consent_is_access_denied(live, app):
    browser = Browser("clinician")
    ehr = ehr_session_and_id_token(live, app, browser, "pat-16")
    query, state = dual_launch(live, app, browser, ehr["id_token"], action="deny")
    assert query["error"] == "access_denied" and query["state"] == state


def test_id_token_hint_is_accepted_like_login_hint(live, app):
    browser = Browser("clinician")
    ehr = ehr_session_and_id_token(live, app, browser, "pat-17")
    query, _ = dual_launch(live, app, browser, ehr["id_token"], hint_param="id_token_hint")
    assert app.finish(query)["patient"] == "im-pat-17"
