"""A launch-token from a trusted EHR used as ``launch`` at this authorization server (approach B).

The EHR introspects the launch-token (active, issued to the app now asking), we read the EHR's
Patient to learn its identifiers, and find our own patient. Without a match, patient scopes are
not granted.
"""

from . import scopes as smart_scopes
from .federation import introspect, local_patient_for, require_same_app, trusted_ehrs
from .launch_tokens import TOKEN_TYPE
from .resources import AudienceError


def remote_launch_context(launch_token, application, scopes):
    """``(context, scopes)`` for ``launch_token``, or AudienceError / FederationError."""
    data = None
    for ehr in trusted_ehrs():
        data = introspect(ehr, launch_token)
        if data.get("active"):
            break
    if not data or not data.get("active"):
        raise AudienceError("invalid_request", "The launch-token is not active (expired, used or unknown)")
    if data.get("token_type") != TOKEN_TYPE:
        raise AudienceError("invalid_request", "The launch parameter is not a launch-token")
    require_same_app(ehr, application, data.get("client_id"), data.get("software_id"), "launch-token")
    context = {}
    patient = None
    if data.get("patient"):
        patient = local_patient_for(ehr, data["patient"])
    if patient:
        context = {"patient": patient, "need_patient_banner": True}
    else:
        scopes = without_patient_scopes(scopes)
        if not [s for s in scopes if s != "launch"]:
            raise AudienceError("invalid_scope", "No patient here matches the EHR's patient")
    return context, scopes


def without_patient_scopes(scopes):
    kept = []
    for raw in scopes:
        scope = smart_scopes.parse_scope(raw)
        if isinstance(scope, smart_scopes.ResourceScope) and scope.context == "patient":
            continue
        if raw == "launch/patient":
            continue
        kept.append(raw)
    return kept
