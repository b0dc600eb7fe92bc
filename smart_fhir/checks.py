"""System checks for smart_fhir (ids ``smart_fhir.E0xx``, documented in docs/smart_fhir.md)."""

from urllib.parse import urlsplit

from django.apps import apps
from django.core.checks import Error, Tags, register
from django.utils.module_loading import import_string


def _absolute(url):
    parts = urlsplit(url or "")
    return bool(parts.scheme in ("http", "https") and parts.netloc)


@register(Tags.compatibility)
def check_settings(app_configs, **kwargs):
    from django.conf import settings

    config = getattr(settings, "SMART_FHIR", {}) or {}
    problems = []
    base = config.get("BASE_URL")
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
    for key in ("STORAGE_BACKEND", "USER_ACCESS_POLICY"):
        if key in config:
            problems.extend(_importable(key, config[key]))
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


def _importable(key, value):
    try:
        import_string(value)
    except ImportError as exc:
        return [Error(f"SMART_FHIR[{key!r}]: cannot import {value!r} ({exc}).", id="smart_fhir.E004")]
    return []
