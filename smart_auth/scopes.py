"""The SMART App Launch 2.2 scope grammar, with no Django models.

Pure functions and value objects shared by the authorization server (validation, consent,
narrowing) and the resource server (enforcement). SMART App Launch 2.2, "Scopes and Launch
Context": v1 ``.read``/``.write``/``.*``, v2 ``.cruds`` ordered subsets, granular
``?param=value`` constraints, ``patient/``, ``user/``, ``system/``, wildcards, launch scopes and
the OpenID Connect and refresh-token scopes. FHIRcast scopes (``fhircast/<Event>.read|write`` and
the older bare ``fhircast``) are recognised so that one grammar validates every request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote


V2_ORDER = "cruds"
V1_TO_V2 = {"read": "rs", "write": "cud", "*": "cruds"}
CONTEXTS = ("patient", "user", "system")

# Interactions named in SMART 2.2 §"Scopes for requesting clinical data", mapped to letters.
INTERACTION_LETTER = {
    "create": "c",
    "read": "r",
    "vread": "r",
    "history-instance": "r",
    "update": "u",
    "patch": "u",
    "delete": "d",
    "search-type": "s",
    "search-system": "s",
    "history-type": "s",
}

SIMPLE_SCOPES = {
    "openid": "Confirm your identity (OpenID Connect)",
    "fhirUser": "Know which FHIR user you are (your Practitioner or Patient record)",
    "profile": "Read your basic profile",
    "offline_access": "Keep access after you close the app (offline refresh token)",
    "online_access": "Keep access while you are signed in (online refresh token)",
    "launch": "Receive the context of the EHR launch (patient, encounter)",
    "launch-token": "Launch this app at other servers with your current patient and user",
    "introspection": "Check whether access tokens are active",
    "fhircast": "Follow and share the clinical context of your session (FHIRcast)",
}

_TYPE_RE = r"(?:\*|[A-Z][A-Za-z]{1,63})"
_RESOURCE_RE = re.compile(
    rf"^(?P<context>patient|user|system)/(?P<type>{_TYPE_RE})\.(?P<perms>read|write|\*|[cruds]{{1,5}})"
    r"(?:\?(?P<query>[^\s]+))?$"
)
_LAUNCH_RE = re.compile(r"^launch/(?P<type>[a-z][A-Za-z]{1,63})(?:\?role=(?P<role>[^\s&]+))?$")
_FHIRCAST_RE = re.compile(
    r"^fhircast/(?P<event>\*|[A-Za-z]+-(?:\*|[a-z]+)|\*-[a-z]+|[A-Za-z]+)\.(?P<mode>read|write|\*)$"
)


class ScopeError(ValueError):
    """A scope string that the SMART grammar does not recognise."""


@dataclass(frozen=True)
class Scope:
    raw: str

    def describe(self) -> str:
        return SIMPLE_SCOPES.get(self.raw, self.raw)


@dataclass(frozen=True)
class SimpleScope(Scope):
    pass


@dataclass(frozen=True)
class LaunchScope(Scope):
    """``launch/patient``, ``launch/encounter`` or another lower-case type, optionally with a role."""

    resource_type: str = ""
    role: str | None = None

    def describe(self) -> str:
        return f"Choose a {self.resource_type} when the app starts"


@dataclass(frozen=True)
class FhircastScope(Scope):
    event: str = "*"
    mode: str = "read"

    def allows(self, event_name: str, mode: str) -> bool:
        if self.mode not in ("*", mode):
            return False
        if self.event == "*":
            return True
        want_type, _, want_action = event_name.partition("-")
        have_type, _, have_action = self.event.partition("-")
        if not have_action:  # e.g. "fhircast/logout.read"
            return self.event.lower() == event_name.lower()
        return have_type in ("*", want_type) and have_action.lower() in ("*", want_action.lower())

    def describe(self) -> str:
        verb = {"read": "Follow", "write": "Change", "*": "Follow and change"}[self.mode]
        what = "every context event" if self.event == "*" else f"“{self.event}” events"
        return f"{verb} {what} of your session (FHIRcast)"


@dataclass(frozen=True)
class ResourceScope(Scope):
    context: str = "patient"
    resource_type: str = "*"
    permissions: str = "rs"  # v2 letters in canonical order
    query: tuple[tuple[str, str], ...] = ()
    version: int = 2

    # --- matching ---------------------------------------------------------------------------
    def matches_type(self, resource_type: str) -> bool:
        return self.resource_type in ("*", resource_type)

    def allows(self, letter: str, resource_type: str) -> bool:
        return letter in self.permissions and self.matches_type(resource_type)

    def covers(self, other: ResourceScope) -> bool:
        """True when every access ``other`` grants is also granted by ``self``."""
        if self.context != other.context:
            return False
        if self.resource_type != "*" and self.resource_type != other.resource_type:
            return False
        if not set(other.permissions) <= set(self.permissions):
            return False
        # Constraints narrow: other must carry at least every constraint of self.
        return set(self.query) <= set(other.query)

    def as_v2(self) -> str:
        base = f"{self.context}/{self.resource_type}.{self.permissions}"
        return base + (f"?{_query_string(self.query)}" if self.query else "")

    def with_permissions(self, letters: str) -> ResourceScope:
        letters = "".join(c for c in V2_ORDER if c in letters)
        raw = f"{self.context}/{self.resource_type}.{letters}"
        if self.query:
            raw += f"?{_query_string(self.query)}"
        return ResourceScope(raw, self.context, self.resource_type, letters, self.query, 2)

    def with_query(self, query: tuple[tuple[str, str], ...]) -> ResourceScope:
        raw = f"{self.context}/{self.resource_type}.{self.permissions}"
        if self.version == 1:
            raw = self.raw.split("?", 1)[0]
        if query:
            raw += f"?{_query_string(query)}"
        return ResourceScope(raw, self.context, self.resource_type, self.permissions, query, self.version)

    def describe(self) -> str:
        verbs = [
            word
            for letter, word in zip(V2_ORDER, ("create", "read", "update", "delete", "search"), strict=True)
            if letter in self.permissions
        ]
        what = "all data" if self.resource_type == "*" else f"{_plural(self.resource_type)}"
        whose = {
            "patient": "of the selected patient",
            "user": "that you can access",
            "system": "on the server (no user)",
        }[self.context]
        text = f"{_join(verbs).capitalize()} {what} {whose}"
        if self.query:
            text += " limited to " + ", ".join(f"{k} {_short_value(v)}" for k, v in self.query)
        return text


def _query_string(query: tuple[tuple[str, str], ...]) -> str:
    return "&".join(f"{k}={quote(v, safe='|:/.-_')}" for k, v in query)


def _plural(name: str) -> str:
    return name + ("es" if name.endswith("s") else "s")


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _short_value(value: str) -> str:
    return value.rsplit("|", 1)[-1] if "|" in value else value


def parse_scope(raw: str) -> Scope:
    """Parse one scope string; raise :class:`ScopeError` if it is not SMART grammar."""
    if not raw or raw != raw.strip() or " " in raw:
        raise ScopeError(f"Malformed scope {raw!r}")
    if raw in SIMPLE_SCOPES:
        return SimpleScope(raw)
    match = _RESOURCE_RE.match(raw)
    if match:
        perms = match["perms"]
        if perms in V1_TO_V2:
            letters, version = V1_TO_V2[perms], 1
        else:
            # SMART 2.2: letters must appear in the order c, r, u, d, s, each at most once.
            if not _is_ordered_subset(perms):
                raise ScopeError(f"Scope {raw!r}: permissions must be an ordered subset of 'cruds'")
            letters, version = perms, 2
        query: tuple[tuple[str, str], ...] = ()
        if match["query"]:
            if version == 1:
                raise ScopeError(f"Scope {raw!r}: query constraints need v2 permissions")
            pairs = parse_qsl(match["query"], keep_blank_values=True, strict_parsing=False)
            if not pairs or any(not k or not v for k, v in pairs):
                raise ScopeError(f"Scope {raw!r}: malformed query constraint")
            query = tuple(sorted(pairs))
        return ResourceScope(raw, match["context"], match["type"], letters, query, version)
    match = _LAUNCH_RE.match(raw)
    if match:
        return LaunchScope(raw, match["type"], match["role"])
    match = _FHIRCAST_RE.match(raw)
    if match:
        return FhircastScope(raw, match["event"], match["mode"])
    raise ScopeError(f"Unknown scope {raw!r}")


def _is_ordered_subset(letters: str) -> bool:
    position = -1
    for letter in letters:
        index = V2_ORDER.find(letter)
        if index <= position:
            return False
        position = index
    return True


def split(scope_string: str | None) -> list[str]:
    """Split a space-delimited scope parameter, keeping the order and dropping duplicates."""
    seen: dict[str, None] = {}
    for item in (scope_string or "").split():
        seen.setdefault(item, None)
    return list(seen)


def parse_scopes(scope_string: str | list[str] | None) -> list[Scope]:
    items = split(scope_string) if isinstance(scope_string, str | None) else list(scope_string)
    return [parse_scope(item) for item in items]


def resource_scopes(scopes: list[Scope] | list[str] | str) -> list[ResourceScope]:
    parsed = scopes if scopes and not isinstance(scopes, str) and isinstance(scopes[0], Scope) else None
    if parsed is None:
        parsed = []
        for item in split(scopes) if isinstance(scopes, str) else scopes:
            try:
                parsed.append(parse_scope(item))
            except ScopeError:
                continue
    return [s for s in parsed if isinstance(s, ResourceScope)]


def is_permitted(requested: Scope, allowed: list[Scope]) -> bool:
    """Whether a client registered for ``allowed`` may be granted ``requested``."""
    if isinstance(requested, ResourceScope):
        return any(isinstance(a, ResourceScope) and a.covers(requested) for a in allowed)
    if isinstance(requested, FhircastScope):
        for a in allowed:
            if a.raw == "fhircast":
                return True
            if isinstance(a, FhircastScope) and a.mode in ("*", requested.mode):
                if a.event == "*" or a.event == requested.event:
                    return True
        return False
    if isinstance(requested, LaunchScope):
        return any(a.raw == requested.raw or a.raw == requested.raw.split("?", 1)[0] for a in allowed)
    return any(a.raw == requested.raw for a in allowed)


def is_narrowing(candidate: Scope, requested: list[Scope]) -> bool:
    """Whether the user may grant ``candidate`` in answer to ``requested`` (equal or narrower)."""
    if any(candidate.raw == r.raw for r in requested):
        return True
    if isinstance(candidate, ResourceScope):
        return any(isinstance(r, ResourceScope) and r.covers(candidate) for r in requested)
    return False


# Category sub-scopes offered on the consent screen for resource-level scopes, so that a user
# can share, say, only laboratory observations (ONC g10 "granular scope selection").
CATEGORY_CHOICES = {
    "Observation": (
        "http://terminology.hl7.org/CodeSystem/observation-category",
        ("laboratory", "vital-signs", "social-history", "imaging", "survey"),
    ),
    "Condition": (
        "http://terminology.hl7.org/CodeSystem/condition-category",
        ("problem-list-item", "encounter-diagnosis"),
    ),
    "DiagnosticReport": (
        "http://terminology.hl7.org/CodeSystem/v2-0074",
        ("LAB", "RAD", "CT", "MR"),
    ),
}


def category_subscopes(scope: ResourceScope) -> list[ResourceScope]:
    """The category-constrained alternatives the consent screen offers for ``scope``."""
    if scope.query or scope.resource_type not in CATEGORY_CHOICES or "s" not in scope.permissions + "s":
        return []
    system, codes = CATEGORY_CHOICES[scope.resource_type]
    base = scope.with_permissions(scope.permissions) if scope.version == 1 else scope
    return [base.with_query((("category", f"{system}|{code}"),)) for code in codes]


def has_patient_scopes(scopes: list[Scope]) -> bool:
    return any(isinstance(s, ResourceScope) and s.context == "patient" for s in scopes)


def describe(raw: str) -> str:
    try:
        return parse_scope(raw).describe()
    except ScopeError:
        return raw
