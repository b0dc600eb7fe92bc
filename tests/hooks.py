"""A vendor-style PATIENT_CHOICES hook for the tests: a fixed panel of patients per user."""

from smart_auth.hooks import fhir_user


PANEL = [("pat-1", "Pat One (1970-01-01)"), ("pat-2", "Pat Two (1980-02-02)")]


def patient_choices(request, user):
    reference = fhir_user(user) or ""
    if reference.startswith("Patient/"):
        return [(reference.split("/", 1)[1], "Me")]
    return PANEL if reference.startswith("Practitioner/") else []
