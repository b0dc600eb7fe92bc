"""Bounded, derandomised Hypothesis fuzzing of the authorization server's inputs: SMART scope
strings (smart_auth.scopes and the authorization endpoint) and token-endpoint forms. Whatever the
input: no 5xx, only standard OAuth errors, and nothing issued, used up or removed."""

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from smart_auth import scopes as smart_scopes
from tests.conftest import FHIR, FORM, REDIRECT, pkce_pair
from tests.security.auth_helpers import state


FUZZ = settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Printable text without lone surrogates (which no HTTP client can send) but with NUL and controls.
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=24)
FRAGMENTS = st.sampled_from(
    [
        "patient/", "user/", "system/", "launch/", "fhircast/", "Observation", "Patient", "*", ".rs",
        ".cruds", ".read", ".write", ".*", ".c", ".sr", "?", "category=", "http://x|lab", "&", "=", "|",
        "launch", "openid", "fhirUser", "offline_access", "launch-token", "introspection", "Patient-open",
        "%20", "%00", "\x00", "\t", "\n", " ", "  ", "é", "𝔘", "role=", "patient", ".", "/",
    ]
)  # fmt: skip
SCOPE_STRINGS = st.lists(st.one_of(FRAGMENTS, TEXT), max_size=12).map("".join)
OAUTH_ERRORS = {
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_target",
}


@FUZZ
@given(SCOPE_STRINGS)
def test_scope_grammar_parses_or_says_scope_error(scope_string):
    """SMART 2.2 "Scopes": a string either parses into scopes that can be described and compared,
    or raises ScopeError (reported as invalid_scope), never anything else."""
    try:
        parsed = smart_scopes.parse_scopes(scope_string)
    except smart_scopes.ScopeError:
        return
    for scope in parsed:
        assert isinstance(scope.describe(), str)
        assert smart_scopes.is_permitted(scope, parsed)
        assert smart_scopes.is_narrowing(scope, parsed)


@pytest.mark.django_db
@FUZZ
@given(scope=SCOPE_STRINGS, prompt=st.sampled_from([None, "none", "consent", "login none"]))
def test_authorize_endpoint_with_any_scope_string(client, users, public_client, scope, prompt):
    """RFC 6749 §4.1.2.1: a bad scope is an invalid_scope redirect (or an error page), never a 5xx,
    and without the user's approval nothing is issued."""
    client.force_login(users["patient"])
    _, challenge = pkce_pair()
    before = state()
    params = {
        "response_type": "code",
        "client_id": public_client.client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "s",
        "aud": FHIR,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if prompt:
        params["prompt"] = prompt
    response = client.get("/o/authorize/", params)
    assert response.status_code < 500, response.content[:300]
    assert state() == before


TOKEN_FORMS = st.fixed_dictionaries(
    {},
    optional={
        "grant_type": st.one_of(
            st.sampled_from(
                [
                    "authorization_code",
                    "refresh_token",
                    "client_credentials",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                    "password",
                    "implicit",
                ]
            ),
            TEXT,
        ),
        "code": TEXT,
        "refresh_token": TEXT,
        "redirect_uri": st.one_of(st.just(REDIRECT), TEXT),
        "code_verifier": TEXT,
        "scope": SCOPE_STRINGS,
        "resource": st.one_of(st.sampled_from([FHIR, "https://evil.example/fhir", "urn:x", ""]), TEXT),
        "audience": TEXT,
        "client_assertion_type": st.one_of(
            st.just("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), TEXT
        ),
        "client_assertion": st.one_of(st.just("eyJhbGciOiJub25lIn0.e30."), TEXT),
        "client_secret": TEXT,
        "subject_token": TEXT,
        "subject_token_type": st.one_of(st.just("urn:ietf:params:oauth:token-type:access_token"), TEXT),
    },
)


BASIC_CREDENTIALS = st.one_of(
    st.none(),
    st.sampled_from(["Basic ", "Basic Og==", "Basic \x80", "Basic !!!", "Bearer a.b.c"]),
    TEXT.map("Basic ".__add__),
)


@pytest.mark.django_db
@FUZZ
@given(
    form=TOKEN_FORMS,
    client_choice=st.one_of(st.sampled_from(["public", "symmetric", "backend", None]), TEXT),
    authorization=BASIC_CREDENTIALS,
)
@example(
    form={"grant_type": "authorization_code", "code": "a\x00b", "redirect_uri": REDIRECT},
    client_choice="public",
    authorization=None,
)
@example(
    form={"grant_type": "refresh_token", "refresh_token": "\x00"}, client_choice="x\x00", authorization=None
)
@example(form={"grant_type": "client_credentials"}, client_choice=None, authorization="Basic \x80")
def test_token_endpoint_with_any_form(
    client, public_client, symmetric_client, backend_client, form, client_choice, authorization
):
    """RFC 6749 §5.2: every refusal is one of the standard errors in a JSON body, 400 or 401;
    no token, grant or launch-token row appears, changes or disappears."""
    from urllib.parse import urlencode

    clients = {"public": public_client, "symmetric": symmetric_client, "backend": backend_client}
    data = dict(form)
    if client_choice in clients:
        data["client_id"] = clients[client_choice].client_id
    elif client_choice is not None:
        data["client_id"] = client_choice
    before = state()
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
    response = client.post("/o/token/", urlencode(data), content_type=FORM, **headers)
    assert response.status_code in (400, 401), response.content[:300]
    assert response.json()["error"] in OAUTH_ERRORS
    assert state() == before


INTROSPECTION_FORMS = st.fixed_dictionaries(
    {},
    optional={
        "token": st.one_of(st.just("lt_"), TEXT, TEXT.map("lt_".__add__)),
        "token_type_hint": st.one_of(st.sampled_from(["access_token", "refresh_token"]), TEXT),
        "client_id": TEXT,
        "client_secret": TEXT,
        "client_assertion_type": st.one_of(
            st.just("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), TEXT
        ),
        "client_assertion": TEXT,
    },
)
AUTHORIZATIONS = st.one_of(
    st.none(),
    st.sampled_from(["Basic ", "Bearer ", "Basic Og==", "Basic !!!", "Bearer a.b.c", "Digest x"]),
    TEXT.map("Basic ".__add__),
    TEXT.map("Bearer ".__add__),
)


@pytest.mark.django_db
@FUZZ
@given(form=INTROSPECTION_FORMS, authorization=AUTHORIZATIONS)
@example(form={"token": "lt_x", "client_id": "public"}, authorization="Basic cHVibGljOg==")
def test_introspection_endpoint_with_any_form(client, public_client, form, authorization):
    """RFC 7662 §2.3 / RFC 6749 §5.2: any caller that cannot authenticate gets 401 with a
    challenge (or 400 for a malformed request); nothing is consumed."""
    from urllib.parse import urlencode

    data = dict(form)
    if data.get("client_id") == "public":
        data["client_id"] = public_client.client_id
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
    before = state()
    response = client.post("/o/introspect/", urlencode(data), content_type=FORM, **headers)
    assert response.status_code in (400, 401, 403), response.content[:300]
    if response.status_code == 401:
        assert "WWW-Authenticate" in response
    assert state() == before
