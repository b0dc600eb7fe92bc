"""Backend services: client_credentials with private_key_jwt (SMART 2.2 "Backend Services" and
"Client Authentication: Asymmetric"; checklist b.8, X6)."""

import time

import jwt
import pytest
from oauth2_provider.models import AccessToken

from smart_auth.models import AuditEvent
from smart_auth.oauth2 import client_auth
from smart_auth.registration import register_client
from tests.conftest import TOKEN_URL, ClientKey, token_post


pytestmark = pytest.mark.django_db
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def request_token(client, app, assertion=None, scope="system/*.rs", **extra):
    data = {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion if assertion is not None else app.key.assertion(app.client_id),
    }
    data.update(extra)
    return token_post(
        client, {k: v for k, v in data.items() if v is not None}, HTTP_ACCEPT="application/json"
    )


def test_valid_request_issues_a_short_lived_system_token(client, backend_client):
    """B4–B7: 200, bearer, expires_in ≤ 300, only pre-authorized scopes."""
    response = request_token(client, backend_client, scope="system/*.rs system/Observation.c user/*.rs")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"].lower() == "bearer"
    assert body["expires_in"] <= 300
    assert body["scope"] == "system/*.rs"
    assert "refresh_token" not in body and "id_token" not in body
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == backend_client.client_id and "patient" not in claims
    assert claims["aud"] == "http://testserver/fhir"


def test_wrong_assertion_type(client, backend_client):
    """B2."""
    response = request_token(client, backend_client, client_assertion_type="not_an_assertion_type")
    assert response.status_code in (400, 401) and response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("claims", "headers"),
    [
        ({"aud": "http://testserver/o/other"}, None),
        ({"exp": int(time.time()) - 120}, None),
        ({"exp": int(time.time()) + 3600}, None),
        ({"sub": "someone-else"}, None),
        ({"jti": None}, None),
        ({"exp": None}, None),
        ({"iss": None}, None),
        ({}, {"typ": "at+jwt"}),
        ({}, {"kid": None}),
        ({}, {"kid": "unknown-kid"}),
        ({}, {"jku": "https://attacker.example/jwks.json"}),
    ],
)
def test_bad_assertions_are_invalid_client(client, backend_client, claims, headers):
    """B3, B8, X6: wrong aud, expired, exp > 5 min ahead, iss ≠ sub, missing claims or header
    fields, an unknown kid, a jku that is not the registered JWKS URL."""
    assertion = backend_client.key.assertion(backend_client.client_id, headers=headers, **claims)
    response = request_token(client, backend_client, assertion=assertion)
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"
    assert not AccessToken.objects.exists()
    assert AuditEvent.objects.filter(outcome="refused", action="client_credentials").exists()


def test_assertion_signed_by_an_unregistered_key(client, backend_client):
    stranger = ClientKey("ES384")
    stranger.kid = backend_client.key.kid  # same kid, different key
    response = request_token(client, backend_client, assertion=stranger.assertion(backend_client.client_id))
    assert response.status_code == 401


def test_replayed_jti_is_refused(client, backend_client):
    """B9: a jti seen before for the same iss is rejected."""
    assertion = backend_client.key.assertion(backend_client.client_id)
    assert request_token(client, backend_client, assertion=assertion).status_code == 200
    replay = request_token(client, backend_client, assertion=assertion)
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"


def test_hs256_or_none_alg_is_refused(client, backend_client):
    forged = jwt.encode(
        {
            "iss": backend_client.client_id,
            "sub": backend_client.client_id,
            "aud": TOKEN_URL,
            "exp": int(time.time()) + 60,
            "jti": "x1",
        },
        "secret",
        algorithm="HS256",
        headers={"kid": backend_client.key.kid, "typ": "JWT"},
    )
    assert request_token(client, backend_client, assertion=forged).status_code == 401


def test_rs384_key_from_jwks_url_with_cache_and_rotation(client, jwks_server):
    """Keys fetched from the registered JWKS URL, cached per Cache-Control; a new kid refetches."""
    key = ClientKey("RS384")
    jwks_server.jwks = key.jwks
    app, _ = register_client(
        {
            "client_name": "By URL",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": jwks_server.url,
            "scope": "system/*.rs",
        }
    )
    app.key = key
    assert request_token(client, app).status_code == 200
    assert request_token(client, app).status_code == 200
    assert jwks_server.hits == 1  # cached (max-age=300)
    rotated = ClientKey("RS384")
    client_auth.jwks_cache().min_refetch_interval = 0  # an unknown kid may refetch at once
    jwks_server.jwks = {"keys": [key.jwk, rotated.jwk]}
    app.key = rotated
    assert request_token(client, app).status_code == 200
    assert jwks_server.hits == 2
    ok_jku = rotated.assertion(app.client_id, headers={"jku": jwks_server.url})
    assert request_token(client, app, assertion=ok_jku).status_code == 200


def test_jwks_cache_honours_no_store(client, jwks_server):
    key = ClientKey("ES384")
    jwks_server.jwks = key.jwks
    jwks_server.cache_control = "no-store"
    app, _ = register_client(
        {
            "client_name": "No cache",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": jwks_server.url,
            "scope": "system/*.rs",
        }
    )
    app.key = key
    request_token(client, app)
    request_token(client, app)
    assert jwks_server.hits == 2


def test_two_keys_with_the_same_kid_are_ambiguous(client):
    """SMART: exactly one key must match kid and alg."""
    key = ClientKey("RS384")
    twin = ClientKey("RS384")
    twin.jwk["kid"] = key.kid
    app, _ = register_client(
        {
            "client_name": "Twins",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [key.jwk, twin.jwk]},
            "scope": "system/*.rs",
        }
    )
    app.key = key
    assert request_token(client, app).status_code == 401


def test_disabled_client_is_refused(client, backend_client):
    backend_client.smart.enabled = False
    backend_client.smart.save()
    assert request_token(client, backend_client).status_code == 401


def test_public_client_cannot_use_client_credentials(client, public_client):
    response = token_post(
        client,
        {"grant_type": "client_credentials", "client_id": public_client.client_id, "scope": "system/*.rs"},
    )
    assert response.status_code in (400, 401)
