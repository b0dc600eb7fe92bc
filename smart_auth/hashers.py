"""A password hasher for OAuth client secrets: one salted HMAC-SHA256 for generated secrets.

DOT stores client secrets with Django's password hashers (``OAUTH2_PROVIDER["CLIENT_SECRET_HASHER"]``)
and checks them with ``check_password`` on every token, introspection and revocation request of a
confidential client. Django's default, PBKDF2-SHA256 with 1,000,000 iterations, costs a few hundred
milliseconds of CPU per request: client-secret clients are ~100x slower than ``private_key_jwt``
ones and every request with a client's id is a CPU-exhaustion lever.

A slow KDF protects low-entropy human passwords. A generated client secret (DOT: 128 random
characters; RFC 7591 registration here: ``secrets.token_urlsafe(32)``, 256 bits) cannot be
brute-forced, so one keyed hash per request is enough (how API keys are stored at GitHub and
others). A secret that is *not* clearly high-entropy (say an admin typed ``s3cret-value``) keeps
the slow KDF: :class:`ClientSecretHasher` then hands it to the ``pbkdf2_sha256`` hasher of
``PASSWORD_HASHERS``, so the stored value starts with ``pbkdf2_sha256$`` and is verified by that
hasher.

"High entropy" (:func:`is_high_entropy`): at least ``MIN_LENGTH`` (32) characters and an estimated
entropy of at least ``MIN_ENTROPY_BITS`` (128). The estimate is an upper bound that a random
string reaches and a patterned one does not: the smaller of ``length x log2(distinct
characters)`` and 8 bits per byte zlib leaves after compressing the secret. It cannot tell a long
passphrase of dictionary words from random text: client secrets should be generated, not typed.

Settings (``smart_auth.presets.oauth2_provider_settings()`` sets the first)::

    OAUTH2_PROVIDER["CLIENT_SECRET_HASHER"] = "smart_client_secret_sha256"
    PASSWORD_HASHERS = [
        *django.conf.global_settings.PASSWORD_HASHERS,  # user passwords: keep yours FIRST
        "smart_auth.hashers.ClientSecretHasher",
    ]

Checks ``smart_auth.E011`` / ``E012`` / ``W003`` (smart_auth.checks) verify this.
"""

import base64
import hashlib
import hmac
import math
import zlib

from django.contrib.auth.hashers import BasePasswordHasher, get_hasher, mask_hash
from django.core.exceptions import ImproperlyConfigured
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes
from django.utils.translation import gettext_noop as _


__all__ = ["ALGORITHM", "ClientSecretHasher", "estimated_entropy_bits", "is_high_entropy"]

ALGORITHM = "smart_client_secret_sha256"
FALLBACK_ALGORITHM = "pbkdf2_sha256"
MIN_LENGTH = 32
MIN_ENTROPY_BITS = 128
_ZLIB_OVERHEAD = len(zlib.compress(b"", 9))


def _text(secret):
    return secret.decode("utf-8", "replace") if isinstance(secret, bytes | bytearray) else str(secret)


def estimated_entropy_bits(secret):
    """An upper bound on the entropy of ``secret`` in bits: the smaller of length x log2(distinct
    characters) and 8 x the bytes zlib needs for it. Random strings reach it; repetitive ones do not."""
    text = _text(secret)
    distinct = len(set(text))
    if distinct < 2:
        return 0.0
    per_character = len(text) * math.log2(distinct)
    compressed = 8 * (len(zlib.compress(text.encode("utf-8"), 9)) - _ZLIB_OVERHEAD)
    return float(min(per_character, compressed))


def is_high_entropy(secret):
    """Whether ``secret`` may be stored with the fast hash (see the module docstring)."""
    return len(_text(secret)) >= MIN_LENGTH and estimated_entropy_bits(secret) >= MIN_ENTROPY_BITS


class ClientSecretHasher(BasePasswordHasher):
    """``smart_client_secret_sha256$<salt>$<base64 HMAC-SHA256(key=salt, msg=secret)>`` for
    high-entropy secrets; anything weaker is encoded by the ``pbkdf2_sha256`` hasher of
    ``PASSWORD_HASHERS`` instead. For client secrets only: list it after your user-password
    hasher, never first."""

    algorithm = ALGORITHM
    fallback_algorithm = FALLBACK_ALGORITHM
    digest = hashlib.sha256

    def _hash(self, password, salt):
        mac = hmac.new(force_bytes(salt), force_bytes(password), self.digest).digest()
        return base64.b64encode(mac).decode("ascii")

    def fallback(self):
        """The slow hasher for weak secrets: the one ``PASSWORD_HASHERS`` verifies them with."""
        try:
            return get_hasher(self.fallback_algorithm)
        except ValueError:
            # Encoding with a hasher PASSWORD_HASHERS lacks would store a secret nothing can verify.
            raise ImproperlyConfigured(
                f"{type(self).__name__} stores short or low-entropy secrets with "
                f"{self.fallback_algorithm!r}, which PASSWORD_HASHERS does not list "
                "(add django.contrib.auth.hashers.PBKDF2PasswordHasher; check smart_auth.E012)."
            ) from None

    def encode(self, password, salt):
        self._check_encode_args(password, salt)
        if not is_high_entropy(password):
            return self.fallback().encode(password, salt)
        return f"{self.algorithm}${salt}${self._hash(password, salt)}"

    def decode(self, encoded):
        algorithm, salt, hash = encoded.split("$", 2)
        if algorithm != self.algorithm:
            raise ValueError(f"not a {self.algorithm} hash")
        return {"algorithm": algorithm, "hash": hash, "salt": salt}

    def verify(self, password, encoded):
        if password is None:
            return False
        try:
            decoded = self.decode(encoded)
        except ValueError:
            return False
        return constant_time_compare(decoded["hash"], self._hash(password, decoded["salt"]))

    def safe_summary(self, encoded):
        decoded = self.decode(encoded)
        return {
            _("algorithm"): decoded["algorithm"],
            _("salt"): mask_hash(decoded["salt"], show=2),
            _("hash"): mask_hash(decoded["hash"]),
        }

    def must_update(self, encoded):
        return False

    def harden_runtime(self, password, encoded):
        """No work factor to bridge: one HMAC is the whole cost."""
