"""System checks for smart_fhir (ids ``smart_fhir.E0xx``, documented in docs/smart_fhir.md)."""

from urllib.parse import urlsplit

from django.apps import apps
from django.core.checks import Error, Tags, Warning, register
from django.utils.module_loading import import_string

from smart_auth import checking as c


def _absolute(url):
    parts = urlsplit(url or "")
    return bool(parts.scheme in ("http", "https") and parts.netloc)


TYPES = {
    "BASE_URL": c.OPTIONAL_STRING,
    "RESOURCE_TYPES": c.STRINGS,
    "READ_ONLY": c.BOOL,
    "TRUST_LOCAL_ISSUER": c.BOOL,
    "ACCESS_TOKEN_ALGORITHMS": c.STRINGS,
    "CLOCK_SKEW_SECONDS": c.NON_NEGATIVE,
    "INTROSPECTION_CACHE_SECONDS": c.NON_NEGATIVE,
    "INTROSPECTION_TIMEOUT_SECONDS": c.POSITIVE,
    "JWKS_FETCH_TIMEOUT_SECONDS": c.POSITIVE,
    "JWKS_CACHE_MAX_SECONDS": c.POSITIVE,
    "STORAGE_BACKEND": c.STRING,
    "USER_ACCESS_POLICY": c.STRING,
    "RESOURCE_FILTERS": c.STRINGS,
    "DEFAULT_PAGE_SIZE": c.POSITIVE,
    "MAX_PAGE_SIZE": c.POSITIVE,
    "SMART_CONFIGURATION": c.OPTIONAL_DICT,
}
IDS = {
    "dict": "smart_fhir.E008",
    "unknown": "smart_fhir.E009",
    "type": "smart_fhir.E010",
    "import": "smart_fhir.E004",
}


@register(Tags.compatibility)
def check_settings(app_configs, **kwargs):
    from .conf import DEFAULTS

    check = c.SettingsCheck("SMART_FHIR", DEFAULTS, TYPES, IDS)
    # Keys with a wrong type were reported once; the checks below see their defaults.
    config = check.run()
    problems = check.errors + _storage_problems(config) + _base_url_problems(config.get("BASE_URL"))
    base = config.get("BASE_URL")
    problems += _host_derived_base_problems(base)
    if base is not None and not _absolute(base):
        problems.append(
            Error(f"SMART_FHIR['BASE_URL'] {base!r} must be an absolute http(s) URL.", id="smart_fhir.E001")
        )
    issuers = config.get("TRUSTED_ISSUERS", [])
    if not isinstance(issuers, list | tuple):
        problems.append(Error("SMART_FHIR['TRUSTED_ISSUERS'] must be a list.", id="smart_fhir.E002"))
        issuers = []
    for entry in issuers:
        if not isinstance(entry, dict) or not _absolute(entry.get("issuer")):
            problems.append(
                Error(f"Trusted issuer {entry!r} needs an absolute 'issuer' URL.", id="smart_fhir.E002")
            )
            continue
        for key in ("jwks_uri", "introspection_endpoint"):
            if entry.get(key) is not None and not _absolute(entry[key]):
                problems.append(
                    Error(f"{key} of {entry['issuer']} must be an absolute URL.", id="smart_fhir.E003")
                )
        if entry.get("introspect", "never") not in ("always", "opaque", "never"):
            problems.append(Error("'introspect' must be always, opaque or never.", id="smart_fhir.E003"))
    problems.extend(_importable("USER_ACCESS_POLICY", config["USER_ACCESS_POLICY"]))
    for hook in config.get("RESOURCE_FILTERS", []):
        problems.extend(_importable("RESOURCE_FILTERS", hook))
    if not apps.is_installed("smart_auth") and not issuers:
        problems.append(
            Error(
                "smart_fhir without smart_auth needs SMART_FHIR['TRUSTED_ISSUERS'] (its issuers).",
                id="smart_fhir.E005",
            )
        )
    if not apps.is_installed("smart_auth") and not config.get("SMART_CONFIGURATION"):
        problems.append(
            Error(
                "smart_fhir without smart_auth needs SMART_FHIR['SMART_CONFIGURATION'] for discovery.",
                id="smart_fhir.E006",
            )
        )
    protected = config.get("PROTECTED_FIELDS", {})
    if not isinstance(protected, dict) or not all(
        isinstance(names, list | tuple) and all(isinstance(n, str) for n in names)
        for names in protected.values()
    ):
        problems.append(
            Error(
                "SMART_FHIR['PROTECTED_FIELDS'] must map resource types to lists of element names.",
                id="smart_fhir.E020",
            )
        )
    if not apps.is_installed("rest_framework"):
        problems.append(Error("smart_fhir needs 'rest_framework' in INSTALLED_APPS.", id="smart_fhir.E007"))
    return problems


def _storage_problems(config):
    try:
        backend = import_string(config["STORAGE_BACKEND"])
    except ImportError as exc:
        return [
            Error(
                f"SMART_FHIR['STORAGE_BACKEND']: cannot import {config['STORAGE_BACKEND']!r} ({exc}).",
                id="smart_fhir.E004",
            )
        ]
    held = getattr(backend, "resource_types", None)
    if held is None:
        return []
    missing = [t for t in config["RESOURCE_TYPES"] if t not in held]
    if not missing:
        return []
    return [
        Error(
            f"SMART_FHIR['RESOURCE_TYPES'] names types the storage does not hold: {', '.join(missing)}.",
            hint=f"{config['STORAGE_BACKEND']} holds {', '.join(sorted(held))}.",
            id="smart_fhir.E011",
        )
    ]


def _base_url_problems(base):
    """A token's aud must be this server's base, and the local smart_auth only issues tokens for
    the bases in its FHIR_BASE_URLS."""
    from django.conf import settings

    if not base or not apps.is_installed("smart_auth"):
        return []
    governed = (getattr(settings, "SMART_AUTH", {}) or {}).get("FHIR_BASE_URLS", [])
    if not isinstance(governed, list | tuple):
        return []  # smart_auth.E007 reports it
    if base.rstrip("/") in {str(b).rstrip("/") for b in governed}:
        return []
    return [
        Error(
            f"SMART_FHIR['BASE_URL'] {base!r} is not among SMART_AUTH['FHIR_BASE_URLS'].",
            hint="The local authorization server would never issue a token this server accepts.",
            id="smart_fhir.E012",
        )
    ]


def _host_derived_base_problems(base):
    """Without BASE_URL the accepted token audience is derived from the request's Host header;
    with any host allowed, a client chooses it."""
    from django.conf import settings

    if base or "*" not in getattr(settings, "ALLOWED_HOSTS", []):
        return []
    return [
        Warning(
            "SMART_FHIR['BASE_URL'] is not set and ALLOWED_HOSTS allows any host.",
            hint="The FHIR base, and so the token audience this server accepts, would follow the "
            "request's Host header: set BASE_URL (or list the real hosts in ALLOWED_HOSTS).",
            id="smart_fhir.W001",
        )
    ]


def _importable(key, value):
    try:
        import_string(value)
    except ImportError as exc:
        return [Error(f"SMART_FHIR[{key!r}]: cannot import {value!r} ({exc}).", id="smart_fhir.E004")]
    return []
