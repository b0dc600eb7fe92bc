"""The token request's compiled row lookups return what their querysets return (smart_auth.compiled)."""

import hashlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from oauth2_provider.models import Grant, RefreshToken

from smart_auth.oauth2.validators import _GRANT_BY_CODE, _LIVE_REFRESH_TOKEN


pytestmark = pytest.mark.django_db
SCOPE = "launch/patient openid fhirUser patient/*.rs offline_access"


def _values(instance):
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


def _same(compiled, orm, path):
    """``compiled`` equals ``orm`` along the related objects named by ``path`` (a.b.c …), and
    reading them from ``compiled`` runs no query."""
    assert type(compiled) is type(orm) and _values(compiled) == _values(orm)
    assert compiled._state.db == orm._state.db and compiled._state.adding is False
    with CaptureQueriesContext(connection) as queries:
        for name in path:
            compiled = getattr(compiled, name)
            orm = getattr(orm, name)
            assert type(compiled) is type(orm) and _values(compiled) == _values(orm)
    assert not queries.captured_queries


def test_the_live_refresh_token_with_its_access_token_context_user_and_client(flow, users):
    body = flow.run(SCOPE, users["patient"]).json()
    checksum = hashlib.sha256(body["refresh_token"].encode()).hexdigest()
    orm = (
        RefreshToken.objects.filter(token_checksum=checksum, revoked__isnull=True)
        .select_related("access_token__smart", "user__smart", "application")
        .first()
    )
    compiled = _LIVE_REFRESH_TOKEN.first(checksum)
    _same(compiled, orm, ["access_token", "smart"])
    _same(compiled, orm, ["user", "smart"])
    _same(compiled, orm, ["application"])
    # A rotated (revoked) token is not live; an unknown one is nothing.
    assert flow.client.post(
        "/o/token/",
        f"grant_type=refresh_token&refresh_token={body['refresh_token']}",
        content_type="application/x-www-form-urlencoded",
    ).status_code == 200
    assert _LIVE_REFRESH_TOKEN.first(checksum) is None
    assert _LIVE_REFRESH_TOKEN.first("0" * 64) is None


def test_the_grant_with_its_context_and_user(flow, users):
    flow.client.force_login(users["patient"])
    code = flow.code_from(flow.approve(flow.authorize(SCOPE)))
    orm = Grant.objects.filter(code=code).select_related("smart", "user", "user__smart").first()
    compiled = _GRANT_BY_CODE.first(code)
    _same(compiled, orm, ["smart"])
    _same(compiled, orm, ["user", "smart"])
    assert _GRANT_BY_CODE.first("no-such-code") is None


def test_a_user_without_a_fhir_user_link_reads_as_missing_without_a_query(flow, users):
    from smart_auth.models import SmartUser

    flow.client.force_login(users["patient"])
    code = flow.code_from(flow.approve(flow.authorize(SCOPE)))
    SmartUser.objects.filter(user=users["patient"]).delete()
    compiled = _GRANT_BY_CODE.first(code)
    with CaptureQueriesContext(connection) as queries:
        with pytest.raises(SmartUser.DoesNotExist):
            compiled.user.smart  # noqa: B018 (the attribute access is the test)
    assert not queries.captured_queries
