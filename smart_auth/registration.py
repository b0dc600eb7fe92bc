"""Client registration from RFC 7591 metadata (used by the management command and the admin)."""

import json
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from oauth2_provider.models import get_application_model

from . import scopes as smart_scopes
from .models import SmartClient
from .resources import is_valid_resource_uri


TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
GRANT_TYPES = {"authorization_code", "refresh_token", "client_credentials", TOKEN_EXCHANGE}
AUTH_METHODS = {m for m, _ in SmartClient.AUTH_METHODS}

# The metadata register_client() reads (RFC 7591 §2, SMART's launch_uri, and this project's own
# keys); anything else is refused rather than dropped silently.
FIELDS = {
    "client_name": "RFC 7591: the name people see on the consent screen",
    "redirect_uris": "RFC 7591: exact redirect URIs (required for authorization_code)",
    "grant_types": "RFC 7591: authorization_code (default), refresh_token, client_credentials, "
    + TOKEN_EXCHANGE,
    "response_types": 'RFC 7591: only ["code"]',
    "token_endpoint_auth_method": "RFC 7591: none, client_secret_basic, client_secret_post or "
    "private_key_jwt (default private_key_jwt with jwks/jwks_uri, else none)",
    "scope": "RFC 7591: the scopes the client may ask for, space-separated",
    "jwks": "RFC 7591: the client's public keys (private_key_jwt)",
    "jwks_uri": "RFC 7591: where the client publishes its public keys (private_key_jwt)",
    "logo_uri": "RFC 7591: a logo shown on the consent screen",
    "software_id": "RFC 7591: the same app at several authorization servers shares it",
    "client_id": "this project: use this client_id instead of a generated one",
    "launch_uri": "SMART: the app's launch URL (EHR launch)",
    "skip_authorization": "this project: true skips the consent screen (pre-authorized clients)",
    "audiences": "this project: FHIR bases a backend token names when the request gives none",
}


def validate_jwks(jwks):
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise ValidationError("jwks must be a JWK Set with at least one key")
    from jwt import PyJWK
    from jwt.exceptions import PyJWKError

    for key in jwks["keys"]:
        if not isinstance(key, dict) or not key.get("kid") or not key.get("kty"):
            raise ValidationError("every JWK needs kty and kid")
        if "d" in key:
            raise ValidationError("jwks must hold public keys only")
        try:
            PyJWK(key)
        except PyJWKError as exc:
            raise ValidationError(f"invalid JWK {key.get('kid')}: {exc}") from exc


def register_client(metadata):
    """Create a DOT Application and its SmartClient from RFC 7591 metadata; return
    ``(application, plaintext_secret_or_None)``."""
    if not isinstance(metadata, dict):
        raise ValidationError("client metadata must be a JSON object")
    unknown = sorted(set(metadata) - set(FIELDS))
    if unknown:
        raise ValidationError(
            f"unsupported client metadata: {', '.join(unknown)} (accepted: {', '.join(sorted(FIELDS))})"
        )
    if metadata.get("response_types", ["code"]) != ["code"]:
        raise ValidationError('response_types must be ["code"]')
    name = metadata.get("client_name") or "SMART app"
    redirect_uris = metadata.get("redirect_uris") or []
    grant_types = metadata.get("grant_types") or ["authorization_code"]
    method = metadata.get("token_endpoint_auth_method") or (
        "private_key_jwt" if metadata.get("jwks") or metadata.get("jwks_uri") else "none"
    )
    if not set(grant_types) <= GRANT_TYPES:
        raise ValidationError(f"unsupported grant_types: {sorted(set(grant_types) - GRANT_TYPES)}")
    if method not in AUTH_METHODS:
        raise ValidationError(f"unsupported token_endpoint_auth_method {method!r}")
    if "authorization_code" in grant_types and not redirect_uris:
        raise ValidationError("redirect_uris are required for authorization_code")
    for uri in redirect_uris:
        if not is_valid_resource_uri(uri):
            raise ValidationError(f"redirect URI {uri!r} must be absolute, without a fragment")
    if method == "private_key_jwt":
        if metadata.get("jwks"):
            validate_jwks(metadata["jwks"])
        elif not metadata.get("jwks_uri"):
            raise ValidationError("private_key_jwt needs jwks or jwks_uri")
    if "client_credentials" in grant_types and method == "none":
        raise ValidationError("client_credentials needs a confidential client")
    try:
        smart_scopes.parse_scopes(metadata.get("scope", ""))
    except smart_scopes.ScopeError as exc:
        raise ValidationError(str(exc)) from exc

    Application = get_application_model()
    confidential = method != "none"
    secret = secrets.token_urlsafe(32) if method in ("client_secret_basic", "client_secret_post") else None
    fields = {
        "name": name,
        "client_type": Application.CLIENT_CONFIDENTIAL if confidential else Application.CLIENT_PUBLIC,
        "authorization_grant_type": (
            Application.GRANT_AUTHORIZATION_CODE
            if "authorization_code" in grant_types
            else Application.GRANT_CLIENT_CREDENTIALS
        ),
        "redirect_uris": " ".join(redirect_uris),
        "algorithm": Application.RS256_ALGORITHM,
        "skip_authorization": bool(metadata.get("skip_authorization", False)),
        "client_secret": secret or "",
    }
    if metadata.get("client_id"):
        fields["client_id"] = metadata["client_id"]
    with transaction.atomic():
        application = Application(**fields)
        application.full_clean(exclude=["client_secret", "user"])
        application.save()
        SmartClient.objects.create(
            application=application,
            token_endpoint_auth_method=method,
            grant_types=list(grant_types),
            launch_uri=metadata.get("launch_uri", ""),
            logo_uri=metadata.get("logo_uri", ""),
            software_id=metadata.get("software_id", ""),
            jwks=metadata.get("jwks"),
            jwks_uri=metadata.get("jwks_uri", ""),
            allowed_scopes=metadata.get("scope", ""),
            allowed_audiences=list(metadata.get("audiences", [])),
        )
    return application, secret


def client_metadata(application, secret=None):
    """RFC 7591 §3.2.1 response for ``application``."""
    smart = application.smart
    data = {
        "client_id": application.client_id,
        "client_name": application.name,
        "redirect_uris": application.redirect_uris.split(),
        "grant_types": smart.grant_types,
        "token_endpoint_auth_method": smart.token_endpoint_auth_method,
        "scope": smart.allowed_scopes,
        "launch_uri": smart.launch_uri,
        "software_id": smart.software_id or None,
        "jwks_uri": smart.jwks_uri or None,
        "jwks": smart.jwks,
    }
    if secret:
        data["client_secret"] = secret
        data["client_secret_expires_at"] = 0
    return {k: v for k, v in data.items() if v not in (None, "")}


def dumps(data):
    return json.dumps(data, indent=2, sort_keys=True)
