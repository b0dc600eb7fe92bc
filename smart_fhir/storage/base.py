"""The storage interface a vendor implements to serve its own data (see docs/smart_fhir.md).

Only :meth:`read` and :meth:`search` are needed for a read-only server; the others raise
:class:`NotSupported` until implemented. Every method takes and returns plain resource dicts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..search import SearchQuery, compartment_of, parse_search, resource_matches


class StorageError(Exception):
    status = 400


class NotSupported(StorageError):
    status = 405


class VersionConflict(StorageError):
    status = 412


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


class StorageBackend:
    """Base class: subclass it and implement the methods your data supports."""

    # The resource types this backend holds (check smart_fhir.E011 compares RESOURCE_TYPES with
    # it); None: any type.
    resource_types: frozenset[str] | None = None

    def read(self, resource_type: str, resource_id: str) -> dict | None:
        entry = self.read_entry(resource_type, resource_id)
        return entry.resource if entry and not entry.deleted else None

    def read_entry(self, resource_type: str, resource_id: str) -> Entry | None:
        """The current version, also when deleted (so the API can answer 410 Gone)."""
        raise NotImplementedError

    def vread(self, resource_type: str, resource_id: str, version_id: str) -> Entry | None:
        raise NotSupported("vread is not supported")

    def history(self, resource_type: str, resource_id: str) -> list[Entry]:
        raise NotSupported("history is not supported")

    def search(self, resource_type: str, params: dict, grants: list[Grant] | None = None) -> SearchResult:
        """``params`` is ``dict[str, list[str]]`` (a QueryDict's shape)."""
        return self.run_search(parse_search(resource_type, params), grants)

    def run_search(self, query: SearchQuery, grants: list[Grant] | None = None) -> SearchResult:
        """Run a parsed search, restricted to resources any of ``grants`` reaches (None: all)."""
        raise NotImplementedError

    def create(self, resource_type: str, resource: dict) -> Entry:
        raise NotSupported("create is not supported")

    def update(self, resource_type: str, resource_id: str, resource: dict, if_match: str | None = None):
        """Returns ``(entry, created)``."""
        raise NotSupported("update is not supported")

    def delete(self, resource_type: str, resource_id: str) -> bool:
        raise NotSupported("delete is not supported")


def grant_allows(grant: Grant, entry: Entry) -> bool:
    if grant.patients is not None and entry.patient not in grant.patients:
        return False
    if not grant.clauses:
        return True  # no need to decode the resource
    return resource_matches(entry.resource_type, entry.resource, list(grant.clauses))
