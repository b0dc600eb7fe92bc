"""This server's FHIR base URL and the local issuer, derived once per host."""

import functools

from django.apps import apps
from django.urls import reverse

from .conf import fhir_settings


def fhir_base_url(request) -> str:
    base = getattr(request, "fhir_base", None)
    if base is None:
        base = fhir_settings.BASE_URL or _derived_base(request.scheme, request.get_host(), _mount_path())
        request.fhir_base = base.rstrip("/")
    return request.fhir_base


def _mount_path():
    """Where the project mounted smart_fhir.urls (with the script prefix), e.g. ``/fhir``."""
    return reverse("smart_fhir:metadata")[: -len("metadata")].rstrip("/")


@functools.lru_cache(maxsize=32)
def _derived_base(scheme, host, path):
    return f"{scheme}://{host}{path}"


@functools.cache
def smart_auth_installed() -> bool:
    # INSTALLED_APPS does not change while serving; the registry lookup is not free per request.
    return apps.is_installed("smart_auth")


def local_issuer(request) -> str:
    """The issuer of the local smart_auth (``OIDC_ISS_ENDPOINT``), or "" without smart_auth."""
    if not smart_auth_installed():
        return ""
    from smart_auth.hooks import issuer_for

    return (issuer_for(request) or "").rstrip("/")
