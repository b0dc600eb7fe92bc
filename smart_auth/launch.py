"""The EHR-launch API: mint a launch handle and the app's launch URL (SMART 2.2 "EHR launch")."""

from urllib.parse import urlencode

from .models import LaunchContext


def create_launch(
    application,
    *,
    user=None,
    patient="",
    encounter="",
    fhir_context=None,
    intent="",
    need_patient_banner=True,
    smart_style_url="",
    tenant="",
):
    """A single-use, short-lived launch handle binding this context to ``application``."""
    return LaunchContext.objects.create(
        application=application,
        user=user,
        patient=patient or "",
        encounter=encounter or "",
        fhir_context=fhir_context or [],
        intent=intent or "",
        need_patient_banner=need_patient_banner,
        smart_style_url=smart_style_url or "",
        tenant=tenant or "",
        expires=LaunchContext.default_expiry(),
    )


def launch_url(launch, iss):
    """The app's registered launch URL with ``iss`` (the FHIR base) and ``launch``."""
    base = launch.application.smart.launch_uri
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}{urlencode({'iss': iss, 'launch': launch.handle})}"
