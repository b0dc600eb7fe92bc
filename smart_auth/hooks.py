"""Default implementations of the hooks a vendor replaces through ``SMART_AUTH`` settings."""

from urllib.parse import urlsplit

from django.apps import apps
from django.urls import reverse
from oauth2_provider.settings import oauth2_settings


# Keys of a launch context that travel inside the JWT access token, so that a remote resource
# server can enforce the patient compartment without calling introspection.
# ``consent`` names a consent record that narrows the token (imaging_consent).
TOKEN_CLAIM_KEYS = (
    "patient",
    "encounter",
    "fhirContext",
    "fhirUser",
    "authorization_details",
    "tenant",
    "consent",
)


def issuer_for(request):
    """Our issuer: ``OIDC_ISS_ENDPOINT`` when set, else derived from the request like DOT does."""
    return oauth2_settings.oidc_issuer(request)


def endpoint_url(request, name):
    """Absolute URL of one of our endpoints on the issuer's origin.

    Discovery publishes these and the token endpoint accepts a client assertion whose ``aud`` is
    this URL: both derive from the issuer, so they cannot disagree with it (behind a proxy the
    request's own host may not be the public one).
    """
    parts = urlsplit(issuer_for(request))
    return f"{parts.scheme}://{parts.netloc}{reverse(name)}"


def token_claims_context(request):
    context = getattr(request, "smart_context", None) or {}
    return {key: context[key] for key in TOKEN_CLAIM_KEYS if context.get(key) not in (None, "", [])}


def fhir_user(user):
    """The relative FHIR reference of ``user`` (``Practitioner/…``, ``Patient/…``) or None."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    smart = getattr(user, "smart", None)
    try:
        return smart.fhir_user if smart else None
    except Exception:  # RelatedObjectDoesNotExist
        return None


def patient_choices(request, user):
    """Patients a standalone launch may pick for ``user``: a list of ``(id, label)``.

    A patient user sees only themself; anyone else sees the patients of this deployment's FHIR
    store (when smart_fhir is installed): in the authorization's picker one page at a time,
    narrowed by its search fields, and for a chosen ``patient`` just that one (see
    :mod:`smart_auth.picker`). Vendors replace this with their own access rules.
    """
    from .conf import smart_auth_settings

    reference = smart_auth_settings.FHIR_USER(user) or ""
    kind, _, ident = reference.partition("/")
    if kind == "Patient":
        return [(ident, _patient_label(ident))]
    if not apps.is_installed("smart_fhir"):
        return []
    from .picker import is_picking, search_patients

    if is_picking(request):
        return search_patients(request, _name_of)
    from smart_fhir.storage import get_storage

    # Elsewhere (an EHR's own patient list): the first 200 by family name.
    params = {"_count": ["200"], "_sort": ["family"], "_total": ["none"]}
    return [
        (resource["id"], _name_of(resource)) for resource in get_storage().search("Patient", params).resources
    ]


def patient_label(ident):
    """How the consent screen names a patient (their name and birth date when known)."""
    return _patient_label(ident) if ident else ""


def _patient_label(ident):
    if apps.is_installed("smart_fhir"):
        from smart_fhir.storage import get_storage

        resource = get_storage().read("Patient", ident)
        if resource:
            return _name_of(resource)
    return f"Patient {ident}"


def _name_of(resource):
    for name in resource.get("name", []):
        text = name.get("text") or " ".join([*name.get("given", []), name.get("family", "")]).strip()
        if text:
            birth = resource.get("birthDate")
            return f"{text} ({birth})" if birth else text
    return f"Patient {resource.get('id')}"
