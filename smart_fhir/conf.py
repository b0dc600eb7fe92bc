"""``SMART_FHIR`` settings. Every key is documented in docs/smart_fhir.md."""

from smart_auth.appsettings import AppSettings


DEFAULTS = {
    # This server's FHIR base URL: tokens must carry it in `aud`; links and fullUrls use it.
    # None: derived from the request as <scheme>://<host>/fhir.
    "BASE_URL": None,
    # Resource types served, and the interactions allowed on them.
    "RESOURCE_TYPES": [
        "Patient",
        "Encounter",
        "Observation",
        "DiagnosticReport",
        "ImagingStudy",
        "Practitioner",
        "Endpoint",
    ],
    "READ_ONLY": False,
    # Remote authorization servers whose tokens we accept: a list of
    # {"issuer": ..., "jwks_uri": ..., "introspection_endpoint": ..., "introspection_auth": ...}.
    # "introspect": "always" asks the issuer on every (uncached) token to learn of revocation;
    # "opaque" only for tokens that are not JWTs.
    "TRUSTED_ISSUERS": [],
    # The local smart_auth issuer (OAUTH2_PROVIDER["OIDC_ISS_ENDPOINT"]) is trusted when installed.
    "TRUST_LOCAL_ISSUER": True,
    "ACCESS_TOKEN_ALGORITHMS": ["RS256", "RS384", "ES256", "ES384", "PS256"],
    "CLOCK_SKEW_SECONDS": 30,
    # Positive token checks (signature + introspection) are remembered this long, per process.
    "INTROSPECTION_CACHE_SECONDS": 30,
    "INTROSPECTION_TIMEOUT_SECONDS": 3,
    "JWKS_FETCH_TIMEOUT_SECONDS": 5,
    "JWKS_CACHE_MAX_SECONDS": 3600,
    # Storage and hooks (import strings).
    "STORAGE_BACKEND": "smart_fhir.storage.orm.OrmStorage",
    "USER_ACCESS_POLICY": "smart_fhir.policies.default_user_access",
    "RESOURCE_FILTERS": [],
    # Fields a token acting for a patient (patient/ scopes, or user/ scopes of a Patient user)
    # may not change: other servers match patients on them. {resource type: [element, ...]}.
    "PROTECTED_FIELDS": {"Patient": ["identifier"]},
    # Paging.
    "DEFAULT_PAGE_SIZE": 20,
    "MAX_PAGE_SIZE": 200,
    # Limits on what a client may send (over them: OperationOutcome 400, or 413 for the body).
    "MAX_BODY_BYTES": 5_000_000,
    "MAX_JSON_DEPTH": 64,
    "MAX_SEARCH_PARAMETERS": 50,  # search values in one request (each AND, each _include, ...)
    "MAX_OR_VALUES": 100,  # comma-separated values of one parameter
    "MAX_SEARCH_OFFSET": 1_000_000,
    # Served at {base}/.well-known/smart-configuration when smart_auth is not installed.
    "SMART_CONFIGURATION": None,
}

IMPORT_STRINGS = ("USER_ACCESS_POLICY", "RESOURCE_FILTERS")

fhir_settings = AppSettings("SMART_FHIR", DEFAULTS, IMPORT_STRINGS)
