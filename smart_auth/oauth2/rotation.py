"""Refresh-token rotation in two statements instead of DOT's ten.

DOT rotates a refresh token (``OAuth2Validator._save_bearer_token`` → ``RefreshToken.revoke`` →
``AccessToken.revoke``) by locking and re-reading the refresh token twice, locking and reading its
access token twice, then deleting that access token through Django's collector (an UPDATE of the
refresh token's link, the DELETE) and saving the whole refresh-token row: ten statements on the
hottest write path of a SMART app. :func:`retire` does the same work in two:

1. ``UPDATE refresh token SET revoked = now, access_token = NULL WHERE id = … AND revoked IS NULL``:
   a compare-and-set. One row changed: this request rotates it. None: a revocation or another
   rotation committed since the token was validated, and the caller refuses the refresh.
2. ``DELETE`` of the access token the refresh token was paired with (DOT's ``AccessToken.revoke``).

The access token's ``pre_delete`` and ``post_delete`` signals are sent as Django's collector sends
them (``smart_fhir`` forgets its cached check of the token on ``post_delete``). It applies only where
DOT's own path would do exactly that and nothing more (:func:`applies`): the stock ``revoke``
methods, no ``pre/post_save`` receivers on the refresh token (DOT saves the revoked row), and no
relation to the access token that deleting it would have to cascade to (the refresh token's link
is cleared by the UPDATE; ``DO_NOTHING`` relations are left alone, as Django leaves them).
Anything else goes through DOT. DOT's originals are pinned by ``tests/smart_auth/test_dot_pins.py``.

The DELETE is written by hand (one statement on the model's own table and primary key): Django's
``QuerySet.delete()`` always reads the rows first when a ``SET_NULL`` relation points at them.
"""

import functools

from django.db import connections, models, router
from django.db.models import signals
from django.utils import timezone
from oauth2_provider.models import (
    AbstractAccessToken,
    AbstractRefreshToken,
    get_access_token_model,
    get_refresh_token_model,
)


def applies(refresh_token):
    """Whether :func:`retire` does what DOT's rotation would do for ``refresh_token``."""
    model = get_refresh_token_model()
    return (
        isinstance(refresh_token, model)
        and refresh_token.revoked is None
        and _stock_models()
        and not signals.pre_save.has_listeners(model)
        and not signals.post_save.has_listeners(model)
    )


@functools.cache
def _stock_models():
    access_token, refresh_token = get_access_token_model(), get_refresh_token_model()
    if access_token.revoke is not AbstractAccessToken.revoke:
        return False
    if refresh_token.revoke is not AbstractRefreshToken.revoke:
        return False
    if router.db_for_write(access_token) != router.db_for_write(refresh_token):
        return False
    for relation in access_token._meta.get_fields(include_hidden=True):
        if not (relation.auto_created and not relation.concrete):
            continue  # not a relation pointing at the access token
        if relation.on_delete is models.DO_NOTHING:
            continue
        if relation.related_model is refresh_token and relation.field.name == "access_token":
            continue  # cleared by the UPDATE
        return False
    return True


def retire(refresh_token):
    """Revoke ``refresh_token`` and delete its access token, if nothing revoked it since it was
    read; True when this call did. Run inside the transaction that issues its successor."""
    model = get_refresh_token_model()
    now = timezone.now()
    changed = model.objects.filter(pk=refresh_token.pk, revoked__isnull=True).update(
        revoked=now, access_token=None, updated=now
    )
    if not changed:
        return False
    access_token = refresh_token.access_token  # read with the refresh token
    refresh_token.revoked, refresh_token.updated = now, now
    refresh_token.access_token = None
    if access_token is not None:
        _delete(access_token)
    return True


def _delete(instance):
    """``instance.delete()`` for a row nothing cascades from (see :func:`_stock_models`)."""
    model = type(instance)
    alias = router.db_for_write(model)
    quote = connections[alias].ops.quote_name
    meta = model._meta
    signals.pre_delete.send(sender=model, instance=instance, using=alias, origin=instance)
    sql = f"DELETE FROM {quote(meta.db_table)} WHERE {quote(meta.pk.column)} = %s"
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [instance.pk])
    signals.post_delete.send(sender=model, instance=instance, using=alias, origin=instance)
    instance.pk = None
