"""SMART scope enforcement: which grants a token holds for an interaction, and checks against them.

SMART App Launch 2.2 "Scopes and Launch Context": ``patient/`` scopes reach the launch patient's
compartment only, ``user/`` scopes what the user may see (``USER_ACCESS_POLICY``), ``system/``
scopes only backend-services tokens. Each scope is judged on its own: a letter, a type and a
``?param=value`` constraint are only combined when one scope carries them all, so no combination
of scopes reaches more than one of them does.
"""

from __future__ import annotations

from smart_auth.scopes import INTERACTION_LETTER

from .conf import fhir_settings
from .policies import reference_kind
from .search import (
    PATIENT_COMPARTMENT,
    R4_PATIENT_COMPARTMENT_TYPES,
    SearchError,
    SearchQuery,
    parameters_for,
    parse_clause,
)
from .storage import Entry, Grant, grant_allows


class AccessDenied(Exception):
    """403: the token's scopes or launch context do not allow this."""


class HiddenByFilter(AccessDenied):
    """404: a RESOURCE_FILTERS hook hides the resource (answered as if it did not exist)."""


# Interactions a patient-confined token may use on types outside the patient compartment
# (Practitioner, Endpoint, Organization...): those resources are shared by every patient, so
# SMART's "patient/ scopes cover the patient in context" leaves them readable at most.
SHARED_TYPE_LETTERS = frozenset("rs")


def letter_for(interaction: str) -> str:
    return INTERACTION_LETTER[interaction]


def grants_for(access, interaction: str, resource_type: str) -> list[Grant]:
    # Remembered on the access object, which lives as long as the token check is cached.
    key = (interaction, resource_type)
    cached = access.grant_cache.get(key)
    if cached is None:
        cached = access.grant_cache[key] = _grants_for(access, interaction, resource_type)
    return cached


def _grants_for(access, interaction: str, resource_type: str) -> list[Grant]:
    letter = letter_for(interaction)
    in_compartment = resource_type in PATIENT_COMPARTMENT
    # A patient's type this server cannot confine to a patient: patient-confined access gets none.
    unconfinable = not in_compartment and resource_type in R4_PATIENT_COMPARTMENT_TYPES
    shared_only = not in_compartment and (unconfinable or letter not in SHARED_TYPE_LETTERS)
    grants = []
    for scope in access.scopes:
        if not scope.allows(letter, resource_type):
            continue
        if scope.context == "system":
            if not access.is_backend:
                continue  # SMART Backend Services: system/ scopes are for clients acting alone
            patients = None
        elif scope.context == "patient":
            if not access.patient or shared_only:
                continue  # its patient's compartment, and shared types (Practitioner...) to read
            patients = frozenset([access.patient]) if in_compartment else None
        else:
            allowed = fhir_settings.USER_ACCESS_POLICY(access)
            if allowed is not None and not allowed:
                continue  # a user the policy vouches for no patient gets nothing (fail closed)
            if allowed is not None and shared_only:
                continue  # a user confined to patients: no shared-type writes, no unconfinable types
            patients = frozenset(allowed) if allowed is not None and in_compartment else None
        clauses = _constraint_clauses(resource_type, scope.query)
        if clauses is None:
            continue  # a constraint this type cannot satisfy grants nothing here
        grants.append(Grant(patients, clauses))
    return grants


def _constraint_clauses(resource_type, query):
    clauses = []
    for key, value in query:
        name, _, modifier = key.partition(":")
        param = parameters_for(resource_type).get(name)
        if param is None and name != "_id":
            return None
        try:
            clauses.append(
                parse_clause(resource_type, name, "id" if name == "_id" else param.kind, modifier, value)
            )
        except SearchError:
            return None
    return tuple(clauses)


def check_entry(access, interaction: str, entry: Entry, grants: list[Grant] | None = None):
    """Raise AccessDenied unless some grant reaches ``entry`` and every RESOURCE_FILTER agrees."""
    grants = grants_for(access, interaction, entry.resource_type) if grants is None else grants
    if not grants:
        raise AccessDenied(f"The token grants no {interaction} access to {entry.resource_type}")
    if not any(grant_allows(g, entry) for g in grants):
        raise AccessDenied(f"{entry.resource_type}/{entry.resource_id} is outside what the token grants")
    if not passes_filters(access, entry):
        raise HiddenByFilter(f"{entry.resource_type}/{entry.resource_id} is not known")


def passes_filters(access, entry: Entry) -> bool:
    return all(hook(access, entry.resource_type, entry.resource) for hook in fhir_settings.RESOURCE_FILTERS)


def filter_clauses(access, resource_type: str):
    """What the RESOURCE_FILTERS hooks allow of ``resource_type``, as search clauses (ANDed) the
    storage can apply before counting and paging; None when some hook cannot say it that way
    (then the search filters every match in memory, see smart_fhir.api.search).

    A hook may have a ``search_clauses(access, resource_type)`` attribute returning a list of
    ``Clause`` (``[]``: no restriction) or None (not expressible)."""
    clauses = []
    for hook in fhir_settings.RESOURCE_FILTERS:
        expressed = getattr(hook, "search_clauses", None)
        found = expressed(access, resource_type) if expressed is not None else None
        if found is None:
            return None
        clauses.extend(found)
    return clauses


def search_grants(access, query: SearchQuery) -> list[Grant] | None:
    """The grants that restrict a search (None: unrestricted), or AccessDenied.

    A search that names a patient outside every granted compartment is refused rather than
    answered with an empty Bundle; one that names none is confined to the granted compartments.
    """
    grants = grants_for(access, "search-type", query.resource_type)
    if not grants:
        raise AccessDenied(f"The token grants no search access to {query.resource_type}")
    if any(g.unrestricted for g in grants):
        return None
    if all(g.patients is not None for g in grants):
        reachable = set().union(*(g.patients for g in grants))
        for patient in requested_patients(query):
            if patient not in reachable:
                raise AccessDenied(f"Patient/{patient} is outside the token's patient compartment")
    return grants


def requested_patients(query: SearchQuery) -> set[str]:
    compartment_param = PATIENT_COMPARTMENT.get(query.resource_type)
    names = {"_id"} if compartment_param == "_id" else {"patient", "subject"}
    found = set()
    for clause in query.clauses:
        if clause.param in names:
            for spec in clause.values:
                kind, _, ident = (spec.code or "").rpartition("/")
                if clause.param == "_id" or kind == "Patient":
                    found.add(ident)
    return found


def check_protected_fields(access, interaction: str, resource_type: str, before: dict | None, after: dict):
    """AccessDenied when a write acting for a patient changes a ``PROTECTED_FIELDS`` element.

    Other servers match patients on these values (multi-server draft: ``Patient.identifier``);
    a patient who could rewrite their identifiers could take over another patient's records
    there. Only ``system/`` scopes of a backend client and ``user/`` scopes of a user who is not
    a Patient may change them.
    """
    fields = fhir_settings.PROTECTED_FIELDS.get(resource_type) or ()
    if not fields or _may_change_protected(access, interaction, resource_type):
        return
    before = before or {}
    changed = [name for name in fields if before.get(name) != after.get(name)]
    if changed:
        raise AccessDenied(f"{resource_type}.{', '.join(changed)} cannot be changed with this token")


def _may_change_protected(access, interaction, resource_type):
    letter = letter_for(interaction)
    user_kind = reference_kind(access.fhir_user)
    for scope in access.scopes:
        if not scope.allows(letter, resource_type) or scope.query:
            continue
        if scope.context == "system" and access.is_backend:
            return True
        if scope.context == "user" and access.fhir_user and user_kind != "Patient":
            return True
    return False
