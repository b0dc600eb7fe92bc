"""The authorization server's signing key: made by ``manage.py smart_signing_key``, read by the
settings module through :func:`read_signing_key` (see docs/vendor-guide.md, "Keys")."""

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def new_signing_key_pem(bits=2048) -> str:
    """A fresh RSA private key in PKCS#8 PEM (RS256, what DOT signs id_tokens and tokens with)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def write_signing_key(path, pem) -> None:
    """Write ``pem`` readable by the owner only; never replaces an existing file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(pem)


def read_signing_key(path) -> str:
    """The PEM in ``path``, or "" when it does not exist yet (check smart_auth.E002 then says how
    to make it: the settings module must load for ``manage.py smart_signing_key`` to run)."""
    path = Path(path)
    return path.read_text() if path.exists() else ""
