"""Signed JWT access tokens (RFC 9068 shape) that a remote resource server verifies with our JWKS.

DOT still records every token (by its SHA-256 checksum), so revocation and introspection work;
the JWT lets a resource server check signature, issuer, audience and expiry without a call.
Signed with DOT's active OIDC key (RS256, ``kid`` = its JWK thumbprint); keys listed in
``OIDC_RSA_PRIVATE_KEYS_INACTIVE`` stay in the JWKS so tokens in flight survive a rotation.
"""

import functools
import secrets
import time

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from jwcrypto.jwk import JWK
from oauth2_provider.settings import oauth2_settings

from ..hooks import issuer_for, token_claims_context


@functools.lru_cache(maxsize=8)
def _signing_key(pem):
    return load_pem_private_key(pem.encode(), password=None), JWK.from_pem(pem.encode()).thumbprint()


def signing_key():
    """(private key, kid) of the active signing key."""
    return _signing_key(oauth2_settings.OIDC_RSA_PRIVATE_KEY)


def sign(claims, typ="JWT"):
    key, kid = signing_key()
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid, "typ": typ})


def generate_access_token(request):
    """DOT ``ACCESS_TOKEN_GENERATOR``: called by oauthlib with the validated token request."""
    now = int(time.time())
    client = request.client
    user = getattr(request, "user", None) if request.grant_type != "client_credentials" else None
    audience = list(getattr(request, "resource", None) or [])
    claims = {
        "iss": issuer_for(request),
        "sub": str(user.pk) if user is not None else client.client_id,
        "aud": audience[0] if len(audience) == 1 else audience,
        "client_id": client.client_id,
        "scope": " ".join(request.scopes or []),
        "iat": now,
        "exp": now + int(request.expires_in or oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS),
        "jti": secrets.token_urlsafe(16),
    }
    claims.update(token_claims_context(request))
    request.smart_jti = claims["jti"]
    return sign(claims, typ="at+jwt")
