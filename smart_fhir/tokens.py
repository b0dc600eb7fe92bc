"""Access-token validation: signed JWTs from trusted issuers, and RFC 7662 introspection.

A token is accepted when it is signed by a trusted issuer's key (JWKS fetched and cached through
``smart_auth.jwks``), is an RFC 9068 access token (``typ: at+jwt``), is not expired and names this
server's base URL in ``aud``. Tokens of the local smart_auth are also looked up in its database
(revocation); a remote issuer configured with ``"introspect": "always"`` is asked over HTTP.
Positive answers are remembered per process for ``INTROSPECTION_CACHE_SECONDS`` (never past
``exp``) so that a busy resource server does not verify every request's signature again; a
local token's database row is still read on every request, so that its revocation is seen by the
next request in every process (``receivers.py`` also evicts the entry in the revoking process).
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import threading
import time

import jwt
import requests
from django.apps import apps
from django.core.signals import setting_changed

from smart_auth.jwks import JWKSCache, JWKSFetchError, select_key

from .access import TokenAccess
from .conf import fhir_settings


AT_JWT_TYPES = ("at+jwt", "application/at+jwt")


class InvalidToken(Exception):
    """401: the token is missing, malformed, expired, revoked, untrusted or for another audience."""


class AuthorizationServerUnavailable(Exception):
    """503: a key set or introspection answer we need could not be fetched."""


def token_checksum(token: str) -> str:
    """SHA-256 hex of the token: also DOT's ``token_checksum``, used to evict revoked tokens."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenValidator:
    def __init__(self):
        self._cache: dict[tuple[str, str], tuple[float, TokenAccess]] = {}
        self._lock = threading.Lock()
        self.jwks = JWKSCache(
            timeout=fhir_settings.JWKS_FETCH_TIMEOUT_SECONDS,
            max_cache_seconds=fhir_settings.JWKS_CACHE_MAX_SECONDS,
        )
        self.session = requests.Session()

    # --- cache ---------------------------------------------------------------------------------
    def evict(self, checksum: str):
        with self._lock:
            for key in [k for k in self._cache if k[0] == checksum]:
                del self._cache[key]

    def clear(self):
        with self._lock:
            self._cache.clear()

    def validate(self, token: str, base_url: str, local_issuer: str = "") -> TokenAccess:
        key = (token_checksum(token), base_url)
        now = time.time()
        cached = self._cache.get(key)
        if cached and now < cached[0]:
            access = cached[1]
            # A local token's row is read again on every request (one indexed SELECT): a
            # revocation or a disabled client made in another worker process is seen at once.
            # What the cache saves is the signature check and the claims.
            if access.local and not _local_is_active(token):
                self.evict(key[0])
                raise InvalidToken("The access token has been revoked")
            return access
        access = self._validate(token, base_url, local_issuer)
        lifetime = min(float(fhir_settings.INTROSPECTION_CACHE_SECONDS), access.expires_at - now)
        if lifetime > 0:
            with self._lock:
                if len(self._cache) > 10000:
                    self._cache.clear()
                self._cache[key] = (now + lifetime, access)
        return access

    # --- validation ----------------------------------------------------------------------------
    def _validate(self, token, base_url, local_issuer):
        if not token or len(token) > 8192 or any(c.isspace() for c in token):
            raise InvalidToken("Malformed access token")
        if token.count(".") != 2:
            return self._validate_opaque(token, base_url, local_issuer)
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise InvalidToken("Malformed access token")
        alg = header.get("alg")
        if alg not in fhir_settings.ACCESS_TOKEN_ALGORITHMS:
            raise InvalidToken(f"Tokens signed with {alg!r} are not accepted")
        if str(header.get("typ", "")).lower() not in AT_JWT_TYPES:
            raise InvalidToken("Not an access token (typ must be at+jwt)")
        issuer = unverified.get("iss")
        config = self.issuer_config(issuer, local_issuer)
        if config is None:
            raise InvalidToken("The token's issuer is not trusted by this server")
        key = select_key(self._keys(config, header.get("kid")), header.get("kid"), alg)
        if key is None:
            raise InvalidToken("The token is signed with a key its issuer does not publish")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                issuer=issuer,
                leeway=fhir_settings.CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "iss", "sub"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("The access token has expired")
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"Invalid access token: {exc}")
        check_audience(claims.get("aud"), base_url)
        if config.get("local"):
            if not _local_is_active(token):
                raise InvalidToken("The access token has been revoked")
        elif config.get("introspect") == "always":
            answer = self._introspect_remote(config, token)
            if not answer.get("active"):
                raise InvalidToken("The access token is not active")
        return TokenAccess.from_claims(claims, base_url, issuer, local=bool(config.get("local")))

    def _validate_opaque(self, token, base_url, local_issuer):
        for config in self.issuers(local_issuer):
            if config.get("local"):
                answer = _local_introspect(token)
            elif config.get("introspection_endpoint") and config.get("introspect") != "never":
                answer = self._introspect_remote(config, token)
            else:
                continue
            if answer.get("active"):
                if answer.get("exp") is not None and float(answer["exp"]) < time.time():
                    raise InvalidToken("The access token has expired")
                check_audience(answer.get("aud"), base_url)
                return TokenAccess.from_claims(
                    answer, base_url, config["issuer"], local=bool(config.get("local"))
                )
        raise InvalidToken("The access token is not active")

    # --- issuers, keys, introspection ------------------------------------------------------------
    def issuers(self, local_issuer=""):
        configured = _configured_issuers()
        if local_issuer and fhir_settings.TRUST_LOCAL_ISSUER and apps.is_installed("smart_auth"):
            return [{"issuer": local_issuer, "local": True}, *configured]
        return configured

    def issuer_config(self, issuer, local_issuer=""):
        if not isinstance(issuer, str) or not issuer:
            return None
        for config in self.issuers(local_issuer):
            if config["issuer"] == issuer.rstrip("/"):
                return config
        return None

    def _keys(self, config, kid):
        if config.get("local"):
            return _local_jwks()
        if config.get("jwks"):
            return config["jwks"]
        try:
            return self.jwks.get(config["jwks_uri"], kid=kid)
        except JWKSFetchError as exc:
            raise AuthorizationServerUnavailable(f"The issuer's keys could not be fetched: {exc}")

    def _introspect_remote(self, config, token):
        endpoint = config.get("introspection_endpoint")
        if not endpoint:
            raise AuthorizationServerUnavailable("No introspection endpoint is configured for the issuer")
        data, headers, auth = {"token": token}, {"Accept": "application/json"}, None
        credentials = config.get("introspection_auth") or {}
        kind = credentials.get("type")
        if kind == "basic":
            auth = (credentials["client_id"], credentials["client_secret"])
        elif kind == "bearer":
            headers["Authorization"] = f"Bearer {credentials['token']}"
        elif kind == "private_key_jwt":
            data["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            data["client_assertion"] = _client_assertion(credentials, endpoint)
        try:
            response = self.session.post(
                endpoint,
                data=data,
                headers=headers,
                auth=auth,
                timeout=fhir_settings.INTROSPECTION_TIMEOUT_SECONDS,
            )
            answer = response.json() if response.status_code == 200 else None
        except (requests.RequestException, ValueError) as exc:
            raise AuthorizationServerUnavailable(f"The authorization server could not be reached: {exc}")
        if not isinstance(answer, dict):
            raise AuthorizationServerUnavailable(
                f"The authorization server's introspection endpoint answered HTTP {response.status_code}"
            )
        return answer


def check_audience(aud, base_url):
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if base_url.rstrip("/") not in {a.rstrip("/") for a in audiences if isinstance(a, str)}:
        raise InvalidToken("The access token is not meant for this server (aud)")


class Credentials(dict):
    """``introspection_auth``: a dict whose repr (tracebacks, logs, debug pages) names only the
    kind and the client, never a secret, token or private key."""

    def __repr__(self):
        return f"Credentials(type={self.get('type')!r}, client_id={self.get('client_id')!r})"

    __str__ = __repr__


def _configured_issuers():
    issuers = []
    for entry in fhir_settings.TRUSTED_ISSUERS:
        issuer = entry["issuer"].rstrip("/")
        config = {
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "introspect": "always" if entry.get("introspection_endpoint") else "never",
            **entry,
            "issuer": issuer,
        }
        if config.get("introspection_auth"):
            config["introspection_auth"] = Credentials(config["introspection_auth"])
        issuers.append(config)
    return issuers


def _client_assertion(credentials, audience):
    now = int(time.time())
    claims = {
        "iss": credentials["client_id"],
        "sub": credentials["client_id"],
        "aud": audience,
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_hex(16),
    }
    headers = {"kid": credentials.get("kid"), "typ": "JWT"}
    return jwt.encode(
        claims, credentials["private_key"], algorithm=credentials.get("alg", "RS384"), headers=headers
    )


def _local_is_active(token):
    from smart_auth.introspection import is_active

    return is_active(token)


def _local_introspect(token):
    from smart_auth.introspection import introspect

    return introspect(token)


@functools.lru_cache(maxsize=4)
def _local_jwks_for(active_pem, inactive_pems):
    from jwcrypto.jwk import JWK

    keys = []
    for pem in (active_pem, *inactive_pems):
        key = JWK.from_pem(pem.encode())
        public = key.export_public(as_dict=True)
        keys.append({**public, "kid": key.thumbprint(), "alg": "RS256", "use": "sig"})
    return {"keys": keys}


def _local_jwks():
    from oauth2_provider.settings import oauth2_settings

    return _local_jwks_for(
        oauth2_settings.OIDC_RSA_PRIVATE_KEY, tuple(oauth2_settings.OIDC_RSA_PRIVATE_KEYS_INACTIVE or ())
    )


_validator: TokenValidator | None = None


def get_validator() -> TokenValidator:
    global _validator
    if _validator is None:
        _validator = TokenValidator()
    return _validator


def _reset(setting, **kwargs):
    global _validator
    if setting in ("SMART_FHIR", "OAUTH2_PROVIDER"):
        _validator = None


setting_changed.connect(_reset, weak=False)
