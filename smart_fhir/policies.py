"""The default ``USER_ACCESS_POLICY``: which patients a ``user/`` scope reaches.

A policy is called with the :class:`~smart_fhir.access.TokenAccess` and returns ``None`` (every
patient) or a collection of Patient ids whose compartments the user is confined to.
"""


def default_user_access(access):
    """A patient user (``fhirUser`` = ``Patient/x``) sees only x's compartment; others see all."""
    kind, _, ident = access.fhir_user.partition("/")
    if kind == "Patient" and ident:
        return {ident}
    if kind == "RelatedPerson":
        return set()  # no compartment is known for them here: nothing patient-specific
    return None
