"""Index values extracted from resources: tokens, strings, references and date ranges.

Pure functions on resource dicts (no Django models), shared by the storage backend (indexing,
SQL filters) and the enforcement code (in-memory checks of a single resource).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


MAX_VALUE_LENGTH = 255


class SearchError(ValueError):
    """A search request or a search value that this server cannot understand (HTTP 400)."""


@dataclass(frozen=True)
class IndexValue:
    system: str = ""
    value: str = ""
    low: datetime | None = None
    high: datetime | None = None


def normalize_string(text: str) -> str:
    """Lower case without accents: FHIR string search is case- and accent-insensitive."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.lower().split())[:MAX_VALUE_LENGTH]


# --- dates -------------------------------------------------------------------------------------
_DATE_RE = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,9}))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def date_range(text: str) -> tuple[datetime, datetime]:
    """The half-open UTC instant range a FHIR date, dateTime or instant stands for."""
    match = _DATE_RE.match(text or "")
    if not match:
        raise SearchError(f"{text!r} is not a FHIR date or dateTime")
    parts = match.groupdict()
    try:
        year = int(parts["year"])
        if parts["month"] is None:
            low = datetime(year, 1, 1, tzinfo=UTC)
            return low, datetime(year + 1, 1, 1, tzinfo=UTC)
        month = int(parts["month"])
        if parts["day"] is None:
            low = datetime(year, month, 1, tzinfo=UTC)
            high = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
            return low, high
        day = int(parts["day"])
        if parts["hour"] is None:
            low = datetime(year, month, day, tzinfo=UTC)
            return low, low + timedelta(days=1)
        second = int(parts["second"] or 0)
        fraction = parts["fraction"] or ""
        micro = int((fraction + "000000")[:6]) if fraction else 0
        low = datetime(year, month, day, int(parts["hour"]), int(parts["minute"]), second, micro, tzinfo=UTC)
    except ValueError as exc:
        raise SearchError(f"{text!r} is not a valid date: {exc}") from exc
    tz = parts["tz"]
    precision = timedelta(microseconds=1) if fraction else timedelta(seconds=1 if parts["second"] else 60)
    try:
        if tz and tz != "Z":
            sign = 1 if tz[0] == "+" else -1
            low -= sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
        return low, low + precision
    except OverflowError:  # e.g. 9999-12-31T23:59:59-14:00 is past datetime.max in UTC
        raise SearchError(f"{text!r} is out of the supported date range") from None


def date_values(value) -> list[IndexValue]:
    """Index values of a date, dateTime, instant or Period."""
    if isinstance(value, str):
        try:
            low, high = date_range(value)
        except SearchError:
            return []
        return [IndexValue(low=low, high=high)]
    if isinstance(value, dict) and ("start" in value or "end" in value):
        try:
            low = date_range(value["start"])[0] if value.get("start") else datetime.min.replace(tzinfo=UTC)
            high = date_range(value["end"])[1] if value.get("end") else datetime.max.replace(tzinfo=UTC)
        except SearchError:
            return []
        return [IndexValue(low=low, high=high)]
    return []


# --- tokens, strings, references --------------------------------------------------------------
def token_values(value) -> list[IndexValue]:
    """Index values of a code, Coding, CodeableConcept or Identifier (or a list of them)."""
    if isinstance(value, list):
        return [v for item in value for v in token_values(item)]
    if isinstance(value, str | bool):
        text = str(value).lower() if isinstance(value, bool) else value
        return [IndexValue(value=text[:MAX_VALUE_LENGTH])]
    if not isinstance(value, dict):
        return []
    if "coding" in value:
        return token_values(value["coding"])
    code = value.get("code", value.get("value"))
    if isinstance(code, str):
        return [
            IndexValue(system=str(value.get("system", ""))[:MAX_VALUE_LENGTH], value=code[:MAX_VALUE_LENGTH])
        ]
    return []


def string_values(value) -> list[IndexValue]:
    """Index values of a string or a HumanName (each part separately, and the whole name)."""
    if isinstance(value, list):
        return [v for item in value for v in string_values(item)]
    if isinstance(value, str):
        return [IndexValue(value=normalize_string(value))]
    if isinstance(value, dict):
        parts = [value.get("text"), value.get("family"), *value.get("given", []), *value.get("prefix", [])]
        return [IndexValue(value=normalize_string(p)) for p in parts if isinstance(p, str) and p]
    return []


def reference_values(value) -> list[IndexValue]:
    if isinstance(value, list):
        return [v for item in value for v in reference_values(item)]
    if isinstance(value, dict) and isinstance(value.get("reference"), str):
        relative = relative_reference(value["reference"])
        return [IndexValue(value=relative)] if relative else []
    return []


_REFERENCE_RE = re.compile(
    r"(?:^|/)(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$"
)


def relative_reference(reference: str) -> str:
    """``Type/id`` of a relative or absolute literal reference; "" when it is neither."""
    match = _REFERENCE_RE.search(reference or "")
    return f"{match['type']}/{match['id']}" if match else ""


def path_values(resource: dict, path: str) -> list:
    """The values at a dotted path; lists are flattened at every step (FHIRPath-like)."""
    current = [resource]
    for step in path.split("."):
        found = []
        for node in current:
            if isinstance(node, dict) and step in node:
                item = node[step]
                found.extend(item if isinstance(item, list) else [item])
        current = found
    return current
