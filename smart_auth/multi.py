"""One token for several resource servers (multi-server approach D, ``auth-multi-aud-token``).

When an authorization grants several FHIR bases and a patient, the patient's id on each server is
found through the ``PATIENT_RESOLVER`` hook. The token response then carries ``patient`` (the id
on the first server), and, when the ids differ, SMART's experimental ``authorization_details``
with a ``patient`` per location and the design's ``fhirContext`` ``launch-full-url`` entries.
"""

import logging

import requests

from .directory import identifier_token, patient_directory
from .hooks import issuer_for
from .issuance import internal_application, issue_access_token
from .resources import normalize


log = logging.getLogger(__name__)
RESOLVER_CLIENT_ID = "smart-auth-patient-resolver"
FULL_URL_ROLE = "launch-full-url"


def expand_context(context, audience, request=None):
    """Add per-server patient ids to ``context`` for a token valid at several FHIR bases."""
    patient = context.get("patient")
    if len(audience) < 2 or not patient:
        return context
    home = audience[0]
    ids = {home: patient}
    for base in audience[1:]:
        from .conf import smart_auth_settings

        ids[base] = smart_auth_settings.PATIENT_RESOLVER(patient, home, base, request)
    context = dict(context)
    context["authorization_details"] = [
        {
            "type": "smart_on_fhir",
            "locations": [base],
            "fhirVersions": ["4.0.1"],
            **({"patient": pid} if pid else {}),
        }
        for base, pid in ids.items()
    ]
    if len(set(ids.values())) > 1:
        extra = [
            {"reference": f"{base}/Patient/{pid}", "role": FULL_URL_ROLE} for base, pid in ids.items() if pid
        ]
        context["fhirContext"] = list(context.get("fhirContext", [])) + extra
    return context


def resolve_patient(patient_id, home_base, target_base, request=None):
    """Default ``PATIENT_RESOLVER``: the one target-server patient with one of our patient's
    identifiers (values escaped for FHIR search), searched with a system token this server
    mints for that target; None when none or several match."""
    patient = patient_directory().read(patient_id)
    if not patient:
        return None
    token = system_token(target_base, "system/Patient.rs", request)
    found = set()
    for identifier in patient.get("identifier", []):
        if not identifier.get("system") or not identifier.get("value"):
            continue
        try:
            response = requests.get(
                f"{normalize(target_base)}/Patient",
                params={"identifier": identifier_token(identifier["system"], identifier["value"])},
                headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"},
                timeout=5,
            )
        except requests.RequestException as exc:
            log.warning("patient resolver: %s unreachable: %s", target_base, exc)
            return None
        try:
            entries = response.json().get("entry", []) if response.status_code == 200 else []
        except (ValueError, AttributeError, RecursionError):  # not JSON, not a Bundle, too deep
            entries = []
        found.update(
            e["resource"]["id"]
            for e in entries
            if isinstance(e, dict) and e.get("resource", {}).get("resourceType") == "Patient"
        )
    return found.pop() if len(found) == 1 else None


def system_token(audience, scope, request=None, lifetime=120):
    """A short backend token of this authorization server itself, recorded by DOT like any other
    (so the resource server can introspect it)."""
    application = internal_application(RESOLVER_CLIENT_ID, "Patient resolver (internal)")
    issuer = issuer_for(request) if request is not None else _issuer()
    return issue_access_token(application, scope=scope, audience=[audience], issuer=issuer, lifetime=lifetime)


def _issuer():
    from oauth2_provider.settings import oauth2_settings

    return oauth2_settings.OIDC_ISS_ENDPOINT
