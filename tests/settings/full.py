"""Test settings: one deployment with every app, served as http://testserver.

DATABASE_URL selects PostgreSQL (pytest-django makes test_<name>); REDIS_URL selects the
channels_redis layer. Defaults: SQLite in memory and the in-memory channel layer.
"""

import os

from sandbox_project.settings.base import POSTGRES_PREPARED_STATEMENTS
from smart_auth.presets import oauth2_provider_settings
from tests.keys import TEST_SIGNING_KEY


SECRET_KEY = "tests-only-secret-key"
DEBUG = False
ALLOWED_HOSTS = ["*"]
BASE_URL = "http://testserver"

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
ROOT_URLCONF = "tests.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [os.path.join(os.path.dirname(__file__), "..", "..", "sandbox_project", "templates")],
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

if os.environ.get("DATABASE_URL"):
    import dj_database_url

    # The configuration the sandbox deploys and the README advises.
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
    DATABASES["default"].setdefault("OPTIONS", {}).update(POSTGRES_PREPARED_STATEMENTS)
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

if os.environ.get("REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [os.environ["REDIS_URL"]]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# MD5 first: users' passwords hash fast in tests. Then the client-secret hasher the preset names
# (and the PBKDF2 it keeps for short, admin-typed secrets), as a deployment lists them.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "smart_auth.hashers.ClientSecretHasher",
]
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "/accounts/login/"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

OAUTH2_PROVIDER = oauth2_provider_settings(
    TEST_SIGNING_KEY, issuer=f"{BASE_URL}/o", ALWAYS_RELOAD_OAUTHLIB_CORE=True
)
SMART_AUTH = {
    "FHIR_BASE_URLS": [f"{BASE_URL}/fhir", "http://imaging.test/fhir"],
    "SMART_STYLE_URL": f"{BASE_URL}/static/smart_auth/smart-style.json",
    "PATIENT_CHOICES": "tests.hooks.patient_choices",
    "PATIENT_DIRECTORY": "smart_fhir.directory.StoragePatientDirectory",
}

# DOT's swappable model settings, spelled out so Django's migration tooling can resolve them.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth2_provider.RefreshToken"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth2_provider.IDToken"
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"

# --- smart_fhir ---
INSTALLED_APPS += ["smart_fhir"]
SMART_FHIR = {
    "BASE_URL": f"{BASE_URL}/fhir",
    # The test deployment opts into practitioners reading every patient (the default is closed).
    "USER_ACCESS_POLICY": "smart_fhir.policies.practitioners_see_all",
}
# --- end smart_fhir ---

# --- fhircast_hub ---------------------------------------------------------------------------
INSTALLED_APPS += ["channels", "fhircast_hub"]
ASGI_APPLICATION = "sandbox_project.asgi.application"
FHIRCAST_HUB = {"ACK_TIMEOUT_SECONDS": 10}
SMART_AUTH["TOKEN_RESPONSE_CONTRIBUTORS"] = ["fhircast_hub.smart.token_response"]
if os.environ.get("REDIS_URL"):  # redis-py 8's 5 s socket timeout races channels_redis' 5 s BZPOPMIN
    CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [
        {"address": os.environ["REDIS_URL"], "socket_timeout": 30}
    ]
# --- end fhircast_hub -----------------------------------------------------------------------
