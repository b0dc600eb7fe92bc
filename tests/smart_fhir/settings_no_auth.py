"""smart_fhir alone: no smart_auth, no oauth2_provider; a remote issuer governs the server."""

SECRET_KEY = "tests-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "rest_framework", "smart_fhir"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "tests.smart_fhir.urls_no_auth"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
SMART_FHIR = {
    "BASE_URL": "http://imaging.test/fhir",
    "TRUSTED_ISSUERS": [{"issuer": "https://as.example/o", "jwks": {"keys": []}}],  # keys set by the test
    "SMART_CONFIGURATION": {
        "issuer": "https://as.example/o",
        "authorization_endpoint": "https://as.example/o/authorize",
        "token_endpoint": "https://as.example/o/token",
        "introspection_endpoint": "https://as.example/o/introspect",
        "revocation_endpoint": "https://as.example/o/revoke",
        "capabilities": ["launch-standalone", "permission-v2"],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code"],
    },
}
