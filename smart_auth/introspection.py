"""SMART token introspection (RFC 7662 + SMART 2.2 "Token Introspection").

Who may see what (RFC 7662 §2.1, §4: the server decides which protected resources may learn about
which tokens):

- a *designated resource server* (a client registered with the ``introspection`` scope, calling
  with its credentials or with a bearer token carrying that scope) sees every token, and its
  introspection is what consumes a single-use launch-token (the imaging server at the EHR);
- any other authenticated confidential client sees only the tokens issued to itself, and never a
  launch-token (it would use it up for the server the token is meant for);
- in-process callers (``caller=None``: smart_fhir, fhircast_hub) see access tokens, never
  launch-tokens: a launch-token is no access token and showing one to them must not use it up.
"""

import calendar
import hashlib
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from .hooks import issuer_for


CONTEXT_KEYS = (
    "patient",
    "encounter",
    "fhirContext",
    "need_patient_banner",
    "smart_style_url",
    "intent",
    "tenant",
    "fhirUser",
    "authorization_details",
    "consent",
)


@dataclass(frozen=True)
class Caller:
    """An authenticated caller of the introspection endpoint."""

    client_id: str
    designated: bool  # a designated resource server: sees every token, consumes launch-tokens


INTROSPECTION_SCOPE = "introspection"


def is_designated(application):
    """Whether ``application`` is registered as a resource server (``introspection`` scope)."""
    smart = getattr(application, "smart", None)  # None for a plain DOT client
    return smart is not None and INTROSPECTION_SCOPE in (smart.allowed_scopes or "").split()


def introspect(token_value, request=None, caller=None):
    """The introspection response for ``token_value``; ``{"active": False}`` and nothing else
    for an unknown, expired or revoked token, or one ``caller`` may not see."""
    if not token_value:
        return {"active": False}
    if token_value.startswith("lt_"):
        from .launch_tokens import introspect as introspect_launch_token

        if caller is None or not caller.designated:
            return {"active": False}  # not theirs to see, nor to use up
        return introspect_launch_token(token_value, issuer_for(request) if request else None) or {
            "active": False
        }
    checksum = hashlib.sha256(token_value.encode("utf-8")).hexdigest()
    # One row of plain values, not four model instances: model building and select_related
    # bookkeeping cost more than the query itself on this hot path.
    username_field = "user__" + get_user_model().USERNAME_FIELD
    rows = get_access_token_model().objects.filter(token_checksum=checksum)
    if caller is not None and not caller.designated:
        rows = rows.filter(application__client_id=caller.client_id)  # its own tokens only
    row = rows.values(
        "scope",
        "expires",
        "created",
        "resource",
        "user_id",
        username_field,
        "application__client_id",
        "application__smart__software_id",
        "smart__context",
        "smart__identity",
        "smart__jti",
    ).first()
    # Same rule as AccessToken.is_valid(): revoked tokens are deleted, so only expiry is left.
    if row is None or not row["expires"] or timezone.now() >= row["expires"]:
        return {"active": False}
    context = dict(row["smart__context"] or {})
    identity = dict(row["smart__identity"] or {})
    client_id = row["application__client_id"]
    data = {
        "active": True,
        "scope": row["scope"],
        "client_id": client_id,
        "exp": int(calendar.timegm(row["expires"].utctimetuple())),
        "iat": int(calendar.timegm(row["created"].utctimetuple())),
        "token_type": "Bearer",
        "iss": issuer_for(request) if request is not None else identity.get("iss"),
        "sub": str(row["user_id"]) if row["user_id"] is not None else client_id,
    }
    if row["user_id"] is not None:
        data["username"] = row[username_field]
    resource = row["resource"]
    if resource:
        data["aud"] = resource[0] if len(resource) == 1 else list(resource)
    for key in CONTEXT_KEYS:
        if context.get(key) not in (None, "", []):
            data[key] = context[key]
    data.update(identity)  # iss/sub/fhirUser of the id_token issued with this token
    if row["application__smart__software_id"]:
        data["software_id"] = row["application__smart__software_id"]  # RFC 7591: the app across servers
    if row["smart__jti"]:
        data["jti"] = row["smart__jti"]
    return {k: v for k, v in data.items() if v is not None}
