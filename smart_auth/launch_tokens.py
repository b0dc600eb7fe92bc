"""Launch-tokens (multi-server design, approach B): the EHR hands an app its current context as a
short-lived, single-use token bound to that app; another authorization server introspects it
here, once, with a backend-services token."""

import calendar
import hashlib
import secrets
from datetime import timedelta

from django.utils import timezone

from .conf import smart_auth_settings
from .models import LaunchToken


TOKEN_TYPE = "urn:ietf:params:oauth:token-type:launch_token"


def _checksum(value):
    return hashlib.sha256(value.encode()).hexdigest()


def issue(application, user, context, granted_scope=""):
    """A new launch-token for ``application``; only its checksum is stored. ``granted_scope``
    (what the app was granted with it) bounds a token exchange that uses it as subject."""
    value = "lt_" + secrets.token_urlsafe(32)
    keep = {
        k: v for k, v in context.items() if k in ("patient", "encounter", "fhirContext", "fhirUser", "tenant")
    }
    if granted_scope:
        keep["granted_scope"] = granted_scope
    LaunchToken.objects.create(
        token_checksum=_checksum(value),
        application=application,
        user=user,
        context=keep,
        expires=timezone.now() + timedelta(seconds=smart_auth_settings.LAUNCH_TOKEN_EXPIRE_SECONDS),
    )
    return value


def introspect(value, issuer):
    """The introspection response for a launch-token, consuming it; None when ``value`` is not
    one of ours (so that the caller can try access tokens)."""
    token = (
        LaunchToken.objects.select_related("application__smart", "user")
        .filter(token_checksum=_checksum(value))
        .first()
    )
    if token is None:
        return None
    smart = getattr(token.application, "smart", None)
    if smart is not None and not smart.enabled:
        return {"active": False}  # the app was disabled: its launch-tokens stop with it
    # Used up by exactly one introspection: a conditional UPDATE, atomic on every database
    # (SELECT … FOR UPDATE cannot lock across this query's outer joins on PostgreSQL).
    now = timezone.now()
    usable = LaunchToken.objects.filter(pk=token.pk, consumed__isnull=True, expires__gt=now)
    if not usable.update(consumed=now):
        return {"active": False}
    data = {
        "active": True,
        "token_type": TOKEN_TYPE,
        "client_id": token.application.client_id,
        "exp": int(calendar.timegm(token.expires.utctimetuple())),
        "iss": issuer,
        "sub": str(token.user.pk) if token.user else token.application.client_id,
        "scope": "launch",
    }
    if smart and smart.software_id:
        data["software_id"] = smart.software_id
    data.update(token.context)
    return data
