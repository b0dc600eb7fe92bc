"""``SMART_AUTH`` settings. Every key is documented in docs/smart_auth.md."""

from .appsettings import AppSettings


DEFAULTS = {
    # FHIR base URLs this authorization server governs: the accepted `aud` / `resource` values.
    "FHIR_BASE_URLS": [],
    # Launch handles (EHR launch) are single-use and expire after this many seconds.
    "LAUNCH_EXPIRE_SECONDS": 300,
    # Backend-services (client_credentials) access tokens: SMART says at most 300 s.
    "BACKEND_TOKEN_EXPIRE_SECONDS": 300,
    # private_key_jwt: the longest exp - now accepted, and the JWKS fetch limits.
    "CLIENT_ASSERTION_MAX_LIFETIME_SECONDS": 300,
    "JWKS_FETCH_TIMEOUT_SECONDS": 5,
    "JWKS_CACHE_MAX_SECONDS": 3600,
    "CLIENT_ASSERTION_ALGORITHMS": ["RS384", "ES384", "RS256", "ES256", "RS512", "ES512", "PS384"],
    # Hooks (import strings).
    "PATIENT_CHOICES": "smart_auth.hooks.patient_choices",
    "FHIR_USER": "smart_auth.hooks.fhir_user",
    "TOKEN_RESPONSE_CONTRIBUTORS": [],
    # Discovery.
    "EXTRA_CAPABILITIES": [],
    "ASSOCIATED_ENDPOINTS": [],
    "SMART_STYLE_URL": None,
    "USER_ACCESS_BRAND_BUNDLE": None,
    # Multi-server: launch-tokens issued here (scope launch-token) expire after this many seconds.
    "LAUNCH_TOKEN_EXPIRE_SECONDS": 300,
    # Other authorization servers (EHRs) whose launch-tokens, id_tokens and access tokens this
    # server accepts: list of dicts, see smart_auth.federation.TrustedEHR.
    "TRUSTED_EHRS": [],
    # The patient store this server's pickers and matching read (smart_auth.directory): an
    # import string of a class or factory; None: no patient is known (fail closed).
    "PATIENT_DIRECTORY": None,
    # Hooks for patient identity across servers.
    "PATIENT_MATCHER": "smart_auth.federation.match_patient",
    "PATIENT_RESOLVER": "smart_auth.multi.resolve_patient",
    # The authorization endpoint's view (imaging_consent plugs in its dual launch here).
    "AUTHORIZATION_VIEW_CLASS": "smart_auth.views.SmartAuthorizationView",
    # Consent screen template.
    "AUTHORIZE_TEMPLATE": "smart_auth/authorize.html",
}

IMPORT_STRINGS = (
    "PATIENT_CHOICES",
    "FHIR_USER",
    "TOKEN_RESPONSE_CONTRIBUTORS",
    "PATIENT_DIRECTORY",
    "PATIENT_MATCHER",
    "PATIENT_RESOLVER",
    "AUTHORIZATION_VIEW_CLASS",
)

smart_auth_settings = AppSettings("SMART_AUTH", DEFAULTS, IMPORT_STRINGS)
