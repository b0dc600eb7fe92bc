"""The context state machine of one topic (pure: works on a JSON-able dict).

``state["contexts"]`` lists the open anchor contexts, oldest first; the last one is the current
context (FHIRcast 2-9). Each holds the open notification as received, a ``versionId`` and, for
content sharing, a ``content`` collection Bundle (FHIRcast 2-10).
"""

from __future__ import annotations

import copy
import uuid

from .events import ANCHOR_KEY, EventError, action, anchor_id, anchor_type, context_value, selected_references


UPDATABLE = {"DiagnosticReport"}
# Open contexts kept per topic (IHE IRA suspends and resumes report contexts); the oldest go first.
MAX_OPEN_CONTEXTS = 20


class ContextConflict(Exception):
    """An update, select or close of a context that is not open, or a stale versionId (409)."""


def empty_state() -> dict:
    return {"contexts": [], "recent_ids": []}


def apply(state: dict, notification: dict) -> tuple[dict, dict]:
    """Apply a validated notification. Returns (new state, notification to distribute);
    the input state is left untouched, so a refused request changes nothing."""
    state = _copy_state(state)
    notification = copy.deepcopy(notification)
    event = notification["event"]
    name = event["hub.event"]
    anchor = anchor_type(name)
    if anchor is None:
        return state, notification
    ident = anchor_id(name, event["context"])
    verb = action(name)
    if verb == "open":
        # IHE IRA RAD-148: opening another report suspends the current one (it stays open, no
        # longer current); re-opening a context that was never closed resumes it, with its
        # content and versionId, and makes it current again.
        suspended = [c for c in state["contexts"] if (c["type"], c["id"]) == (anchor, ident)]
        state["contexts"] = [c for c in state["contexts"] if c not in suspended]
        if suspended:
            entry = suspended[-1]
            entry["event"] = notification
        else:
            entry = {"type": anchor, "id": ident, "event": notification, "versionId": uuid.uuid4().hex}
            if anchor in UPDATABLE:
                entry["content"] = {"resourceType": "Bundle", "type": "collection", "entry": []}
        event["context.versionId"] = entry["versionId"]
        state["contexts"].append(entry)
        del state["contexts"][:-MAX_OPEN_CONTEXTS]
        return state, notification
    entry = _open_entry(state, anchor, ident, name)
    if verb == "close":
        # IRA RAD-149: the context and its content are gone; the current context becomes the
        # newest context opened and not closed since (or empty), never a closed one.
        state["contexts"].remove(entry)
    elif verb == "update":
        if anchor not in UPDATABLE:
            raise EventError(f"{name}: content sharing is supported for {', '.join(sorted(UPDATABLE))} only.")
        if event.get("context.versionId") != entry["versionId"]:
            raise ContextConflict(
                f"{name}: context.versionId {event.get('context.versionId')!r} is not the current version."
            )
        entry["content"] = _apply_bundle(entry, context_value(event["context"], "updates"))
        event["context.priorVersionId"] = entry["versionId"]
        entry["versionId"] = event["context.versionId"] = uuid.uuid4().hex
    elif verb == "select":
        entry["selection"] = selected_references(name, event["context"])
    return state, notification


def _copy_state(state):
    """A copy of the state that apply() may change: the lists and each context entry are new;
    what an entry holds (its notification, its content) is shared, because apply() replaces
    those values and never changes them in place. A deep copy of the whole state (up to
    MAX_OPEN_CONTEXTS notifications) was the largest cost of a publish after the database."""
    if not state:
        return empty_state()
    copied = dict(state)
    copied["contexts"] = [dict(entry) for entry in state.get("contexts") or []]
    if "recent_ids" in state:
        copied["recent_ids"] = list(state["recent_ids"])
    return copied


def _open_entry(state, anchor, ident, name):
    for entry in state["contexts"]:
        if entry["type"] == anchor and entry["id"] == ident:
            return entry
    raise ContextConflict(f"{name}: no open {anchor} context with id {ident!r}.")


def _apply_bundle(entry, bundle):
    """All entries or none: work on a copy and raise before anything is kept."""
    content = copy.deepcopy(entry["content"])
    resources = {_key(e["resource"]): e for e in content["entry"]}
    protected = {
        _key(c["resource"]) for c in entry["event"]["event"]["context"] if isinstance(c.get("resource"), dict)
    }
    for index, item in enumerate(bundle.get("entry", [])):
        if item["request"]["method"] == "PUT":
            resource = item["resource"]
            resources[_key(resource)] = {"fullUrl": item.get("fullUrl", _key(resource)), "resource": resource}
        else:
            target = item["fullUrl"].split("/_history")[0]
            target = "/".join(target.rstrip("/").split("/")[-2:])
            if target in protected:
                raise EventError(
                    f"updates.entry[{index}]: {target} belongs to the open context and cannot be deleted."
                )
            resources.pop(target, None)
    content["entry"] = list(resources.values())
    return content


def _key(resource):
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def current_context(state: dict) -> dict:
    """Get Current Context (FHIRcast 2-9): the most recent open, or the empty shape."""
    contexts = (state or {}).get("contexts") or []
    if not contexts:
        return {"context.type": "", "context.versionId": "", "context": []}
    entry = contexts[-1]
    context = list(entry["event"]["event"]["context"])
    if "content" in entry:
        context.append({"key": "content", "resource": entry["content"]})
    return {"context.type": entry["type"], "context.versionId": entry["versionId"], "context": context}


def replay(state: dict) -> list[dict]:
    """The most recent open per anchor type with no close, oldest first (FHIRcast 2-4), with the
    original id and timestamp and the current versionId."""
    contexts = (state or {}).get("contexts") or []
    latest = {}
    for entry in contexts:
        latest[entry["type"]] = entry
    events = []
    for entry in sorted(latest.values(), key=contexts.index):
        notification = copy.deepcopy(entry["event"])
        notification["event"]["context.versionId"] = entry["versionId"]
        events.append(notification)
    return events


def remember_id(state: dict, event_id: str, window: int) -> bool:
    """Record an event id; False when it was already seen (a retry, IHE IRA RAD-151)."""
    recent = state.setdefault("recent_ids", [])
    if event_id in recent:
        return False
    recent.append(event_id)
    del recent[:-window]
    return True


__all__ = [
    "ANCHOR_KEY",
    "ContextConflict",
    "apply",
    "current_context",
    "empty_state",
    "remember_id",
    "replay",
]
