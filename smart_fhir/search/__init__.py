"""FHIR search: parameter definitions, value extraction, request parsing and in-memory matching."""

from .params import (
    PATIENT_COMPARTMENT,
    R4_PATIENT_COMPARTMENT_TYPES,
    SEARCH_PARAMETERS,
    compartment_of,
    index_values,
    parameters_for,
)
from .query import Clause, SearchQuery, parse_clause, parse_search, value_matches
from .values import IndexValue, SearchError, date_range, relative_reference


__all__ = [
    "PATIENT_COMPARTMENT",
    "R4_PATIENT_COMPARTMENT_TYPES",
    "SEARCH_PARAMETERS",
    "Clause",
    "IndexValue",
    "SearchError",
    "SearchQuery",
    "compartment_of",
    "date_range",
    "index_values",
    "parameters_for",
    "parse_clause",
    "parse_search",
    "relative_reference",
    "resource_matches",
    "value_matches",
]


def resource_matches(resource_type: str, resource: dict, clauses: list[Clause]) -> bool:
    """Whether ``resource`` satisfies every clause (each clause: any of its values)."""
    for clause in clauses:
        if clause.kind == "chain":
            return False  # needs the referenced resources: only a storage backend can answer
        if clause.modifier == "missing":
            param = parameters_for(resource_type).get(clause.param)
            present = bool(param.extract(resource)) if param else False
            if present != (clause.values[0].code == "false"):
                return False
            continue
        if clause.kind == "id":
            current = [IndexValue(value=str(resource.get("id", "")))]
        elif clause.param == "_lastUpdated":
            updated = (resource.get("meta") or {}).get("lastUpdated")
            current = [IndexValue(low=r[0], high=r[1]) for r in [date_range(updated)]] if updated else []
        else:
            param = parameters_for(resource_type).get(clause.param)
            current = param.extract(resource) if param else []
        if not any(
            value_matches(clause.kind, clause.modifier, spec, value)
            for spec in clause.values
            for value in current
        ):
            return False
    return True
