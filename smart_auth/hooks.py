"""Default implementations of the hooks a vendor replaces through ``SMART_AUTH`` settings."""

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
    """Patients a standalone launch may pick for ``user``: list of ``(id, label)``.

    A patient user (``fhirUser`` = ``Patient/x``, one of ours) picks only themself; a user whose
    ``fhirUser`` is another kind of local resource (a Practitioner) picks among the patients of
    the ``PATIENT_DIRECTORY``; a user with no ``fhirUser``, or one that names another server's
    resource (a federated user we could not map), picks nobody (fail closed). Vendors replace
    this with their own access rules.
    """
    reference = fhir_user(user) or ""
    kind, _, ident = reference.partition("/")
    if kind == "Patient" and ident:
        return [(ident, patient_label(ident))]
    if not reference or "://" in reference:
        return []
    return [(resource["id"], patient_name(resource)) for resource in patient_directory().listing(200)]


def patient_label(ident):
    """How the consent screen names a patient (their name and birth date when known)."""
    if not ident:
        return ""
    resource = patient_directory().read(ident)
    return patient_name(resource) if resource else f"Patient {ident}"
