"""SMART ``authorize-post`` from a real browser: an app's page on another site posts the
authorization request to the EHR; no CSRF 403, and the consent form still works (it carries the
EHR's own CSRF token)."""

import base64
import hashlib
import html
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser.conftest import sign_in


pytestmark = pytest.mark.live
APP_PAGE = "http://app.example/start"  # another site than the EHR's 127.0.0.1 (served by page.route)
REDIRECT = "http://127.0.0.1:9999/callback"  # registered for sandbox-public-app


def _form_page(ehr, challenge):
    fields = {
        "response_type": "code",
        "client_id": "sandbox-public-app",
        "redirect_uri": REDIRECT,
        "scope": "openid fhirUser launch/patient patient/*.rs",
        "state": "xsite",
        "aud": f"{ehr}/fhir",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    inputs = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(value)}">' for name, value in fields.items()
    )
    button = "<button>Sign in with the EHR</button>"
    return f'<form method="post" action="{ehr}/o/authorize/">{inputs}{button}</form>'


def test_cross_site_form_post_to_authorize_reaches_consent_and_returns_a_code(sandbox, page):
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    statuses = []
    page.on("response", lambda response: statuses.append((response.status, response.url)))
    page.route(
        APP_PAGE,
        lambda route: route.fulfill(content_type="text/html", body=_form_page(sandbox["ehr"], challenge)),
    )
    page.route(REDIRECT + "*", lambda route: route.fulfill(content_type="text/plain", body="back at the app"))

    page.goto(APP_PAGE)
    page.get_by_role("button", name="Sign in with the EHR").click()
    page.wait_for_selector("input[name=password]")
    sign_in(page, "patient")
    page.wait_for_selector("text=asks for access")
    with page.expect_request(lambda request: request.url.startswith(REDIRECT)) as redirected:
        page.get_by_role("button", name="Approve").click()
    query = parse_qs(urlsplit(redirected.value.url).query)
    assert query["state"] == ["xsite"] and query["code"][0]
    assert not [s for s in statuses if s[0] == 403 or s[0] >= 500], statuses
