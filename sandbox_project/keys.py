"""Keys of the sandbox's deployments, kept under SANDBOX_DATA_DIR (made on first use)."""

import json

from jwcrypto.jwk import JWK

from .settings.base import DATA_DIR, signing_key


def client_key_pem(role):
    """The private key ``role`` uses to authenticate as a client (private_key_jwt)."""
    directory = DATA_DIR / role
    directory.mkdir(parents=True, exist_ok=True)
    return signing_key(directory / "client-key.pem")


def client_jwks(role):
    """The public JWK Set of ``role``'s client key, with alg RS384 and a kid."""
    key = JWK.from_pem(client_key_pem(role).encode())
    public = json.loads(key.export_public())
    public.update({"kid": key.thumbprint(), "alg": "RS384", "use": "sig"})
    return {"keys": [public]}


def client_kid(role):
    return client_jwks(role)["keys"][0]["kid"]
