"""Search requests parsed into clauses (AND of clauses, OR of values within one clause)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .params import parameters_for
from .values import IndexValue, SearchError, date_range, normalize_string, relative_reference


DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")
STRING_MODIFIERS = ("", "exact", "contains")
RESULT_PARAMS = {
    "_count",
    "_offset",
    "_sort",
    "_include",
    "_revinclude",
    "_summary",
    "_total",
    "_format",
    "_pretty",
    "_elements",
}


@dataclass(frozen=True)
class SearchValueSpec:
    """One value of a clause: a token (system may be None), a string, a reference or a date."""

    system: str | None = None
    code: str | None = None
    text: str = ""
    prefix: str = "eq"
    low: datetime | None = None
    high: datetime | None = None


@dataclass(frozen=True)
class Clause:
    param: str  # a SearchParameter name, or "_id" / "_lastUpdated"
    kind: str
    modifier: str
    values: tuple[SearchValueSpec, ...]


@dataclass
class SearchQuery:
    resource_type: str
    clauses: list[Clause] = field(default_factory=list)
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (param, descending)
    count: int = 20
    offset: int = 0
    includes: list[tuple[str, str]] = field(default_factory=list)  # (source type, reference param)
    revincludes: list[tuple[str, str]] = field(default_factory=list)
    summary_count: bool = False
    total: bool = True  # False for _total=none: no COUNT query for a full page


def parse_search(resource_type, params, default_count=20, max_count=200, lenient=False) -> SearchQuery:
    """Parse ``params`` (``dict[str, list[str]]``, a QueryDict's shape) or raise SearchError."""
    query = SearchQuery(resource_type, count=default_count)
    for key, values in params.items():
        values = [v for v in values if v != ""] if key.startswith("_") else list(values)
        name, _, modifier = key.partition(":")
        if name in RESULT_PARAMS:
            _apply_result_param(query, name, modifier, values, max_count)
            continue
        clause_kind = _kind_of(resource_type, name)
        if clause_kind is None:
            if lenient:
                continue
            raise SearchError(f"Unknown search parameter {key!r} for {resource_type}")
        for value in values:
            query.clauses.append(parse_clause(resource_type, name, clause_kind, modifier, value))
    return query


def _kind_of(resource_type, name):
    if name == "_id":
        return "id"
    if name == "_lastUpdated":
        return "date"
    param = parameters_for(resource_type).get(name)
    return param.kind if param else None


def parse_clause(resource_type, name, kind, modifier, raw) -> Clause:
    if raw == "" or raw is None:
        raise SearchError(f"Search parameter {name!r} has an empty value")
    parts = _split_or(raw)
    if kind == "string":
        if modifier not in STRING_MODIFIERS:
            raise SearchError(f"Modifier :{modifier} is not supported on {name}")
        values = tuple(SearchValueSpec(text=normalize_string(p) if modifier != "exact" else p) for p in parts)
    elif modifier:
        raise SearchError(f"Modifier :{modifier} is not supported on {name}")
    elif kind == "token":
        values = tuple(_token(p) for p in parts)
    elif kind == "id":
        values = tuple(SearchValueSpec(code=p) for p in parts)
    elif kind == "reference":
        target = parameters_for(resource_type)[name].target
        values = tuple(SearchValueSpec(code=_reference(p, target)) for p in parts)
    elif kind == "date":
        values = tuple(_date(p) for p in parts)
    else:  # pragma: no cover - every kind is handled above
        raise SearchError(f"Unsupported parameter kind {kind}")
    return Clause(name, kind, modifier, values)


def _split_or(raw: str) -> list[str]:
    """Split on unescaped commas (FHIR: ``\\,`` is a literal comma)."""
    parts, current, escaped = [], "", False
    for char in raw:
        if escaped:
            current += char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    if any(p == "" for p in parts):
        raise SearchError(f"Empty value in {raw!r}")
    return parts


def _token(text: str) -> SearchValueSpec:
    if "|" in text:
        system, code = text.split("|", 1)
        return SearchValueSpec(system=system, code=code or None)
    return SearchValueSpec(code=text)


def _reference(text: str, target: str) -> str:
    if "/" not in text:
        if not target:
            raise SearchError(f"Reference {text!r} must name a resource type")
        text = f"{target}/{text}"
    relative = relative_reference(text)
    if not relative:
        raise SearchError(f"{text!r} is not a reference")
    return relative


def _date(text: str) -> SearchValueSpec:
    prefix = text[:2] if text[:2] in DATE_PREFIXES else "eq"
    body = text[2:] if text[:2] in DATE_PREFIXES else text
    low, high = date_range(body)
    return SearchValueSpec(prefix=prefix, low=low, high=high)


def _apply_result_param(query, name, modifier, values, max_count):
    if modifier:
        raise SearchError(f"{name} takes no modifier")
    if not values:
        return
    if name in ("_count", "_offset"):
        try:
            number = int(values[-1])
        except ValueError:
            raise SearchError(f"{name} must be a whole number, not {values[-1]!r}")
        if number < 0:
            raise SearchError(f"{name} must not be negative")
        if name == "_count":
            query.count = min(number, max_count)
        else:
            query.offset = number
    elif name == "_sort":
        for item in ",".join(values).split(","):
            descending = item.startswith("-")
            param = item.lstrip("-")
            kind = _kind_of(query.resource_type, param)
            if kind not in ("id", "date", "string", "token"):
                raise SearchError(f"Cannot sort {query.resource_type} by {item!r}")
            query.sort.append((param, descending))
    elif name in ("_include", "_revinclude"):
        for item in values:
            source, _, param = item.partition(":")
            param = param.split(":", 1)[0]
            defined = parameters_for(source).get(param)
            if defined is None or defined.kind != "reference":
                raise SearchError(f"{name}={item!r} names no reference parameter of {source or '?'}")
            if name == "_include" and source != query.resource_type:
                raise SearchError(f"_include={item!r} must start with {query.resource_type}")
            (query.includes if name == "_include" else query.revincludes).append((source, param))
    elif name == "_total":
        if values[-1] not in ("none", "estimate", "accurate"):
            raise SearchError(f"_total={values[-1]!r} must be none, estimate or accurate")
        query.total = values[-1] != "none"
    elif name == "_summary":
        if values[-1] == "count":
            query.summary_count = True
        elif values[-1] != "false":
            raise SearchError(f"_summary={values[-1]!r} is not supported (only count and false)")


# --- in-memory matching (single resources: reads, writes, scope constraints) ---------------
def value_matches(kind, modifier, spec: SearchValueSpec, value: IndexValue) -> bool:
    if kind in ("token",):
        if spec.system is not None and spec.system != value.system:
            return False
        return spec.code is None or spec.code == value.value
    if kind in ("reference", "id"):
        return spec.code == value.value
    if kind == "string":
        if modifier == "exact":
            return spec.text == value.value
        if modifier == "contains":
            return spec.text in value.value
        return value.value.startswith(spec.text)
    if kind == "date":
        return date_matches(spec, value.low, value.high)
    return False


def date_matches(spec: SearchValueSpec, low, high) -> bool:
    if low is None or high is None:
        return False
    prefix = spec.prefix
    if prefix == "eq":
        return low >= spec.low and high <= spec.high
    if prefix == "ne":
        return not (low >= spec.low and high <= spec.high)
    if prefix in ("gt", "sa"):
        return high > spec.high if prefix == "gt" else low >= spec.high
    if prefix in ("lt", "eb"):
        return low < spec.low if prefix == "lt" else high <= spec.low
    if prefix == "ge":
        return high > spec.low
    if prefix == "le":
        return low < spec.high
    return False
