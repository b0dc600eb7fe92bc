"""Default implementations of the hooks a vendor replaces through ``SMART_AUTH`` settings."""

from urllib.parse import urlsplit

from django.urls import reverse
from oauth2_provider.settings import oauth2_settings

from .directory import patient_directory, patient_name


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

    A patient user (``fhirUser`` = ``Patient/x``, one of ours) picks only themself; a user whose
    ``fhirUser`` is another kind of local resource (a Practitioner) picks among the patients of
    the ``PATIENT_DIRECTORY`` (in the authorization's picker one page at a time, narrowed by its
    search fields; for a chosen ``patient`` just that one: :mod:`smart_auth.picker`); a user with
    no ``fhirUser``, or one that names another server's resource (a federated user we could not
    map), picks nobody (fail closed). Vendors replace this with their own access rules.
    """
    from .conf import smart_auth_settings

    reference = smart_auth_settings.FHIR_USER(user) or ""
    kind, _, ident = reference.partition("/")
    if kind == "Patient" and ident:
        return [(ident, patient_label(ident))]
    if not reference or "://" in reference:
        return []
    from .picker import is_picking, search_patients

    if is_picking(request):
        return search_patients(request)
    return [(resource["id"], patient_name(resource)) for resource in patient_directory().listing(200)]


def patient_label(ident):
    """How the consent screen names a patient (their name and birth date when known)."""
    if not ident:
        return ""
    resource = patient_directory().read(ident)
    return patient_name(resource) if resource else f"Patient {ident}"
