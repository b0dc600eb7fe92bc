"""Authorization endpoint attacks: ``prompt=login`` (OIDC Core §3.1.2.1) and ``authorize-post``
(SMART 2.2 "authorize-post" capability; Django CSRF protection of the consent form)."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from oauth2_provider.models import get_grant_model

from tests.conftest import Flow


pytestmark = pytest.mark.django_db
SCOPE = "launch/patient openid fhirUser patient/*.rs"


def _sign_in_with_the_form(client, login_redirect, username):
    """The user signs in on Django's login form; returns where it sends them next."""
    assert login_redirect.status_code == 302
    location = login_redirect["Location"]
    assert location.startswith("/accounts/login/")
    next_url = parse_qs(urlsplit(location).query)["next"][0]
    page = client.get(location).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = {"username": username, "password": username, "next": next_url, "csrfmiddlewaretoken": token}
    response = client.post(location, form)
    assert response.status_code == 302, response.content[:300]
    return response["Location"]


def _signed_in(client):
    return "_auth_user_id" in client.session


def test_prompt_login_reauthenticates_every_time(client, users, public_client):
    """OIDC Core §3.1.2.1: prompt=login makes the user sign in again, on every such request
    (a flag left in the session after one sign-in must not waive the next one)."""
    grants = get_grant_model().objects.count()
    for _ in range(3):
        client.force_login(users["patient"])
        flow = Flow(client, public_client)
        response = flow.authorize(SCOPE, prompt="login")
        assert not _signed_in(client)
        back = _sign_in_with_the_form(client, response, "patient")
        consent = client.get(back)
        assert consent.status_code == 200 and 'name="pending"' in consent.content.decode()
        # The way back is single-use: replaying it asks for a sign-in again.
        assert client.get(back)["Location"].startswith("/accounts/login/")
    assert get_grant_model().objects.count() == grants


def test_prompt_login_when_signed_out_asks_for_one_sign_in(client, users, public_client):
    """Signed out, prompt=login is satisfied by the one sign-in it leads to."""
    response = Flow(client, public_client).authorize(SCOPE, prompt="login")
    back = _sign_in_with_the_form(client, response, "patient")
    consent = client.get(back)
    assert consent.status_code == 200 and 'name="pending"' in consent.content.decode()


def test_prompt_login_keeps_the_other_prompt_values(client, users, public_client):
    client.force_login(users["patient"])
    response = Flow(client, public_client).authorize(SCOPE, prompt="login consent")
    back = _sign_in_with_the_form(client, response, "patient")
    assert parse_qs(urlsplit(back).query)["prompt"] == ["consent"]


def test_cross_site_authorize_post_is_not_refused_by_csrf(users, public_client):
    """SMART 2.2 authorize-post: the app's own page posts the request to us, with no CSRF token
    of ours; it reaches the consent screen like the GET request does."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(users["patient"])
    flow = Flow(browser, public_client)
    response = browser.post("/o/authorize/", flow.params(SCOPE), HTTP_ORIGIN="https://app.example")
    assert response.status_code == 200, response.content[:300]
    assert 'name="pending"' in response.content.decode()
    html = response.content.decode()
    approval = {
        "pending": flow.consent_form(response),
        "grant_scope": SCOPE.split(),
        "action": "approve",
        "csrfmiddlewaretoken": re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1),
    }
    code = flow.code_from(browser.post("/o/authorize/", approval))  # our own form, its CSRF token
    assert flow.exchange(code).status_code == 200


def test_cross_site_authorize_post_without_session_goes_to_sign_in(users, public_client):
    browser = Client(enforce_csrf_checks=True)
    flow = Flow(browser, public_client)
    response = browser.post("/o/authorize/", flow.params(SCOPE), HTTP_ORIGIN="https://app.example")
    back = _sign_in_with_the_form(browser, response, "patient")
    assert browser.get(back).status_code == 200


def test_consent_post_without_csrf_token_is_refused(users, public_client):
    """The consent form stays CSRF-protected: a forged approval is 403 and issues nothing."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(users["patient"])
    flow = Flow(browser, public_client)
    pending = flow.consent_form(browser.get("/o/authorize/", flow.params(SCOPE)))
    grants = get_grant_model().objects.count()
    forged = {"pending": pending, "grant_scope": SCOPE.split(), "action": "approve"}
    response = browser.post("/o/authorize/", forged, HTTP_ORIGIN="https://evil.example")
    assert response.status_code == 403
    response = browser.post("/o/authorize/", forged)
    assert response.status_code == 403
    assert get_grant_model().objects.count() == grants
