"""A row saved by smart_auth.compiled.insert is the row Model.save() writes, compiled.delete takes
what Model.delete() takes, and a project's save and delete receivers still run."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models.signals import post_save, pre_save
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from oauth2_provider.models import AccessToken, RefreshToken

from smart_auth import compiled
from smart_auth.models import AuditEvent, RedeemedCode, TokenContext


pytestmark = pytest.mark.django_db
GENERATED = {"id", "created", "updated"}  # differ between two saves by nature


def _stored(instance):
    row = type(instance).objects.get(pk=instance.pk)
    return {f.attname: getattr(row, f.attname) for f in row._meta.concrete_fields}


def _both(make):
    """Save one instance from ``make()`` with save() and one with compiled.insert(); return
    their stored rows."""
    by_orm, by_insert = make(), make()
    by_orm.save()
    with CaptureQueriesContext(connection) as queries:
        assert compiled.insert(by_insert) is by_insert
    assert len(queries.captured_queries) == 1  # one INSERT, nothing read back separately
    assert by_insert.pk is not None and by_insert.pk != by_orm.pk
    assert by_insert._state.adding is False and by_insert._state.db == "default"
    return _stored(by_orm), _stored(by_insert), by_insert


def _same_apart_from_generated(orm, inserted):
    assert {k: v for k, v in orm.items() if k not in GENERATED} == {
        k: v for k, v in inserted.items() if k not in GENERATED
    }


def test_an_access_and_refresh_token_with_resource_checksum_and_timestamps(users, public_client):
    expires = timezone.now() + timedelta(hours=1)
    counter = iter(range(100))

    def access_token():
        token = AccessToken(
            user=users["patient"],
            scope="patient/*.rs openid",
            expires=expires,
            application=public_client,
            resource=["https://ehr.example/fhir", "https://pacs.example/fhir"],
        )
        token.token = f"access-{next(counter)}"
        return token

    orm, inserted, saved = _both(access_token)
    _same_apart_from_generated(
        {**orm, "token": "", "token_checksum": ""}, {**inserted, "token": "", "token_checksum": ""}
    )
    # The checksum is computed from the value as save() computes it (TokenChecksumField.pre_save).
    assert inserted["token_checksum"] == AccessToken.objects.get(pk=saved.pk).token_checksum
    assert len(inserted["token_checksum"]) == 64 and inserted["token_checksum"] != orm["token_checksum"]
    assert inserted["created"] and inserted["updated"] and inserted["created"] >= orm["created"]
    assert inserted["resource"] == ["https://ehr.example/fhir", "https://pacs.example/fhir"]

    family = uuid.uuid4()
    second = access_token()
    second.save()
    access_tokens = iter([saved, second])

    def refresh_token():
        token = RefreshToken(
            user=users["patient"],
            application=public_client,
            access_token=next(access_tokens),
            token_family=family,
        )
        token.token = f"refresh-{next(counter)}"
        return token

    orm, inserted, _ = _both(refresh_token)
    ignored = {"token": "", "token_checksum": "", "access_token_id": 0}
    _same_apart_from_generated({**orm, **ignored}, {**inserted, **ignored})
    assert inserted["access_token_id"] == second.pk and inserted["revoked"] is None
    assert inserted["token_family"] == family


def test_our_own_rows_json_uuid_and_foreign_keys(users, public_client):
    expires = timezone.now() + timedelta(hours=1)
    token = AccessToken.objects.create(
        user=users["patient"], scope="openid", expires=expires, application=public_client, token="t1"
    )
    other = AccessToken.objects.create(
        user=users["patient"], scope="openid", expires=expires, application=public_client, token="t2"
    )
    family = uuid.uuid4()
    targets = iter([token, other])

    def context():
        return TokenContext(
            access_token=next(targets),
            token_family=family,
            context={"patient": "p1", "encounter": "e1", "fhirContext": [{"reference": "ImagingStudy/1"}]},
            identity={"iss": "https://ehr.example", "sub": "42"},
            jti="a-jti",
        )

    orm, inserted, _ = _both(context)
    assert inserted["access_token_id"] == other.pk and inserted["token_family"] == family
    _same_apart_from_generated({**orm, "access_token_id": 0}, {**inserted, "access_token_id": 0})

    def event():
        return AuditEvent(
            outcome="issued",
            action="authorization_code",
            client_id="app",
            user="alice",
            patient="p1",
            scope="patient/*.rs",
            audience=["https://ehr.example/fhir"],
        )

    orm, inserted, _ = _both(event)
    _same_apart_from_generated(orm, inserted)
    assert inserted["created"] is not None and inserted["audience"] == ["https://ehr.example/fhir"]

    codes = iter(["a" * 64, "b" * 64])

    def redeemed():
        return RedeemedCode(code_checksum=next(codes), access_token=token, token_family=family)

    orm, inserted, _ = _both(redeemed)
    _same_apart_from_generated({**orm, "code_checksum": ""}, {**inserted, "code_checksum": ""})


@pytest.mark.parametrize("signal", [pre_save, post_save])
def test_a_projects_save_receivers_still_run(signal, flow, users):
    """A vendor listening to AuditEvent or AccessToken saves (e.g. to ship them to a SIEM) sees
    every row a token request writes, as with Model.save()."""
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append((sender, instance.pk if signal is post_save else None, kwargs.get("created")))

    signal.connect(receiver, sender=AuditEvent, weak=False)
    signal.connect(receiver, sender=AccessToken, weak=False)
    try:
        body = flow.run("launch/patient openid fhirUser patient/*.rs", users["patient"]).json()
    finally:
        signal.disconnect(receiver, sender=AuditEvent)
        signal.disconnect(receiver, sender=AccessToken)
    assert "access_token" in body
    senders = [s for s, _pk, _created in seen]
    assert AccessToken in senders and AuditEvent in senders
    if signal is post_save:
        assert all(pk is not None and created is True for _s, pk, created in seen)


def _grant_with_context(users, public_client, code):
    from oauth2_provider.models import Grant

    from smart_auth.models import GrantContext

    grant = Grant.objects.create(
        user=users["patient"],
        code=code,
        application=public_client,
        expires=timezone.now() + timedelta(minutes=1),
        redirect_uri="https://app.example/cb",
        scope="openid",
    )
    GrantContext.objects.create(grant=grant, context={"patient": "p1"})
    return grant


def test_delete_takes_the_row_and_what_cascades_from_it(users, public_client):
    from oauth2_provider.models import Grant

    from smart_auth.models import GrantContext

    grant = _grant_with_context(users, public_client, "code-1")
    kept = _grant_with_context(users, public_client, "code-2")
    stale = Grant.objects.get(pk=grant.pk)
    with CaptureQueriesContext(connection) as queries:
        assert compiled.delete(grant) == 1
    assert len(queries.captured_queries) == 2  # the context, then the grant; nothing read first
    assert grant.pk is None
    assert not Grant.objects.filter(code="code-1").exists()
    assert not GrantContext.objects.filter(grant_id=stale.pk).exists()
    assert Grant.objects.filter(pk=kept.pk).exists() and GrantContext.objects.filter(grant=kept).exists()
    # A second redemption that lost the race finds nothing to delete (DOT's invalid_grant).
    assert compiled.delete(stale) == 0


@pytest.mark.parametrize("signal", ["pre_delete", "post_delete"])
def test_delete_runs_the_collector_for_a_projects_delete_receivers(signal, users, public_client):
    from django.db.models import signals

    from smart_auth.models import GrantContext

    grant = _grant_with_context(users, public_client, "code-3")
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(sender)

    getattr(signals, signal).connect(receiver, sender=GrantContext, weak=False)
    try:
        assert compiled.delete(grant) == 1
    finally:
        getattr(signals, signal).disconnect(receiver, sender=GrantContext)
    assert seen == [GrantContext]


def test_an_unsaved_related_object_is_refused_as_save_refuses_it(users, public_client):
    unsaved = AccessToken(
        user=users["patient"], scope="openid", expires=timezone.now(), application=public_client
    )
    with pytest.raises(ValueError, match="unsaved related object"):
        compiled.insert(TokenContext(access_token=unsaved, context={}, identity={}))
    assert not TokenContext.objects.exists()


def test_an_expression_is_compiled_by_save():
    from django.db.models import Value
    from django.db.models.functions import Concat

    joined = Concat(Value("a"), Value("b"))
    event = compiled.insert(AuditEvent(outcome="issued", action="test", detail=joined))
    assert AuditEvent.objects.get(pk=event.pk).detail == "ab"
