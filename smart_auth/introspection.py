"""SMART token introspection (RFC 7662 + SMART 2.2 "Token Introspection")."""

import calendar
import hashlib

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


def introspect(token_value, request=None):
    """The introspection response for ``token_value``; ``{"active": False}`` and nothing else
    for an unknown, expired or revoked token."""
    if not token_value:
        return {"active": False}
    if token_value.startswith("lt_"):
        from .launch_tokens import introspect as introspect_launch_token

        return introspect_launch_token(token_value, issuer_for(request) if request else None) or {
            "active": False
        }
    checksum = hashlib.sha256(token_value.encode("utf-8")).hexdigest()
    token = (
        get_access_token_model()
        .objects.select_related("application", "user", "smart")
        .filter(token_checksum=checksum)
        .first()
    )
    if token is None or not token.is_valid():
        return {"active": False}
    smart = getattr(token, "smart", None)
    context = dict(smart.context) if smart else {}
    identity = dict(smart.identity) if smart else {}
    data = {
        "active": True,
        "scope": token.scope,
        "client_id": token.application.client_id if token.application else None,
        "exp": int(calendar.timegm(token.expires.utctimetuple())),
        "iat": int(calendar.timegm(token.created.utctimetuple())),
        "token_type": "Bearer",
        "iss": issuer_for(request) if request is not None else identity.get("iss"),
        "sub": str(token.user.pk)
        if token.user
        else (token.application.client_id if token.application else None),
    }
    if token.user:
        data["username"] = token.user.get_username()
    if token.resource:
        data["aud"] = token.resource[0] if len(token.resource) == 1 else list(token.resource)
    for key in CONTEXT_KEYS:
        if context.get(key) not in (None, "", []):
            data[key] = context[key]
    data.update(identity)  # iss/sub/fhirUser of the id_token issued with this token
    if smart and smart.jti:
        data["jti"] = smart.jti
    return {k: v for k, v in data.items() if v is not None}
