"""FHIRcast 3.0 event catalog and request validation (pure: no models, no Django).

Event names are matched case-insensitively (FHIRcast 2-3); context keys are lower-case and
matched exactly. Custom reverse-domain events (``org.example.thing``) carry no context rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class EventError(ValueError):
    """A request that violates the FHIRcast event rules (answered with HTTP 400)."""


@dataclass(frozen=True)
class Key:
    name: str
    types: tuple[str, ...]
    min: int = 1
    max: int = 1  # 0 means unbounded
    form: str = "resource"  # "resource", "reference" or "either"


ANCHOR_KEY = {
    "Patient": "patient",
    "Encounter": "encounter",
    "ImagingStudy": "study",
    "DiagnosticReport": "report",
}

_OPEN_CLOSE = {
    "Patient": (Key("patient", ("Patient",)),),
    "Encounter": (Key("encounter", ("Encounter",)), Key("patient", ("Patient",))),
    "ImagingStudy": (
        Key("study", ("ImagingStudy",)),
        Key("encounter", ("Encounter",), min=0),
        Key("patient", ("Patient",), min=0),
    ),
    "DiagnosticReport": (
        Key("report", ("DiagnosticReport",)),
        Key("encounter", ("Encounter",), min=0),
        Key("study", ("ImagingStudy",), min=0, max=0),
        Key("patient", ("Patient",)),
    ),
}

CATALOG: dict[str, tuple[Key, ...]] = {}
for _anchor, _keys in _OPEN_CLOSE.items():
    CATALOG[f"{_anchor}-open"] = _keys
    CATALOG[f"{_anchor}-close"] = _keys
    CATALOG[f"{_anchor}-update"] = (
        Key(ANCHOR_KEY[_anchor], (_anchor,), form="either"),
        Key("patient", ("Patient",), min=0, form="either"),
        Key("updates", ("Bundle",)),
    )
    CATALOG[f"{_anchor}-select"] = (
        Key(ANCHOR_KEY[_anchor], (_anchor,), form="either"),
        Key("patient", ("Patient",), min=0, form="either"),
        # 1..*: one key holding an array of references (an empty array clears the selection),
        # or the key repeated with one reference each, as FHIRcast client libraries send it.
        Key("select", (), min=1, max=0, form="reference"),
    )
CATALOG["Home-open"] = ()
CATALOG["SyncError"] = (Key("operationoutcome", ("OperationOutcome",)),)
CATALOG["UserLogout"] = (Key("parameters", ("Parameters",), min=0),)
CATALOG["UserHibernate"] = (Key("parameters", ("Parameters",), min=0),)

# Names of earlier FHIRcast texts and short forms that mean the same event.
ALIASES = {"logout": "UserLogout", "hibernate": "UserHibernate", "syncerror": "SyncError"}
_BY_LOWER = {name.lower(): name for name in CATALOG} | dict(ALIASES)

INFRASTRUCTURE = {"SyncError", "UserLogout", "UserHibernate", "Home-open"}


def canonical_name(name: str) -> str | None:
    """The catalog spelling of ``name``, or None for an unknown event."""
    if not isinstance(name, str):
        return None
    return _BY_LOWER.get(name.strip().lower())


def is_custom_name(name: str) -> bool:
    """Proprietary events use reverse-domain names without "-" (FHIRcast 2-3)."""
    parts = name.split(".")
    return len(parts) >= 2 and "-" not in name and all(p and p.replace("_", "").isalnum() for p in parts)


def normalize_event_name(name: str) -> str:
    """Catalog spelling or, for a custom event, the name itself; EventError otherwise."""
    known = canonical_name(name)
    if known:
        return known
    if isinstance(name, str) and is_custom_name(name.strip()):
        return name.strip()
    raise EventError(f"Unknown event {name!r}; supported: {', '.join(sorted(CATALOG))}.")


def parse_event_list(value: str) -> list[str]:
    """``hub.events``: comma-separated, a set (duplicates count once), casing as sent."""
    seen, result = set(), []
    for raw in (value or "").split(","):
        name = raw.strip()
        if not name:
            continue
        if name == "*" or "*" in name:
            raise EventError("Wildcards are not supported in hub.events (FHIRcast 2-3).")
        key = normalize_event_name(name).lower()
        if key not in seen:
            seen.add(key)
            result.append(name)
    if not result:
        raise EventError("hub.events must name at least one event.")
    return result


def anchor_type(event_name: str) -> str | None:
    """``Patient`` for ``Patient-open``; None for infrastructure and custom events."""
    head, _, action = event_name.partition("-")
    return head if head in ANCHOR_KEY and action in ("open", "close", "update", "select") else None


def action(event_name: str) -> str:
    return event_name.partition("-")[2]


def validate_notification(body) -> dict:
    """Check a context-change request (FHIRcast 2-6) and return it with the event name in
    catalog spelling under ``event["hub.event"]``. Raises EventError."""
    if not isinstance(body, dict):
        raise EventError("The request body must be a JSON object.")
    for field in ("timestamp", "id", "event"):
        if field not in body:
            raise EventError(f"Missing required field {field!r}.")
    if not isinstance(body["id"], str) or not body["id"].strip():
        raise EventError("'id' must be a non-empty string.")
    _check_timestamp(body["timestamp"])
    event = body["event"]
    if not isinstance(event, dict):
        raise EventError("'event' must be an object.")
    for field in ("hub.topic", "hub.event", "context"):
        if field not in event:
            raise EventError(f"Missing required field 'event.{field}'.")
    if not isinstance(event["hub.topic"], str) or not event["hub.topic"]:
        raise EventError("'event.hub.topic' must be a non-empty string.")
    name = normalize_event_name(event["hub.event"])
    context = event["context"]
    if not isinstance(context, list) or not all(
        isinstance(c, dict) and isinstance(c.get("key"), str) for c in context
    ):
        raise EventError("'event.context' must be an array of objects with a 'key'.")
    if name in CATALOG:
        _check_context(name, context)
    if action(name) == "update":
        if not event.get("context.versionId"):
            raise EventError(f"{name} requires 'event.context.versionId'.")
        check_update_bundle(context_value(context, "updates"))
    return {**body, "event": {**event, "hub.event": name}}


def _check_timestamp(value):
    if not isinstance(value, str):
        raise EventError("'timestamp' must be an ISO 8601 string.")
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise EventError(f"'timestamp' {value!r} is not ISO 8601.")


def _check_context(name, context):
    rules = {rule.name: rule for rule in CATALOG[name]}
    counts: dict[str, int] = {}
    for item in context:
        key = item["key"]
        counts[key] = counts.get(key, 0) + 1
        rule = rules.get(key)
        if rule is None:
            continue  # unknown keys (e.g. "extension") travel unchanged
        _check_item(name, rule, item)
    for rule in rules.values():
        count = counts.get(rule.name, 0)
        if count < rule.min:
            raise EventError(f"{name} requires context key {rule.name!r}.")
        if rule.max and count > rule.max:
            raise EventError(f"{name} allows context key {rule.name!r} at most {rule.max} time(s).")


def _check_item(name, rule, item):
    if rule.name == "select":
        _select_references(name, item)
        return
    resource, reference = item.get("resource"), item.get("reference")
    if resource is not None:
        if rule.form == "reference":
            raise EventError(f"{name}: context key {rule.name!r} must be a reference.")
        if not isinstance(resource, dict) or resource.get("resourceType") not in rule.types:
            raise EventError(
                f"{name}: context key {rule.name!r} must hold a {'/'.join(rule.types)} resource."
            )
        if (
            resource["resourceType"] != "Bundle"
            and not resource.get("id")
            and rule.name in ANCHOR_KEY.values()
        ):
            raise EventError(f"{name}: the {rule.name!r} resource needs an 'id'.")
    elif reference is not None and rule.form in ("reference", "either"):
        ref = reference.get("reference") if isinstance(reference, dict) else None
        if not isinstance(ref, str) or ref.split("/")[-2:-1] != [rule.types[0]]:
            raise EventError(f"{name}: context key {rule.name!r} must reference a {rule.types[0]}.")
    else:
        raise EventError(f"{name}: context key {rule.name!r} needs a 'resource'.")


def _select_references(name, item) -> list:
    """The references of one ``select`` entry: an array of references, or one reference."""
    refs = item.get("reference", item.get("resources"))
    if isinstance(refs, dict):
        refs = [refs]
    if not isinstance(refs, list):
        raise EventError(f"{name}: 'select' must hold an array of references (or one reference).")
    for ref in refs:
        if not isinstance(ref, dict) or not isinstance(ref.get("reference"), str) or not ref["reference"]:
            raise EventError(f"{name}: each 'select' entry must be a reference object.")
    return refs


def selected_references(name, context) -> list:
    """Every reference selected by the event, over all of its ``select`` keys, in order."""
    return [ref for item in context if item.get("key") == "select" for ref in _select_references(name, item)]


def context_value(context, key):
    for item in context:
        if item.get("key") == key:
            return item.get("resource") if "resource" in item else item.get("reference")
    return None


def anchor_id(name: str, context) -> str | None:
    """The id of the anchor resource an event refers to (``resource.id`` or ``Type/id``)."""
    anchor = anchor_type(name)
    if anchor is None:
        return None
    value = context_value(context, ANCHOR_KEY[anchor])
    if isinstance(value, dict) and value.get("resourceType"):
        return value.get("id")
    if isinstance(value, dict) and isinstance(value.get("reference"), str):
        return value["reference"].rsplit("/", 1)[-1]
    return None


def check_update_bundle(bundle) -> None:
    """The content-sharing update Bundle profile (FHIRcast 2-10): a transaction whose entries
    are PUT (resource + request.url) or DELETE (fullUrl, no resource)."""
    if not isinstance(bundle, dict) or bundle.get("type") != "transaction":
        raise EventError("'updates' must be a Bundle of type 'transaction'.")
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise EventError("'updates.entry' must be an array.")
    for index, entry in enumerate(entries):
        request = entry.get("request") if isinstance(entry, dict) else None
        method = request.get("method") if isinstance(request, dict) else None
        if method == "PUT":
            resource = entry.get("resource")
            if not isinstance(resource, dict) or not resource.get("resourceType") or not resource.get("id"):
                raise EventError(f"updates.entry[{index}]: PUT needs a resource with resourceType and id.")
            if not request.get("url"):
                raise EventError(f"updates.entry[{index}]: PUT needs request.url.")
        elif method == "DELETE":
            if "resource" in entry or not entry.get("fullUrl"):
                raise EventError(f"updates.entry[{index}]: DELETE needs a fullUrl and no resource.")
        else:
            raise EventError(f"updates.entry[{index}]: method must be PUT or DELETE, not {method!r}.")
