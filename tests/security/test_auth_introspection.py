"""Introspection attacks (RFC 7662 §2.1/§2.3/§4, RFC 6749 §2.1/§5.2, RFC 6750 §3).

Rule: only an authenticated confidential client, or a bearer token with the ``introspection``
scope, may introspect. A designated resource server (registered with the ``introspection`` scope)
sees every token and its introspection consumes a launch-token; any other client sees only its own
tokens and never uses up a launch-token.
"""

import pytest

from smart_auth.introspection import introspect as introspect_in_process
from tests.conftest import Flow
from tests.security.auth_helpers import backend_token, basic, introspect, state


pytestmark = pytest.mark.django_db
SCOPE = "launch/patient openid fhirUser patient/*.rs launch-token"


@pytest.fixture
def issued(client, users, public_client):
    """A public app's access token and launch-token (the victim's)."""
    body = Flow(client, public_client).run(SCOPE, users["patient"]).json()
    assert body["launch_token"].startswith("lt_")
    client.logout()
    return body


def _designated_sees_launch_token_active(client, backend_client, value):
    bearer = backend_token(client, backend_client).json()["access_token"]
    return introspect(client, value, HTTP_AUTHORIZATION=f"Bearer {bearer}").json()["active"]


def _assert_unauthorized(response, scheme):
    assert response.status_code == 401
    assert response.json()["error"] in ("invalid_client", "invalid_token")
    assert scheme in response["WWW-Authenticate"]


def test_public_client_id_alone_is_refused(client, public_client, backend_client, issued):
    """RFC 6749 §2.1: a public client cannot authenticate, so it may not introspect (RFC 7662 §2.1);
    its attempt neither reveals the token nor uses up the launch-token."""
    before = state()
    for token in (issued["access_token"], issued["launch_token"]):
        response = introspect(client, token, f"&client_id={public_client.client_id}")
        _assert_unauthorized(response, "Basic")
        assert "active" not in response.json()
    assert state() == before
    assert _designated_sees_launch_token_active(client, backend_client, issued["launch_token"]) is True


def test_public_client_basic_with_empty_secret_is_refused(client, public_client, backend_client, issued):
    """RFC 6749 §2.3.1 / §5.2: HTTP Basic with an empty secret is no client authentication."""
    before = state()
    for token in (issued["access_token"], issued["launch_token"]):
        response = introspect(client, token, HTTP_AUTHORIZATION=basic(public_client.client_id))
        _assert_unauthorized(response, "Basic")
    assert state() == before
    assert _designated_sees_launch_token_active(client, backend_client, issued["launch_token"]) is True


def test_missing_or_wrong_credentials_answer_401_with_challenge(client, symmetric_client, issued):
    """RFC 7662 §2.3 + RFC 6749 §5.2: 401 invalid_client with WWW-Authenticate, not 403."""
    before = state()
    _assert_unauthorized(introspect(client, issued["access_token"]), "Bearer")
    wrong = basic(symmetric_client.client_id, "not-the-secret")
    _assert_unauthorized(introspect(client, issued["access_token"], HTTP_AUTHORIZATION=wrong), "Basic")
    unknown = basic("no-such-client", "secret")
    _assert_unauthorized(introspect(client, issued["access_token"], HTTP_AUTHORIZATION=unknown), "Basic")
    assert state() == before


def test_invalid_bearer_401_and_token_without_scope_403(client, issued):
    """RFC 6750 §3.1: invalid_token is 401, insufficient_scope 403, each with its challenge."""
    before = state()
    response = introspect(client, issued["access_token"], HTTP_AUTHORIZATION="Bearer not-a-token")
    _assert_unauthorized(response, 'error="invalid_token"')
    response = introspect(
        client, issued["launch_token"], HTTP_AUTHORIZATION=f"Bearer {issued['access_token']}"
    )
    assert response.status_code == 403 and response.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in response["WWW-Authenticate"]
    assert state() == before


def test_confidential_client_sees_only_its_own_tokens(
    client, users, symmetric_client, backend_client, issued
):
    """RFC 7662 §4: a client that is no designated resource server learns nothing of other
    clients' tokens and cannot use up a launch-token, not even its own."""
    own = Flow(client, symmetric_client).run(SCOPE, users["patient"], auth="basic").json()
    client.logout()
    credentials = basic(symmetric_client.client_id, symmetric_client.plain_secret)
    before = state()
    for token in (issued["access_token"], issued["launch_token"], own["launch_token"]):
        response = introspect(client, token, HTTP_AUTHORIZATION=credentials)
        assert response.status_code == 200 and response.json() == {"active": False}
    assert introspect(client, own["access_token"], HTTP_AUTHORIZATION=credentials).json()["active"] is True
    assert state() == before
    assert _designated_sees_launch_token_active(client, backend_client, issued["launch_token"]) is True
    assert _designated_sees_launch_token_active(client, backend_client, own["launch_token"]) is True


def test_designated_resource_server_consumes_launch_token_once(client, backend_client, issued):
    """Launch-tokens are single-use: the designated peer's introspection uses it up, by
    private_key_jwt as well as by bearer token."""
    assertion = backend_client.key.assertion(backend_client.client_id, aud="http://testserver/o/introspect/")
    response = introspect(
        client,
        issued["launch_token"],
        f"&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        f"&client_assertion={assertion}",
    )
    assert response.status_code == 200 and response.json()["active"] is True
    assert response.json()["patient"]
    assert _designated_sees_launch_token_active(client, backend_client, issued["launch_token"]) is False


def test_in_process_resource_servers_never_use_up_a_launch_token(client, backend_client, issued):
    """The FHIR API and the hub introspect in process (no caller): a launch-token is no access
    token for them, and showing them one leaves it for the server it is meant for."""
    assert introspect_in_process(issued["launch_token"]) == {"active": False}
    assert introspect_in_process(issued["access_token"])["active"] is True
    assert _designated_sees_launch_token_active(client, backend_client, issued["launch_token"]) is True


def test_client_registry_answers_401_with_challenge(client, public_client, issued):
    """The same rule at the client registry (RFC 6750 §3): no or a bad token is 401 with
    WWW-Authenticate, a token without the introspection scope 403 insufficient_scope."""
    path = f"/o/clients/{public_client.client_id}"
    missing = client.get(path)
    assert missing.status_code == 401 and missing["WWW-Authenticate"].startswith("Bearer ")
    bad = client.get(path, HTTP_AUTHORIZATION="Bearer not-a-token")
    assert bad.status_code == 401 and 'error="invalid_token"' in bad["WWW-Authenticate"]
    user_token = client.get(path, HTTP_AUTHORIZATION=f"Bearer {issued['access_token']}")
    assert user_token.status_code == 403 and user_token.json()["error"] == "insufficient_scope"
