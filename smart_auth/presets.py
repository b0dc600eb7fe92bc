"""``OAUTH2_PROVIDER`` settings that smart_auth needs, for a vendor's settings module.

OAUTH2_PROVIDER = oauth2_provider_settings(read_signing_key(BASE_DIR / "signing-key.pem"),
                                           issuer="https://ehr.example/o")
PASSWORD_HASHERS = [*global_settings.PASSWORD_HASHERS, CLIENT_SECRET_HASHER_CLASS]

Client secrets are hashed with ``smart_auth.hashers.ClientSecretHasher`` (one salted HMAC-SHA256
for generated, high-entropy secrets; PBKDF2 for anything weaker), which PASSWORD_HASHERS must list
after the user-password hasher, never first (checks smart_auth.E011, E012, W003).
"""

from .signing_keys import read_signing_key


__all__ = [
    "CLIENT_SECRET_ALGORITHM",
    "CLIENT_SECRET_HASHER_CLASS",
    "oauth2_provider_settings",
    "read_signing_key",
]

# smart_auth.hashers.ALGORITHM (spelled out: settings modules import this one before Django is set up).
CLIENT_SECRET_ALGORITHM = "smart_client_secret_sha256"
# What PASSWORD_HASHERS must list (after the user-password hasher) for the preset's CLIENT_SECRET_HASHER.
CLIENT_SECRET_HASHER_CLASS = "smart_auth.hashers.ClientSecretHasher"


def oauth2_provider_settings(private_key_pem, issuer, inactive_keys=(), **overrides):
    settings = {
        "OAUTH2_VALIDATOR_CLASS": "smart_auth.oauth2.validators.SmartOAuth2Validator",
        "OAUTH2_SERVER_CLASS": "smart_auth.oauth2.server.SmartServer",
        "OAUTH2_BACKEND_CLASS": "smart_auth.oauth2.backend.SmartOAuthLibCore",
        "SCOPES_BACKEND_CLASS": "smart_auth.oauth2.scopes_backend.SmartScopes",
        "ACCESS_TOKEN_GENERATOR": "smart_auth.oauth2.tokens.generate_access_token",
        # Refresh tokens stay opaque (oauthlib would otherwise reuse the access-token generator).
        "REFRESH_TOKEN_GENERATOR": "oauthlib.oauth2.rfc6749.tokens.random_token_generator",
        "OIDC_ENABLED": True,
        "OIDC_RSA_PRIVATE_KEY": private_key_pem,
        "OIDC_RSA_PRIVATE_KEYS_INACTIVE": list(inactive_keys),
        "OIDC_ISS_ENDPOINT": issuer,
        "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
        "OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": [
            "private_key_jwt",
            "client_secret_basic",
            "client_secret_post",
        ],
        "PKCE_REQUIRED": True,
        "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
        "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
        "ID_TOKEN_EXPIRE_SECONDS": 3600,
        "REFRESH_TOKEN_EXPIRE_SECONDS": 30 * 24 * 3600,
        "ROTATE_REFRESH_TOKEN": True,
        "REFRESH_TOKEN_REUSE_PROTECTION": True,
        "REQUEST_APPROVAL_PROMPT": "force",
        "ALLOWED_REDIRECT_URI_SCHEMES": ["https", "http"],
        "ALLOW_LOCALHOST_LOOPBACK": False,
        "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
        "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
        "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
        "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
        "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
        "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
        # DOT passes this *algorithm name* to make_password(): client secrets get one salted
        # HMAC-SHA256 (PBKDF2 if short or low-entropy) instead of 1,000,000 PBKDF2 rounds per request.
        "CLIENT_SECRET_HASHER": CLIENT_SECRET_ALGORITHM,
        "SCOPES": {"introspection": "Introspect tokens"},
        # RFC 8414 metadata: the grants SMART clients can use here (no device flow).
        "OAUTH2_GRANT_TYPES_SUPPORTED": [
            "authorization_code",
            "client_credentials",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ],
        "APPLICATION_ADMIN_CLASS": "smart_auth.dot_admin.SmartApplicationAdmin",
        "RESOURCE_SERVER_TOKEN_RESOURCE_VALIDATOR": "smart_auth.oauth2.validators.validate_token_audience",
    }
    settings.update(overrides)
    return settings
