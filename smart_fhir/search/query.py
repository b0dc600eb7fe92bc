"""Search requests parsed into clauses (AND of clauses, OR of values within one clause)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .params import parameters_for
from .values import IndexValue, SearchError, date_range, normalize_string, relative_reference


DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")
STRING_MODIFIERS = ("", "exact", "contains")
SUMMARY_VALUES = ("true", "text", "data", "count", "false")
TOTAL_VALUES = ("none", "estimate", "accurate")
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
    kind: str  # token | string | reference | date | id, or "chain"
    modifier: str  # "", exact, contains, missing (values: code "true"/"false"); chain: target type
    values: tuple[SearchValueSpec, ...]
    inner: Clause | None = None  # chain: the clause on the referenced resource type


@dataclass
class SearchQuery:
    resource_type: str
    clauses: list[Clause] = field(default_factory=list)
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (param, descending)
    count: int = 20
    offset: int = 0
    includes: list[tuple[str, str]] = field(default_factory=list)  # (source type, reference param)
    revincludes: list[tuple[str, str]] = field(default_factory=list)
    summary: str = ""  # _summary: true | text | data | count | false ("" when absent)
    elements: tuple[str, ...] = ()  # _elements
    total_mode: str = ""  # _total: none | estimate | accurate
    ignored: list[str] = field(default_factory=list)  # parameters dropped (Prefer: handling=lenient)
    feature_keys: dict[str, list[str]] = field(default_factory=dict)  # "chain"/modifier -> raw keys

    @property
    def summary_count(self) -> bool:
        return self.summary == "count"

    @property
    def total(self) -> bool:
        """False for _total=none: the storage need not COUNT for a full page."""
        return self.total_mode != "none"

    def features(self) -> set[str]:
        """The storage search features (``storage.SEARCH_FEATURES``) this query needs."""
        needed = {"_sort"} if self.sort else set()
        needed |= {"_include"} if self.includes else set()
        needed |= {"_revinclude"} if self.revincludes else set()
        for clause in self.clauses:
            if clause.kind == "chain":
                needed.add("chain")
            elif clause.modifier:
                needed.add(clause.modifier)
        return needed


def parse_search(
    resource_type, params, default_count=20, max_count=200, lenient=False, parameters=None
) -> SearchQuery:
    """Parse ``params`` (``dict[str, list[str]]``, a QueryDict's shape) or raise SearchError.

    ``parameters``: the search parameters the storage honours (default: every defined one).
    With ``lenient``, unknown parameters are left out and listed in ``query.ignored``.
    """
    query = SearchQuery(resource_type, count=default_count)
    for key, values in params.items():
        values = [v for v in values if v != ""] if key.startswith("_") else list(values)
        head, dot, chained = key.partition(".")
        name, _, modifier = head.partition(":")
        if name in RESULT_PARAMS and not dot:
            _apply_result_param(query, name, modifier, values, max_count)
            continue
        clause_kind = _kind_of(resource_type, name, parameters)
        if clause_kind is None:
            if lenient:
                query.ignored.append(key)
                continue
            raise SearchError(f"Unknown search parameter {key!r} for {resource_type}")
        if dot or modifier:
            query.feature_keys.setdefault("chain" if dot else modifier, []).append(key)
        for value in values:
            if dot:
                query.clauses.append(_chain(resource_type, name, clause_kind, modifier, chained, value))
            else:
                query.clauses.append(parse_clause(resource_type, name, clause_kind, modifier, value))
    return query


def _chain(resource_type, name, kind, modifier, chained, raw) -> Clause:
    """``subject:Patient.name=x``: resources whose reference points at a match (one level deep)."""
    if kind != "reference":
        raise SearchError(f"{name} is not a reference parameter: it cannot be chained")
    target = modifier or parameters_for(resource_type)[name].target
    if not target:
        raise SearchError(f"Chaining {name} needs a type: {name}:Type.{chained}")
    inner_name, _, inner_modifier = chained.partition(":")
    if "." in chained:
        raise SearchError("Chained parameters go one level deep only")
    inner_kind = _kind_of(target, inner_name)
    if inner_kind is None:
        raise SearchError(f"Unknown search parameter {inner_name!r} for {target} (in {name}.{chained})")
    inner = parse_clause(target, inner_name, inner_kind, inner_modifier, raw)
    return Clause(name, "chain", target, (), inner)


def _kind_of(resource_type, name, parameters=None):
    if name == "_id":
        return "id"
    if name == "_lastUpdated":
        return "date"
    param = (parameters_for(resource_type) if parameters is None else parameters).get(name)
    return param.kind if param else None


def parse_clause(resource_type, name, kind, modifier, raw) -> Clause:
    if raw == "" or raw is None:
        raise SearchError(f"Search parameter {name!r} has an empty value")
    if modifier == "missing":
        if name in ("_id", "_lastUpdated"):
            raise SearchError(f"{name}:missing is not supported (every resource has one)")
        if raw not in ("true", "false"):
            raise SearchError(f"{name}:missing takes true or false")
        return Clause(name, kind, modifier, (SearchValueSpec(code=raw),))
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


def whole_number(name: str, text: str) -> int:
    """A ``_count``/``_offset``-style parameter's value, or SearchError."""
    try:
        number = int(text)
    except ValueError:
        raise SearchError(f"{name} must be a whole number, not {text!r}")
    if number < 0:
        raise SearchError(f"{name} must not be negative")
    return number


def _apply_result_param(query, name, modifier, values, max_count):
    if modifier:
        raise SearchError(f"{name} takes no modifier")
    if not values:
        return
    if name in ("_count", "_offset"):
        number = whole_number(name, values[-1])
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
    elif name == "_summary":
        if values[-1] not in SUMMARY_VALUES:
            raise SearchError(f"_summary={values[-1]!r} is not one of {', '.join(SUMMARY_VALUES)}")
        query.summary = values[-1]
    elif name == "_total":
        if values[-1] not in TOTAL_VALUES:
            raise SearchError(f"_total={values[-1]!r} is not one of {', '.join(TOTAL_VALUES)}")
        query.total_mode = values[-1]
    elif name == "_elements":
        query.elements = tuple(e for item in values for e in item.split(",") if e)


# --- in-memory matching (single resources: reads, writes, scope constraints) ---------------
def value_matches(kind, modifier, spec: SearchValueSpec, value: IndexValue) -> bool:
    if kind == "token":
        if spec.system is not None and spec.system != value.system:
            return False
        return spec.code is None or spec.code == value.value
    if kind in ("reference", "id"):
        return spec.code == value.value
    if kind == "string":
        if modifier == "exact":
            return spec.text == value.exact
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
