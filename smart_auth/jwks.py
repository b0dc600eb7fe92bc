"""Fetch and cache JSON Web Key Sets by URL, honouring Cache-Control (never longer).

Used for private_key_jwt client keys (SMART "Asymmetric client authentication": "cache JWKS per
the client's Cache-Control, never longer") and for trusted remote issuers' keys. A ``kid`` that is
not in the cached set triggers one refetch, rate-limited, so that key rotation works without
letting unknown ``kid``s hammer the remote server.
"""

import functools
import json
import re
import threading
import time

import requests
from jwt import PyJWK
from jwt.exceptions import PyJWKError

from .limits import json_value


class JWKSFetchError(Exception):
    pass


MAX_JWKS_BYTES = 256 * 1024
_MAX_AGE_RE = re.compile(r"max-age=(\d+)")
_MIN_REFETCH_INTERVAL = 5.0


class JWKSCache:
    def __init__(self, timeout=5.0, max_cache_seconds=3600, min_refetch_interval=_MIN_REFETCH_INTERVAL):
        self.timeout = timeout
        self.min_refetch_interval = min_refetch_interval
        self.max_cache_seconds = max_cache_seconds
        self._entries = {}  # url -> (expires_at, fetched_at, jwks dict)
        self._lock = threading.Lock()
        self.session = requests.Session()

    def clear(self):
        with self._lock:
            self._entries.clear()

    def get(self, url, kid=None):
        """The JWK Set at ``url``; refetched when stale or when ``kid`` is unknown."""
        now = time.monotonic()
        entry = self._entries.get(url)
        if entry:
            expires_at, fetched_at, jwks = entry
            fresh = now < expires_at
            kid_known = kid is None or any(k.get("kid") == kid for k in jwks.get("keys", []))
            if fresh and (kid_known or now - fetched_at < self.min_refetch_interval):
                return jwks
        return self._fetch(url)

    def _fetch(self, url):
        try:
            response = self.session.get(url, timeout=self.timeout, headers={"Accept": "application/json"})
            response.raise_for_status()
            # The URL is the client's: a bounded body, parsed with bounded nesting.
            body = response.content
            if len(body) > MAX_JWKS_BYTES:
                raise ValueError(f"larger than {MAX_JWKS_BYTES} bytes")
            jwks = json_value(body.decode("utf-8"), max_bytes=MAX_JWKS_BYTES, max_depth=8)
        except (requests.RequestException, ValueError) as exc:  # InputError, UnicodeError included
            raise JWKSFetchError(f"Could not fetch the JWK Set at {url}: {exc}") from exc
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise JWKSFetchError(f"{url} did not return a JWK Set")
        lifetime = self._lifetime(response.headers.get("Cache-Control", ""))
        now = time.monotonic()
        with self._lock:
            self._entries[url] = (now + lifetime, now, jwks)
        return jwks

    def _lifetime(self, cache_control):
        cache_control = cache_control.lower()
        if "no-store" in cache_control or "no-cache" in cache_control:
            return 0
        match = _MAX_AGE_RE.search(cache_control)
        if match:
            return min(int(match.group(1)), self.max_cache_seconds)
        return min(300, self.max_cache_seconds)


def key_type_for_alg(alg):
    if alg.startswith(("RS", "PS")):
        return "RSA"
    if alg.startswith("ES"):
        return "EC"
    if alg.startswith("Ed"):
        return "OKP"
    return None


def select_key(jwks, kid, alg):
    """Exactly one key of ``jwks`` must match ``kid`` and the key type of ``alg``."""
    kty = key_type_for_alg(alg)
    candidates = [
        k
        for k in jwks.get("keys", [])
        if isinstance(k, dict)
        and k.get("kid") == kid
        and k.get("kty") == kty
        and k.get("alg") in (None, alg)
        and k.get("use") in (None, "sig")
        and "d" not in k  # a private key published by mistake is never trusted
    ]
    if len(candidates) != 1:
        return None
    return _key_object(json.dumps(candidates[0], sort_keys=True), alg)


@functools.lru_cache(maxsize=512)
def _key_object(jwk_json, alg):
    # Building a public key from its JWK parameters costs more than verifying a signature with
    # it: keep the objects of keys seen recently (keyed by the whole JWK, so a changed key is a
    # new entry).
    try:
        return PyJWK(json.loads(jwk_json), algorithm=alg)
    except PyJWKError:
        return None
