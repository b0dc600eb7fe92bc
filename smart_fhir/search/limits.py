"""Limits on a search request, checked before it is parsed or reaches the database.

Without them a client chooses the server's answer: 2,000 OR values in one parameter build an SQL
expression deeper than SQLite allows, and ``_offset=10^20`` overflows its integers (500s).
"""

from ..conf import fhir_settings
from .values import SearchError


def check_search_limits(params: dict) -> None:
    """Raise SearchError (400) when ``params`` (``dict[str, list[str]]``) exceeds a limit."""
    values = [(key, value) for key, items in params.items() for value in items]
    most = fhir_settings.MAX_SEARCH_PARAMETERS
    if len(values) > most:
        raise SearchError(f"{len(values)} search parameters; this server takes at most {most}")
    for key, value in values:
        # Unescaped commas separate OR values (FHIR R4 §3.1.1.5.5: "\," is a literal comma).
        alternatives = value.count(",") - value.count("\\,") + 1
        if alternatives > fhir_settings.MAX_OR_VALUES:
            raise SearchError(
                f"{key} has {alternatives} values; this server takes at most {fhir_settings.MAX_OR_VALUES}"
            )
        if key == "_offset" and value.strip().isdigit():
            limit = fhir_settings.MAX_SEARCH_OFFSET
            if len(value.strip()) > len(str(limit)) or int(value) > limit:
                raise SearchError(f"_offset must be at most {limit}")
