"""The EHR-launch API: mint a launch handle and the app's launch URL (SMART 2.2 "EHR launch")."""

from urllib.parse import urlencode, urlsplit

from .conf import smart_auth_settings
from .models import LaunchContext


SHIPPED_STYLE = "smart_auth/smart-style.json"


def default_style_url():
    """``SMART_STYLE_URL``, else the style shipped with smart_auth (a static file) at the
    issuer's origin: every launch carries a ``smart_style_url`` (SMART 2.2 launch context)."""
    if smart_auth_settings.SMART_STYLE_URL:
        return smart_auth_settings.SMART_STYLE_URL
    from django.templatetags.static import static
    from oauth2_provider.settings import oauth2_settings

    try:
        path = static(SHIPPED_STYLE)
    except ValueError:  # a manifest storage that has not collected it
        return ""
    if urlsplit(path).netloc:
        return path  # STATIC_URL on another host (a CDN)
    issuer = urlsplit(smart_auth_settings.ISSUER or oauth2_settings.OIDC_ISS_ENDPOINT or "")
    return f"{issuer.scheme}://{issuer.netloc}{path}" if issuer.netloc else ""


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
        smart_style_url=smart_style_url or default_style_url(),
        tenant=tenant or "",
        expires=LaunchContext.default_expiry(),
    )


def launch_url(launch, iss):
    """The app's registered launch URL with ``iss`` (the FHIR base) and ``launch``."""
    base = launch.application.smart.launch_uri
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}{urlencode({'iss': iss, 'launch': launch.handle})}"
