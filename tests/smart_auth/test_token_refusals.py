"""Token-endpoint refusals say why (issue 14): error_description names the reason, the audit
record keeps it, the log has it at WARNING, and no secret appears in any of them."""

import logging

import pytest

from smart_auth.models import AuditEvent
from tests.conftest import TOKEN_URL, token_post
from tests.smart_auth.test_backend_services import request_token


pytestmark = pytest.mark.django_db


def test_wrong_assertion_aud_names_the_token_endpoint(client, backend_client, caplog):
    assertion = backend_client.key.assertion(backend_client.client_id, aud="https://elsewhere.example/token")
    with caplog.at_level(logging.WARNING, logger="smart_auth.audit"):
        response = request_token(client, backend_client, assertion=assertion)
    assert response.status_code in (400, 401)
    body = response.json()
    assert body["error"] == "invalid_client"
    assert body["error_description"] == f"client assertion aud must be {TOKEN_URL}"
    event = AuditEvent.objects.filter(outcome="refused").latest("pk")
    assert event.detail == f"invalid_client: client assertion aud must be {TOKEN_URL}"
    audit = [r for r in caplog.records if r.name == "smart_auth.audit"]
    assert audit and audit[-1].levelno == logging.WARNING
    warned = [r.getMessage() for r in audit]
    assert TOKEN_URL in warned[-1]
    assert assertion not in warned[-1] and assertion not in event.detail


@pytest.mark.parametrize("aud", [[{"url": TOKEN_URL}], [[TOKEN_URL]], 7])
def test_an_assertion_aud_that_is_no_string_is_invalid_client(client, backend_client, aud):
    """RFC 7523 §3: aud is a StringOrURI (or an array of them); anything else is refused as
    invalid_client, not a 500 (unhashable values in the aud check)."""
    assertion = backend_client.key.assertion(backend_client.client_id, aud=aud)
    response = request_token(client, backend_client, assertion=assertion)
    assert response.status_code in (400, 401), response.content[:300]
    assert response.json()["error"] == "invalid_client"


def test_assertion_aud_equal_to_discovered_token_endpoint_is_accepted(client, backend_client):
    discovered = client.get("/fhir/.well-known/smart-configuration").json()["token_endpoint"]
    assertion = backend_client.key.assertion(backend_client.client_id, aud=discovered)
    response = request_token(client, backend_client, assertion=assertion)
    assert response.status_code == 200, response.content


def test_expired_assertion_says_so(client, backend_client):
    import time

    assertion = backend_client.key.assertion(backend_client.client_id, exp=int(time.time()) - 300)
    body = request_token(client, backend_client, assertion=assertion).json()
    assert body["error"] == "invalid_client"
    assert "expired" in body["error_description"]


def test_wrong_client_secret_is_explained_without_the_secret(client, symmetric_client):
    secret = "not-the-secret-" + "x" * 20
    response = token_post(
        client,
        {
            "grant_type": "authorization_code",
            "code": "whatever",
            "redirect_uri": "https://app.example/callback",
            "client_id": symmetric_client.client_id,
            "client_secret": secret,
        },
    )
    body = response.json()
    assert body["error"] == "invalid_client"
    assert body["error_description"] == "Client authentication failed: unknown client or wrong credentials"
    event = AuditEvent.objects.filter(outcome="refused").latest("pk")
    assert "Client authentication failed" in event.detail and secret not in event.detail
