"""Refresh (SMART 2.2 "Refresh access token"; checklist b.6, X9)."""

import pytest
from oauth2_provider.models import AccessToken

from tests.conftest import Flow, token_post


pytestmark = pytest.mark.django_db
SCOPE = "launch/patient openid fhirUser patient/*.rs offline_access"


def refresh(client, token, **extra):
    return token_post(client, {"grant_type": "refresh_token", "refresh_token": token, **extra})


def test_public_client_refreshes_without_client_id(flow, users):
    """R1–R3, R9: SMART's refresh request has no client_id for public clients."""
    first = flow.run(SCOPE, users["patient"]).json()
    response = refresh(flow.client, first["refresh_token"])
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["access_token"] != first["access_token"]
    assert body["scope"] == first["scope"]
    assert body["patient"] == "pat-1"  # launch context survives refresh
    assert "no-store" in response["Cache-Control"] and "no-cache" in response["Pragma"]


def test_rotation_and_reuse_detection(flow, users):
    """R6 / RFC 9700 §4.14: rotated refresh tokens; reusing an old one revokes the family."""
    first = flow.run(SCOPE, users["patient"]).json()
    second = refresh(flow.client, first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert refresh(flow.client, first["refresh_token"]).status_code == 400
    assert refresh(flow.client, second["refresh_token"]).status_code == 400  # family revoked


def test_refresh_may_narrow_but_never_widen(flow, users):
    """R4: no new scopes on refresh; narrowing (even to a category) is allowed."""
    first = flow.run(SCOPE, users["patient"]).json()
    wider = refresh(flow.client, first["refresh_token"], scope=SCOPE + " user/*.rs")
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    narrow = refresh(
        flow.client,
        first["refresh_token"],
        scope="patient/Observation.rs?category=http://x|lab offline_access",
    )
    assert narrow.status_code == 200, narrow.content
    assert narrow.json()["scope"] == "patient/Observation.rs?category=http://x|lab offline_access"


def test_refresh_with_random_token_is_refused(flow):
    """R8."""
    response = refresh(
        flow.client, "5f3a0b6e-1111-4e2b-9c61-000000000000", client_id=flow.application.client_id
    )
    assert response.status_code in (400, 401)


def test_refresh_token_cannot_be_used_by_another_client(client, users, public_client, symmetric_client):
    """X9."""
    first = Flow(client, public_client).run(SCOPE, users["patient"]).json()
    response = refresh(
        client,
        first["refresh_token"],
        client_id=symmetric_client.client_id,
        client_secret=symmetric_client.plain_secret,
    )
    assert response.status_code in (400, 401)
    assert AccessToken.objects.count() == 1


def test_refresh_cannot_widen_the_audience(flow, users):
    """RFC 8707 §2.2: a refresh may narrow the resource, never add one."""
    first = flow.run(SCOPE, users["patient"]).json()
    response = refresh(flow.client, first["refresh_token"], resource="http://imaging.test/fhir")
    assert response.status_code == 400 and response.json()["error"] == "invalid_target"


def test_confidential_client_must_authenticate_to_refresh(client, users, symmetric_client):
    first = Flow(client, symmetric_client).run(SCOPE, users["patient"], auth="basic").json()
    assert refresh(client, first["refresh_token"]).status_code == 401
    ok = refresh(
        client,
        first["refresh_token"],
        client_id=symmetric_client.client_id,
        client_secret=symmetric_client.plain_secret,
    )
    assert ok.status_code == 200


def test_a_revocation_that_lands_during_a_refresh_wins(flow, users, monkeypatch):
    """RFC 7009 §2.1 / RFC 9700 §4.14.2: a refresh token revoked after the refresh request read
    it but before the rotation is written gets no new tokens (the rotation re-checks it in its
    own write transaction; on SQLite refreshes are serialised per token, not by a row lock)."""
    from django.utils import timezone
    from oauth2_provider.models import RefreshToken

    from smart_auth.oauth2.validators import SmartOAuth2Validator

    first = flow.run(SCOPE, users["patient"]).json()
    validate = SmartOAuth2Validator.validate_refresh_token

    def validate_then_revoke_elsewhere(self, token, client, request, *args, **kwargs):
        valid = validate(self, token, client, request, *args, **kwargs)
        RefreshToken.objects.filter(pk=request.refresh_token_instance.pk).update(revoked=timezone.now())
        return valid

    monkeypatch.setattr(SmartOAuth2Validator, "validate_refresh_token", validate_then_revoke_elsewhere)
    tokens_before = AccessToken.objects.count()
    response = refresh(flow.client, first["refresh_token"])
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_grant"
    assert AccessToken.objects.count() == tokens_before


def test_a_refresh_ends_the_previous_access_token_at_once(flow, users):
    """RFC 9700 §4.14.2 rotation: the access token paired with the presented refresh token is
    revoked with it, and the FHIR server (which caches a token it has checked) refuses it on the
    very next request, as does introspection."""
    first = flow.run(SCOPE, users["patient"]).json()
    old = {"HTTP_AUTHORIZATION": f"Bearer {first['access_token']}"}
    assert flow.client.get("/fhir/Patient/pat-1", **old).status_code != 401  # checked, cached
    second = refresh(flow.client, first["refresh_token"]).json()
    assert flow.client.get("/fhir/Patient/pat-1", **old).status_code == 401
    new = {"HTTP_AUTHORIZATION": f"Bearer {second['access_token']}"}
    assert flow.client.get("/fhir/Patient/pat-1", **new).status_code != 401
    assert not AccessToken.objects.filter(token_checksum=_checksum(first["access_token"])).exists()


def test_a_vendor_receiver_on_refresh_tokens_still_sees_the_rotation(flow, users):
    """A project that listens to refresh-token saves gets DOT's own rotation, which saves the
    revoked row; rotation and reuse detection work the same."""
    from django.db.models.signals import post_save
    from oauth2_provider.models import RefreshToken

    saved = []

    def receiver(sender, instance, created, **kwargs):
        saved.append((created, instance.revoked is not None))

    post_save.connect(receiver, sender=RefreshToken)
    try:
        first = flow.run(SCOPE, users["patient"]).json()
        saved.clear()
        second = refresh(flow.client, first["refresh_token"])
        assert second.status_code == 200, second.content
        assert (False, True) in saved  # the presented token, saved revoked
        assert (True, False) in saved  # its successor
        assert refresh(flow.client, first["refresh_token"]).status_code == 400
        assert refresh(flow.client, second.json()["refresh_token"]).status_code == 400
    finally:
        post_save.disconnect(receiver, sender=RefreshToken)


def _checksum(value):
    import hashlib

    return hashlib.sha256(value.encode()).hexdigest()
