"""System checks for smart_auth (ids ``smart_auth.E0xx`` / ``W0xx``, documented in docs/smart_auth.md)."""

from urllib.parse import urlsplit

from django.core.checks import Error, Warning, register
from django.urls import NoReverseMatch, reverse

from . import checking as c


TYPES = {
    "FHIR_BASE_URLS": c.STRINGS,
    "LAUNCH_EXPIRE_SECONDS": c.POSITIVE,
    "BACKEND_TOKEN_EXPIRE_SECONDS": c.POSITIVE,
    "CLIENT_ASSERTION_MAX_LIFETIME_SECONDS": c.POSITIVE,
    "JWKS_FETCH_TIMEOUT_SECONDS": c.POSITIVE,
    "JWKS_CACHE_MAX_SECONDS": c.POSITIVE,
    "CLIENT_ASSERTION_ALGORITHMS": c.STRINGS,
    "PATIENT_CHOICES": c.STRING,
    "FHIR_USER": c.STRING,
    "TOKEN_RESPONSE_CONTRIBUTORS": c.STRINGS,
    "EXTRA_CAPABILITIES": c.STRINGS,
    "ASSOCIATED_ENDPOINTS": c.DICTS,
    "SMART_STYLE_URL": c.OPTIONAL_STRING,
    "USER_ACCESS_BRAND_BUNDLE": c.OPTIONAL_STRING,
    "LAUNCH_TOKEN_EXPIRE_SECONDS": c.POSITIVE,
    "TRUSTED_EHRS": c.DICTS,
    "PATIENT_DIRECTORY": c.OPTIONAL_STRING,
    "PATIENT_MATCHER": c.STRING,
    "PATIENT_RESOLVER": c.STRING,
    "AUTHORIZATION_VIEW_CLASS": c.STRING,
    "AUTHORIZE_TEMPLATE": c.STRING,
}
HOOKS = ("PATIENT_CHOICES", "FHIR_USER", "PATIENT_MATCHER", "PATIENT_RESOLVER", "AUTHORIZATION_VIEW_CLASS")
IDS = {
    "dict": "smart_auth.E005",
    "unknown": "smart_auth.E006",
    "type": "smart_auth.E007",
    "import": "smart_auth.E008",
}

REQUIRED_DOT = {
    "OAUTH2_VALIDATOR_CLASS": "smart_auth.oauth2.validators.SmartOAuth2Validator",
    "OAUTH2_SERVER_CLASS": "smart_auth.oauth2.server.SmartServer",
    "OAUTH2_BACKEND_CLASS": "smart_auth.oauth2.backend.SmartOAuthLibCore",
    "SCOPES_BACKEND_CLASS": "smart_auth.oauth2.scopes_backend.SmartScopes",
}


@register()
def check_settings(app_configs, **kwargs):
    from django.conf import settings

    from .resources import is_valid_resource_uri

    problems = []
    dot = getattr(settings, "OAUTH2_PROVIDER", {}) or {}
    for key, value in REQUIRED_DOT.items():
        configured = dot.get(key)
        if configured is None or (
            isinstance(configured, str) and configured != value and not _is_subclass(configured, value)
        ):
            problems.append(
                Error(
                    f"OAUTH2_PROVIDER[{key!r}] must be {value!r} (or a subclass).",
                    id="smart_auth.E001",
                )
            )
    if not dot.get("OIDC_RSA_PRIVATE_KEY"):
        problems.append(
            Error(
                "OAUTH2_PROVIDER['OIDC_RSA_PRIVATE_KEY'] is required to sign tokens.",
                hint="Make one with: python manage.py smart_signing_key --out signing-key.pem",
                id="smart_auth.E002",
            )
        )
    from .conf import DEFAULTS

    check = c.SettingsCheck("SMART_AUTH", DEFAULTS, TYPES, IDS)
    smart = check.run()
    for key in HOOKS:
        check.importable(key, smart[key])
    if smart["PATIENT_DIRECTORY"]:
        check.importable("PATIENT_DIRECTORY", smart["PATIENT_DIRECTORY"])
    if "TOKEN_RESPONSE_CONTRIBUTORS" not in check.bad_keys:
        for hook in smart["TOKEN_RESPONSE_CONTRIBUTORS"]:
            check.importable("TOKEN_RESPONSE_CONTRIBUTORS", hook)
    problems += check.errors
    bases = smart["FHIR_BASE_URLS"]
    if not bases and "FHIR_BASE_URLS" not in check.bad_keys:
        problems.append(
            Error(
                "SMART_AUTH['FHIR_BASE_URLS'] must list the FHIR base URLs you govern.", id="smart_auth.E003"
            )
        )
    for base in bases:
        if not is_valid_resource_uri(base):
            problems.append(Error(f"FHIR base URL {base!r} is not an absolute URI.", id="smart_auth.E004"))
    problems += _issuer_problems(dot.get("OIDC_ISS_ENDPOINT"))
    if not dot.get("COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS"):
        problems.append(
            Warning(
                "RFC 9207 iss is off: set "
                "OAUTH2_PROVIDER['COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS'] = True.",
                id="smart_auth.W001",
            )
        )
    problems.extend(_federation_problems(smart))
    problems.extend(_client_secret_hasher_problems(dot.get("CLIENT_SECRET_HASHER", "default")))
    try:
        import oauthlib

        if int(oauthlib.__version__.split(".")[0]) >= 4:
            problems.append(Warning("smart_auth is tested with oauthlib < 4.", id="smart_auth.W002"))
    except (ImportError, ValueError):
        pass
    return problems


def _federation_problems(smart):
    """Patient lookups fail closed when unconfigured: say so rather than let pickers sit empty."""
    problems = []
    if not smart.get("PATIENT_DIRECTORY"):
        problems.append(
            Warning(
                "SMART_AUTH['PATIENT_DIRECTORY'] is not set: patient pickers and patient matching "
                "know no patient (e.g. 'smart_fhir.directory.StoragePatientDirectory').",
                id="smart_auth.W020",
            )
        )
    for ehr in smart.get("TRUSTED_EHRS", []):
        if not ehr.get("patient_identifier_systems"):
            problems.append(
                Warning(
                    f"Trusted EHR {ehr.get('issuer')!r} names no patient_identifier_systems: "
                    "no patient will be matched, so no patient scopes are granted for it.",
                    id="smart_auth.W021",
                )
            )
    return problems


def _client_secret_hasher_problems(name):
    """DOT hashes client secrets with ``make_password(secret, hasher=CLIENT_SECRET_HASHER)`` (an
    algorithm name looked up in PASSWORD_HASHERS): a name PASSWORD_HASHERS lacks fails at client
    creation. ClientSecretHasher also needs a ``pbkdf2_sha256`` hasher for weak secrets, and must
    not be first (it would hash user passwords)."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    from .hashers import ClientSecretHasher

    if name == "default":
        return []
    listed = []
    for path in settings.PASSWORD_HASHERS:
        try:
            listed.append(import_string(path))
        except ImportError:
            listed.append(None)  # Django's own auth checks / get_hashers() report it
    algorithms = [getattr(hasher, "algorithm", None) for hasher in listed]
    if name not in algorithms:
        ours = name == ClientSecretHasher.algorithm
        return [
            Error(
                f"OAUTH2_PROVIDER['CLIENT_SECRET_HASHER'] is {name!r}, which no hasher in "
                "PASSWORD_HASHERS implements: creating a confidential client would fail.",
                hint=(
                    "Append it after your user-password hasher: PASSWORD_HASHERS = "
                    '[*django.conf.global_settings.PASSWORD_HASHERS, "smart_auth.hashers.ClientSecretHasher"]'
                    if ours
                    else f"List the hasher whose algorithm is {name!r} in PASSWORD_HASHERS."
                ),
                id="smart_auth.E011",
            )
        ]
    hasher = listed[algorithms.index(name)]
    if not (isinstance(hasher, type) and issubclass(hasher, ClientSecretHasher)):
        return []
    problems = []
    if hasher.fallback_algorithm not in algorithms:
        problems.append(
            Error(
                f"{hasher.__name__} stores short or low-entropy client secrets with "
                f"{hasher.fallback_algorithm!r}, which PASSWORD_HASHERS does not list: such a "
                "client could not be saved.",
                hint='Keep "django.contrib.auth.hashers.PBKDF2PasswordHasher" in PASSWORD_HASHERS.',
                id="smart_auth.E012",
            )
        )
    if algorithms[0] == name:
        problems.append(
            Warning(
                f"{hasher.__name__} is first in PASSWORD_HASHERS: user passwords of 32 characters "
                "or more would get its fast hash instead of a slow KDF.",
                hint="List it after your user-password hasher (e.g. after Django's defaults).",
                id="smart_auth.W003",
            )
        )
    return problems


def _is_subclass(path, base_path):
    from django.utils.module_loading import import_string

    try:
        return issubclass(import_string(path), import_string(base_path))
    except (ImportError, TypeError):
        return False


def _issuer_problems(issuer):
    """The issuer must be where smart_auth.oauth2_urls is mounted: discovery and the accepted
    client-assertion ``aud`` are built on it, and DOT serves OpenID discovery under it."""
    try:
        token_path = reverse("oauth2_provider:token")
    except NoReverseMatch:
        return [
            Error(
                "smart_auth.oauth2_urls is not mounted (no URL named oauth2_provider:token).",
                hint='Add path("o/", include("smart_auth.oauth2_urls")) to the root URLconf.',
                id="smart_auth.E009",
            )
        ]
    if not issuer:
        return []
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        return [Error(f"The issuer {issuer!r} must be an absolute http(s) URL.", id="smart_auth.E010")]
    mount = token_path[: -len("token/")]
    if parts.path.rstrip("/") + "/" != mount:
        return [
            Error(
                f"The issuer {issuer!r} does not match where smart_auth.oauth2_urls is mounted ({mount}).",
                hint=f'Use issuer=f"{{PUBLIC_URL}}{mount.rstrip("/")}" in oauth2_provider_settings().',
                id="smart_auth.E010",
            )
        ]
    return []
