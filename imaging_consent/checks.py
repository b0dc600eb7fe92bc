"""System checks (ids ``imaging_consent.E0xx``)."""

from django.core.checks import Error, register

from smart_auth import checking as c


TYPES = {
    "EHR_SCOPE": c.STRING,
    "STUDY_IDENTIFIER_SYSTEM": c.STRING,
    "ACCESSION_SYSTEM": c.STRING,
    "REMEMBER_CONSENT": c.BOOL,
    "CONSENT_TEMPLATE": c.STRING,
}
IDS = {
    "dict": "imaging_consent.E004",
    "unknown": "imaging_consent.E005",
    "type": "imaging_consent.E006",
    "import": "imaging_consent.E006",
}


@register()
def check_setup(app_configs, **kwargs):
    from django.apps import apps
    from django.conf import settings

    if not apps.is_installed("imaging_consent"):
        return []  # registered on import, e.g. by a test, in a project without the app
    from .conf import DEFAULTS

    check = c.SettingsCheck("IMAGING_CONSENT", DEFAULTS, TYPES, IDS)
    check.run()
    problems = check.errors
    if not apps.is_installed("smart_auth"):
        problems.append(
            Error("imaging_consent needs smart_auth in INSTALLED_APPS.", id="imaging_consent.E001")
        )
    smart = getattr(settings, "SMART_AUTH", {}) or {}
    if not smart.get("TRUSTED_EHRS"):
        problems.append(
            Error("SMART_AUTH['TRUSTED_EHRS'] must name the EHR to federate with.", id="imaging_consent.E002")
        )
    view = smart.get("AUTHORIZATION_VIEW_CLASS", "")
    if view != "imaging_consent.views.ImagingAuthorizationView":
        problems.append(
            Error(
                "Set SMART_AUTH['AUTHORIZATION_VIEW_CLASS'] to "
                "'imaging_consent.views.ImagingAuthorizationView'.",
                id="imaging_consent.E003",
            )
        )
    return problems
