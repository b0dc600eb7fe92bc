"""User access policies (``USER_ACCESS_POLICY``): which patients a ``user/`` scope reaches.

A policy is called with the :class:`~smart_fhir.access.TokenAccess` and returns ``None`` (every
patient) or a collection of Patient ids whose compartments the user is confined to; an empty
collection grants nothing through ``user/`` scopes.
"""

USER_KINDS_WITH_BROAD_ACCESS = ("Practitioner", "PractitionerRole")


def _kind_and_id(reference):
    """``("Patient", "x")`` for ``Patient/x`` or ``https://server/fhir/Patient/x``."""
    parts = reference.rstrip("/").split("/")
    return (parts[-2], parts[-1]) if len(parts) >= 2 else ("", "")


def reference_kind(reference):
    return _kind_and_id(reference or "")[0]


def default_user_access(access):
    """Fail closed: a user whose ``fhirUser`` is one of our Patients reaches that patient's
    compartment; anyone else (no ``fhirUser``, another kind, another server's resource) reaches
    nothing. A vendor opts into broader access with a policy of its own, such as
    :func:`practitioners_see_all`."""
    kind, ident = _kind_and_id(access.local_fhir_user)
    if kind == "Patient" and ident:
        return {ident}
    return set()


def practitioners_see_all(access):
    """An explicit opt-in: Practitioners (ours, or of a trusted issuer) reach every patient;
    everyone else as :func:`default_user_access`."""
    if _kind_and_id(access.fhir_user)[0] in USER_KINDS_WITH_BROAD_ACCESS:
        return None
    return default_user_access(access)
