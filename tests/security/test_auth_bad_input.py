"""Bad input to smart_auth's endpoints: a standard OAuth error (RFC 6749 §5.2 ``invalid_request``),
nothing stored, never a 500. Deep JSON, bodies past Django's limits, NUL characters (which
PostgreSQL cannot store) and values longer than their columns."""

import pytest
from django.conf import settings
from django.test import Client

from smart_auth.models import LaunchContext
from tests.conftest import FORM
from tests.security.auth_helpers import basic, state


pytestmark = pytest.mark.django_db
DEEP = "[" * 50_000 + "]" * 50_000


@pytest.fixture
def browser():
    return Client(raise_request_exception=False)  # a 500 is an answer here, not a test crash


@pytest.fixture
def ehr_user(browser, users):
    browser.force_login(users["clinician"])
    return browser


def _invalid_request(response):
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"] == "invalid_request"


def _launch(browser, public_client, **fields):
    return browser.post("/o/launch/", {"client_id": public_client.client_id, "patient": "pat-1", **fields})


def test_launch_api_refuses_deeply_nested_fhir_context(ehr_user, public_client):
    before = LaunchContext.objects.count()
    _invalid_request(_launch(ehr_user, public_client, fhirContext=DEEP))
    _invalid_request(_launch(ehr_user, public_client, fhirContext='[{"a": "' + "x" * 100_000 + '"}]'))
    assert LaunchContext.objects.count() == before


def test_launch_api_refuses_values_longer_than_their_columns(ehr_user, public_client):
    before = LaunchContext.objects.count()
    for name in ("encounter", "intent", "tenant"):
        _invalid_request(_launch(ehr_user, public_client, **{name: "x" * 300}))
    _invalid_request(_launch(ehr_user, public_client, smart_style_url="javascript:alert(1)"))
    _invalid_request(_launch(ehr_user, public_client, iss="https://evil.example/fhir"))
    assert LaunchContext.objects.count() == before
    assert _launch(ehr_user, public_client).status_code == 201


@pytest.mark.parametrize("path", ["/o/token/", "/o/introspect/", "/o/revoke_token/", "/o/launch/"])
def test_bodies_past_django_limits_answer_invalid_request(ehr_user, public_client, path):
    """RequestDataTooBig / TooManyFieldsSent become invalid_request, not Django's HTML 400."""
    before = state()
    huge = "token=" + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440)
    _invalid_request(ehr_user.post(path, huge, content_type=FORM))
    many = "&".join(f"f{i}=1" for i in range(1500))
    _invalid_request(ehr_user.post(path, many, content_type=FORM))
    assert state() == before


@pytest.mark.parametrize("path", ["/o/token/", "/o/introspect/", "/o/revoke_token/"])
def test_nul_characters_answer_invalid_request(browser, public_client, symmetric_client, path):
    """PostgreSQL refuses NUL in text: caught before any lookup (identical on SQLite)."""
    before = state()
    body = f"grant_type=refresh_token&refresh_token=a%00b&token=a%00b&client_id={public_client.client_id}%00"
    _invalid_request(browser.post(path, body, content_type=FORM))
    auth = basic(symmetric_client.client_id, symmetric_client.plain_secret)
    _invalid_request(browser.post(path, "token=x%00", content_type=FORM, HTTP_AUTHORIZATION=auth))
    assert state() == before


def test_authorize_refuses_nul_characters(browser, users, public_client):
    browser.force_login(users["patient"])
    response = browser.get(
        "/o/authorize/", {"client_id": public_client.client_id + "\x00", "scope": "openid"}
    )
    assert response.status_code == 400
    assert b"invalid_request" in response.content


class RawServer:
    """A real HTTP server on 127.0.0.1 answering every GET and POST with one fixed body."""

    def __init__(self, body):
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802  (http.server API)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("body", [DEEP.encode(), b'{"keys": [], "pad": "' + b"x" * 400_000 + b'"}'])
def test_client_jwks_url_answering_deep_or_huge_json_is_invalid_client(browser, body):
    """A client's JWKS URL is input too (SMART "Asymmetric client authentication"): a deeply
    nested or oversized answer is invalid_client (RFC 6749 §5.2), never a 500."""
    from smart_auth.oauth2 import client_auth
    from smart_auth.registration import register_client
    from tests.conftest import ClientKey, token_post
    from tests.security.auth_helpers import ASSERTION_TYPE

    server = RawServer(body)
    client_auth.jwks_cache().clear()
    try:
        key = ClientKey("RS384")
        app, _ = register_client(
            {
                "client_name": "Hostile JWKS",
                "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": server.url,
                "scope": "system/*.rs",
            }
        )
        before = state()
        response = token_post(
            browser,
            {
                "grant_type": "client_credentials",
                "scope": "system/*.rs",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": key.assertion(app.client_id),
            },
        )
        assert response.status_code == 401 and response.json()["error"] == "invalid_client"
        assert state() == before
    finally:
        server.close()
        client_auth.jwks_cache().clear()


def test_overlong_request_values_are_refused_and_audited_without_error(browser, public_client):
    """A grant_type or client_id longer than the audit columns (which PostgreSQL enforces) is
    still answered with the standard error, and the refusal is on record."""
    from smart_auth.models import AuditEvent

    before = state()
    body = f"grant_type={'g' * 100}&client_id={'c' * 300}"
    response = browser.post("/o/token/", body, content_type=FORM)
    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("unsupported_grant_type", "invalid_client", "invalid_request")
    event = AuditEvent.objects.get(outcome="refused")
    assert len(event.action) <= 64 and len(event.client_id) <= 255
    assert state() == before


@pytest.mark.parametrize(
    "extra",
    [{"code_challenge": "c" * 300}, {"code_challenge": "short"}, {"nonce": "n" * 300}],
    ids=["long-challenge", "short-challenge", "long-nonce"],
)
def test_authorize_refuses_parameters_its_grant_cannot_hold(browser, users, public_client, extra):
    """RFC 7636 §4.2 (code_challenge is 43-128 unreserved characters) and the Grant's nonce
    column: an invalid_request redirect at once, not a 500 when the code is created."""
    from urllib.parse import parse_qs, urlsplit

    from tests.conftest import Flow

    public_client.skip_authorization = True  # the code would be created on this very request
    public_client.save(update_fields=["skip_authorization"])
    browser.force_login(users["patient"])
    before = state()
    response = Flow(browser, public_client).authorize("launch/patient openid patient/*.rs", **extra)
    assert response.status_code == 302
    assert parse_qs(urlsplit(response["Location"]).query)["error"] == ["invalid_request"]
    assert state() == before


@pytest.mark.parametrize("body", [DEEP.encode(), b"not json"], ids=["deep", "not-json"])
def test_trusted_ehr_answering_deep_json_is_a_refusal_not_a_500(browser, body):
    """Token exchange (RFC 8693 §2.2.2) whose trusted EHR answers absurd JSON: the standard
    error, nothing issued."""
    from django.test import override_settings

    from smart_auth.registration import register_client
    from tests.conftest import ClientKey, token_post
    from tests.keys import TEST_SIGNING_KEY
    from tests.security.auth_helpers import ASSERTION_TYPE

    server = RawServer(body)
    base = server.url.rsplit("/", 1)[0]
    ehr = {
        "issuer": f"{base}/o",
        "fhir_base": f"{base}/fhir",
        "client_id": "imaging",
        "private_key": TEST_SIGNING_KEY,
        "kid": "k",
        "token_endpoint": server.url,
        "introspection_endpoint": server.url,
    }
    key = ClientKey("RS384")
    app, _ = register_client(
        {
            "client_name": "Exchanger",
            "grant_types": ["urn:ietf:params:oauth:grant-type:token-exchange"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": key.jwks,
            "scope": "user/*.rs",
        }
    )
    before = state()
    try:
        with override_settings(
            SMART_AUTH={"FHIR_BASE_URLS": ["http://testserver/fhir"], "TRUSTED_EHRS": [ehr]}
        ):
            response = token_post(
                browser,
                {
                    "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                    "subject_token": "opaque",
                    "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
                    "scope": "user/*.rs",
                    "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": key.assertion(app.client_id),
                },
            )
    finally:
        server.close()
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"] == "invalid_request"
    assert state() == before
