"""System checks for smart_auth (ids ``smart_auth.E0xx`` / ``W0xx``, documented in docs/smart_auth.md)."""

from django.core.checks import Error, Warning, register


REQUIRED_DOT = {
    "OAUTH2_VALIDATOR_CLASS": "smart_auth.oauth2.validators.SmartOAuth2Validator",
    "OAUTH2_SERVER_CLASS": "smart_auth.oauth2.server.SmartServer",
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
            Error("OAUTH2_PROVIDER['OIDC_RSA_PRIVATE_KEY'] is required to sign tokens.", id="smart_auth.E002")
        )
    smart = getattr(settings, "SMART_AUTH", {}) or {}
    bases = smart.get("FHIR_BASE_URLS", [])
    if not bases:
        problems.append(
            Error(
                "SMART_AUTH['FHIR_BASE_URLS'] must list the FHIR base URLs you govern.", id="smart_auth.E003"
            )
        )
    for base in bases:
        if not is_valid_resource_uri(base):
            problems.append(Error(f"FHIR base URL {base!r} is not an absolute URI.", id="smart_auth.E004"))
    if not dot.get("COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS"):
        problems.append(
            Warning(
                "RFC 9207 iss is off: set "
                "OAUTH2_PROVIDER['COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS'] = True.",
                id="smart_auth.W001",
            )
        )
    problems.extend(_federation_problems(smart))
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


def _is_subclass(path, base_path):
    from django.utils.module_loading import import_string

    try:
        return issubclass(import_string(path), import_string(base_path))
    except (ImportError, TypeError):
        return False
