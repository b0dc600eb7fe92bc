"""The storage interface a vendor implements to serve its own data (see docs/smart_fhir.md).

Only :meth:`read_entry` and :meth:`run_search` are needed for a read-only server; the others raise
:class:`NotSupported` until implemented. What a backend implements is what ``/metadata``
advertises (:meth:`StorageBackend.interactions`, :meth:`search_parameters`,
:attr:`search_features`); anything else answers 405 with an OperationOutcome.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from ..search import SearchQuery, compartment_of, parameters_for, parse_search, resource_matches


class StorageError(Exception):
    status = 400


class NotSupported(StorageError):
    status = 405


class VersionConflict(StorageError):
    """The resource is not at the version the client named (``If-Match``): 412."""

    status = 412


class Conflict(StorageError):
    """The write collides with an existing resource (e.g. a create with a taken id): 409."""

    status = 409


# Search features beyond plain parameter=value matching that a backend may honour; /metadata and
# the search parser accept only those the installed backend lists in ``search_features``.
SEARCH_FEATURES = frozenset({"_sort", "_include", "_revinclude", "chain", "exact", "contains", "missing"})


@dataclass
class Entry:
    """One stored resource version, with its JSON text and dict built lazily from each other."""

    resource_type: str
    resource_id: str
    version_id: str = "1"
    deleted: bool = False
    compartment: str | None = None
    _text: str | None = None
    _resource: dict | None = None
    last_modified: datetime | None = None  # when known; else meta.lastUpdated is used

    @property
    def resource(self) -> dict:
        if self._resource is None:
            self._resource = json.loads(self._text) if self._text else {}
        return self._resource

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = json.dumps(self._resource, separators=(",", ":"), ensure_ascii=False)
        return self._text

    @property
    def patient(self) -> str:
        """The Patient compartment the resource belongs to ("" for none)."""
        if self.compartment is None:
            self.compartment = compartment_of(self.resource_type, self.resource)
        return self.compartment

    @property
    def last_updated(self) -> str | None:
        """``meta.lastUpdated`` (FHIR instant text), for Last-Modified and history entries."""
        if self.last_modified is not None:
            return self.last_modified.strftime("%Y-%m-%dT%H:%M:%S.") + (
                f"{self.last_modified.microsecond // 1000:03d}Z"
            )
        if self.deleted:
            return None
        return (self.resource.get("meta") or {}).get("lastUpdated")


@dataclass(frozen=True)
class Grant:
    """One way a token may reach resources: within these patients' compartments (None: any)
    and matching every clause (a granular scope's ``?param=value`` constraints)."""

    patients: frozenset[str] | None = None
    clauses: tuple = ()

    @property
    def unrestricted(self) -> bool:
        return self.patients is None and not self.clauses


@dataclass
class SearchResult:
    entries: list[Entry] = field(default_factory=list)
    total: int | None = None
    included: list[Entry] = field(default_factory=list)
    more: bool = False  # a next page exists (known without a total, e.g. for _total=none)

    @property
    def resources(self) -> list[dict]:
        return [e.resource for e in self.entries]


# interaction code -> the methods a backend must implement for it
_INTERACTION_METHODS = {
    "read": ("read_entry",),
    "vread": ("vread",),
    "history-instance": ("history",),
    "history-type": ("history_type",),
    "search-type": ("run_search",),
    "create": ("create",),
    "update": ("update",),
    "patch": ("update", "read_entry"),
    "delete": ("delete",),
}


class StorageBackend:
    """Base class: subclass it and implement the methods your data supports."""

    # The resource types this backend holds (check smart_fhir.E011 compares RESOURCE_TYPES with
    # it); None: any type.
    resource_types: frozenset[str] | None = None

    #: Search features :meth:`run_search` honours (a subset of ``SEARCH_FEATURES``).
    search_features: frozenset[str] = frozenset()

    # --- what this backend answers (drives /metadata and the 405s) ----------------------------
    def implements(self, method: str) -> bool:
        """Whether this class overrides ``method`` of StorageBackend."""
        return getattr(type(self), method) is not getattr(StorageBackend, method)

    def interactions(self, resource_type: str) -> list[str]:
        """FHIR interaction codes answered for ``resource_type``: those whose methods are implemented."""
        cache = self.__dict__.setdefault("_interactions", {})
        if resource_type not in cache:
            cache[resource_type] = [
                code
                for code, methods in _INTERACTION_METHODS.items()
                if all(self.implements(m) for m in methods)
            ]
        return cache[resource_type]

    def search_parameters(self, resource_type: str) -> dict:
        """Search parameters (name -> ``SearchParameter``) ``run_search`` honours; ``_id`` and
        ``_lastUpdated`` are always accepted."""
        return parameters_for(resource_type)

    @property
    def supports_transactions(self) -> bool:
        return self.implements("atomic")

    # --- reads ---------------------------------------------------------------------------------
    def read(self, resource_type: str, resource_id: str) -> dict | None:
        entry = self.read_entry(resource_type, resource_id)
        return entry.resource if entry and not entry.deleted else None

    def read_entry(self, resource_type: str, resource_id: str) -> Entry | None:
        """The current version, also when deleted (so the API can answer 410 Gone)."""
        raise NotImplementedError

    def vread(self, resource_type: str, resource_id: str, version_id: str) -> Entry | None:
        raise NotSupported("vread is not supported")

    def history(self, resource_type: str, resource_id: str) -> list[Entry]:
        """Every version of one resource, newest first (deleted versions with ``deleted=True``)."""
        raise NotSupported("history is not supported")

    def history_type(
        self,
        resource_type: str,
        patients: frozenset[str] | None = None,
        since: datetime | None = None,
        count: int = 20,
        offset: int = 0,
    ) -> list[Entry]:
        """Versions of every resource of a type, newest first, within these patients'
        compartments (None: all; a deleted version keeps its resource's compartment), changed
        at or after ``since``; ``count`` of them from ``offset``."""
        raise NotSupported("type-level history is not supported")

    def search(self, resource_type: str, params: dict, grants: list[Grant] | None = None) -> SearchResult:
        """``params`` is ``dict[str, list[str]]`` (a QueryDict's shape)."""
        return self.run_search(parse_search(resource_type, params), grants)

    def run_search(self, query: SearchQuery, grants: list[Grant] | None = None) -> SearchResult:
        """Run a parsed search, restricted to resources any of ``grants`` reaches (None: all)."""
        raise NotImplementedError

    # --- writes --------------------------------------------------------------------------------
    def create(self, resource_type: str, resource: dict) -> Entry:
        """Store a new resource. Honour ``resource["id"]`` when given (the API sets one only for
        a transaction's ``urn:uuid`` entries) and raise :class:`Conflict` when it is taken."""
        raise NotSupported("create is not supported")

    def update(self, resource_type: str, resource_id: str, resource: dict, if_match: str | None = None):
        """Returns ``(entry, created)``; :class:`VersionConflict` when ``if_match`` is stale."""
        raise NotSupported("update is not supported")

    def delete(self, resource_type: str, resource_id: str) -> bool:
        raise NotSupported("delete is not supported")

    def atomic(self):
        """A context manager making every write inside it all-or-nothing (transaction Bundles)."""
        raise NotSupported("transactions are not supported")


def grant_allows(grant: Grant, entry: Entry) -> bool:
    if grant.patients is not None and entry.patient not in grant.patients:
        return False
    if not grant.clauses:
        return True  # no need to decode the resource
    return resource_matches(entry.resource_type, entry.resource, list(grant.clauses))
