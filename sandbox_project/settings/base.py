"""Settings shared by the sandbox's deployments. Each role module sets ROLE before importing.

Environment: SANDBOX_DATA_DIR (databases, keys), SANDBOX_EHR_URL / SANDBOX_IMAGING_URL /
SANDBOX_APP_URL (where the deployments are served), DATABASE_URL (PostgreSQL instead of SQLite;
each role gets its own database, ``<name>_<role>``), REDIS_URL (channels_redis instead of the
in-memory channel layer).
"""

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = Path(os.environ.get("SANDBOX_DATA_DIR", BASE_DIR / ".sandbox-data"))

EHR_URL = os.environ.get("SANDBOX_EHR_URL", "http://127.0.0.1:8000").rstrip("/")
IMAGING_URL = os.environ.get("SANDBOX_IMAGING_URL", "http://127.0.0.1:8001").rstrip("/")
APP_URL = os.environ.get("SANDBOX_APP_URL", "http://127.0.0.1:8002").rstrip("/")


def role_settings(role):
    """Values every role module derives from its role name."""
    role_dir = DATA_DIR / role
    role_dir.mkdir(parents=True, exist_ok=True)
    return {
        "ROLE_DIR": role_dir,
        "DATABASES": {"default": database_for(role, role_dir)},
        "SIGNING_KEY": signing_key(role_dir / "signing-key.pem"),
    }


# Server-side parameter binding, so psycopg prepares a statement on its second use in a connection
# (Django turns both off by default for transaction-mode poolers such as older PgBouncer): PostgreSQL
# then stops planning the same query on every request. The introspection SELECT (a five-table join)
# spent 0.32 ms planning for 0.04 ms executing: 1.27 → 0.76 ms per introspection in-process.
POSTGRES_PREPARED_STATEMENTS = {"server_side_binding": True, "prepare_threshold": 2}


def database_for(role, role_dir):
    url = os.environ.get("DATABASE_URL")
    if not url:
        return {
            "ENGINE": "sandbox_project.queued_sqlite",  # SQLite, writers queued (see there)
            "NAME": str(role_dir / "db.sqlite3"),
            # Persistent connections (one per server thread; the pool of threads is fixed):
            # reopening the file and running the PRAGMAs on every request cost more than most
            # requests' queries.
            "CONN_MAX_AGE": None,
            # WAL + synchronous=NORMAL: commits stop waiting for a disk flush (the benchmark's main
            # cost); the database stays consistent, a power cut may lose the last commits.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    import dj_database_url

    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "smart"
    per_role = urlunsplit(parts._replace(path=f"/{name}_{role}"))
    # A connection pool, not persistent connections: under ASGI every request may run in a new
    # thread, and per-thread connections would exhaust PostgreSQL's slots.
    config = dj_database_url.parse(per_role, conn_max_age=0)
    config.setdefault("OPTIONS", {})["pool"] = {"min_size": 2, "max_size": 8}
    config["OPTIONS"].update(POSTGRES_PREPARED_STATEMENTS)
    return config


def signing_key(path):
    """The deployment's RSA signing key, made on first start (PEM, mode 0600)."""
    path = Path(path)
    if not path.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
    return path.read_text()


def secret_key(role_dir):
    path = Path(role_dir) / "secret-key"
    if not path.exists():
        import secrets

        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


def channel_layers():
    url = os.environ.get("REDIS_URL")
    if url:
        # socket_timeout above channels_redis' 5 s blocking pop (redis-py 8 defaults to 5 s).
        hosts = [{"address": url, "socket_timeout": 30}]
        return {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": hosts}}}
    return {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


# Off unless asked for (SANDBOX_DEBUG=1): Django's debug pages show settings, local variables and
# URL patterns to whoever triggers an error. Tracebacks go to the log (stderr) instead.
DEBUG = os.environ.get("SANDBOX_DEBUG", "0") == "1"
ALLOWED_HOSTS = [
    "127.0.0.1",
    "localhost",
    "[::1]",
    "testserver",
    *os.environ.get("SANDBOX_ALLOWED_HOSTS", "").split(),
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "oauth2_provider",
    "rest_framework",
    "smart_auth",
    "sandbox_project",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "sandbox_project" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

AUTH_PASSWORD_VALIDATORS = []
# Django's defaults (user passwords: PBKDF2 first), then the client-secret hasher that
# oauth2_provider_settings() names in CLIENT_SECRET_HASHER: one salted HMAC-SHA256 per token
# request instead of 1,000,000 PBKDF2 rounds (docs/smart_auth.md, "Client secrets").
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "smart_auth.hashers.ClientSecretHasher",
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SAMESITE = "Lax"
APPEND_SLASH = True

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.server": {"handlers": ["console"], "level": "WARNING"},
        # Unexpected errors (500s): the traceback is logged here, the client sees a plain page.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}

# DOT's swappable model settings, spelled out so Django's migration tooling can resolve them.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth2_provider.RefreshToken"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth2_provider.IDToken"
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"
