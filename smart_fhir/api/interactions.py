"""The FHIR interactions as plain functions of (access, base URL, request parts).

The DRF views and each entry of a batch/transaction Bundle call these same functions, so an
entry is checked against the token's scopes and patient context exactly as a single request.
Each returns an :class:`Outcome` or raises the exception the API renders as an OperationOutcome.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from urllib.parse import parse_qs

import jsonpatch
import jsonpointer
from rest_framework.exceptions import MethodNotAllowed, NotFound

from ..conf import fhir_settings
from ..enforcement import (
    AccessDenied,
    HiddenByFilter,
    check_entry,
    check_protected_fields,
    grants_for,
    passes_filters,
    search_grants,
)
from ..filtered_search import run_filtered_search
from ..search import PATIENT_COMPARTMENT, SearchError, date_range, parse_search
from ..search.limits import check_search_limits
from ..search.query import whole_number
from ..storage import Conflict, Entry, NotSupported, VersionConflict, get_storage, grant_allows
from ..validation import InvalidResource, validate_resource
from . import bundles
from .exceptions import Gone, Unprocessable


WRITE_INTERACTIONS = {"create", "update", "patch", "delete"}
HISTORY_PARAMS = {"_count", "_offset", "_since", "_format", "_pretty"}


@dataclass
class Outcome:
    status: int
    entry: Entry | None = None  # the resource answered (ETag, Last-Modified, body)
    text: str | None = None  # or a Bundle's JSON text
    location: bool = False


@dataclass
class Context:
    """Who asks and where: the validated token, this server's base URL, Prefer handling."""

    access: object
    base: str
    lenient: bool = False


def prefers_lenient(headers) -> bool:
    """``Prefer: handling=lenient`` (FHIR R4 §3.1.1.5.6); strict is the default."""
    return "handling=lenient" in headers.get("Prefer", "").replace(" ", "")


def require(ctx, interaction, resource_type):
    """The checks every request makes before its handler, in the views' order: served type
    (404), read-only (405), the token's grants for the interaction (403), storage support (405)."""
    check_type(resource_type)
    if interaction in WRITE_INTERACTIONS and fhir_settings.READ_ONLY:
        raise MethodNotAllowed(interaction, "This server is read-only")
    if not grants_for(ctx.access, interaction, resource_type):
        raise AccessDenied(f"The token grants no {interaction} access to {resource_type}")
    if interaction not in get_storage().interactions(resource_type):
        raise NotSupported(f"{interaction} is not supported for {resource_type} by this server")


def check_type(resource_type):
    if resource_type not in fhir_settings.RESOURCE_TYPES:
        raise NotFound(f"Resource type {resource_type!r} is not supported by this server")


def live_entry(resource_type, resource_id) -> Entry:
    entry = get_storage().read_entry(resource_type, resource_id)
    if entry is None:
        raise NotFound(f"{resource_type}/{resource_id} is not known")
    if entry.deleted:
        raise Gone(f"{resource_type}/{resource_id} has been deleted")
    return entry


def version_from_etag(value):
    """``W/"3"`` -> ``"3"``; None when absent."""
    if not value:
        return None
    return value.strip().removeprefix("W/").strip('"')


# --- reads ---------------------------------------------------------------------------------------
def read(ctx, resource_type, resource_id) -> Outcome:
    require(ctx, "read", resource_type)
    entry = live_entry(resource_type, resource_id)
    check_entry(ctx.access, "read", entry)
    return Outcome(200, entry)


def vread(ctx, resource_type, resource_id, version_id) -> Outcome:
    require(ctx, "vread", resource_type)
    entry = get_storage().vread(resource_type, resource_id, version_id)
    if entry is None:
        raise NotFound(f"{resource_type}/{resource_id}/_history/{version_id} is not known")
    if entry.deleted:
        raise Gone(f"{resource_type}/{resource_id} was deleted in version {version_id}")
    check_entry(ctx.access, "vread", entry)
    return Outcome(200, entry)


def history_instance(ctx, resource_type, resource_id) -> Outcome:
    require(ctx, "history-instance", resource_type)
    storage = get_storage()
    if storage.read_entry(resource_type, resource_id) is None:
        raise NotFound(f"{resource_type}/{resource_id} is not known")
    versions = storage.history(resource_type, resource_id)
    visible = [v for v in versions if v.deleted or allowed(ctx.access, "history-instance", v)]
    if versions and not any(not v.deleted for v in visible):
        # The same answer as a read: 403, or 404 when a RESOURCE_FILTER hides the resource.
        for version in versions:
            if not version.deleted:
                check_entry(ctx.access, "history-instance", version)
        raise AccessDenied(f"{resource_type}/{resource_id} is outside what the token grants")
    self_url = f"{ctx.base}/{resource_type}/{resource_id}/_history"
    return Outcome(200, text=bundles.history(ctx.base, self_url, visible))


def history_type(ctx, resource_type, params) -> Outcome:
    """``GET [base]/Type/_history``: a page of versions the token's search grants reach."""
    require(ctx, "history-type", resource_type)
    unknown = [k for k in params if k not in HISTORY_PARAMS]
    if unknown and not ctx.lenient:
        raise SearchError(f"Unknown history parameter(s): {', '.join(unknown)}")
    check_search_limits(params)  # _offset within MAX_SEARCH_OFFSET, as for a search
    count = _whole(params, "_count", fhir_settings.DEFAULT_PAGE_SIZE)
    count = min(count, fhir_settings.MAX_PAGE_SIZE)
    offset = _whole(params, "_offset", 0)
    since = date_range(params["_since"][-1])[0] if params.get("_since") else None
    grants = grants_for(ctx.access, "history-type", resource_type)
    # The compartments the grants reach, pushed into the query; the rest is checked per version.
    patients = None
    if resource_type in PATIENT_COMPARTMENT and all(g.patients is not None for g in grants):
        patients = frozenset().union(*(g.patients for g in grants))
    rows = get_storage().history_type(resource_type, patients, since, count + 1, offset)
    has_next = count > 0 and len(rows) > count
    visible = [v for v in rows[:count] if _history_visible(ctx.access, grants, v)]
    kept = {k: v for k, v in params.items() if k in HISTORY_PARAMS and k != "_offset"}
    self_url = bundles.page_url(ctx.base, f"{resource_type}/_history", kept, offset)
    next_url = (
        bundles.page_url(ctx.base, f"{resource_type}/_history", kept, offset + count) if has_next else None
    )
    return Outcome(200, text=bundles.history(ctx.base, self_url, visible, next_url=next_url, total=False))


def _history_visible(access, grants, entry) -> bool:
    if entry.deleted:
        # A deletion has no content to match a granular constraint or RESOURCE_FILTERS against:
        # shown only when neither applies and a grant reaches its compartment.
        if fhir_settings.RESOURCE_FILTERS:
            return False
        return any(not g.clauses and (g.patients is None or entry.patient in g.patients) for g in grants)
    return any(grant_allows(g, entry) for g in grants) and passes_filters(access, entry)


def _whole(params, name, default):
    values = [v for v in params.get(name, []) if v != ""]
    return whole_number(name, values[-1]) if values else default


def search(ctx, resource_type, params, path=None, link_params=None) -> Outcome:
    require(ctx, "search-type", resource_type)
    text = search_bundle(ctx.access, ctx.base, resource_type, params, ctx.lenient, path, link_params)
    return Outcome(200, text=text)


def compartment_search(ctx, patient_id, resource_type, params) -> Outcome:
    """``GET [base]/Patient/{id}/{Type}``: the search, confined to that patient's compartment."""
    check_type("Patient")
    check_type(resource_type)
    param = PATIENT_COMPARTMENT.get(resource_type)
    if param is None:
        raise SearchError(f"{resource_type} is not in the Patient compartment")
    if any(k.partition(":")[0].partition(".")[0] == param for k in params):
        raise SearchError(f"{param} is set by the compartment; do not repeat it")
    value = patient_id if param == "_id" else f"Patient/{patient_id}"
    path = f"Patient/{patient_id}/{resource_type}"
    return search(ctx, resource_type, {**params, param: [value]}, path=path, link_params=params)


def search_bundle(access, base, resource_type, params, lenient, path=None, link_params=None) -> str:
    """The searchset text. Also the lean search path's body (keep it cheap). ``path`` and
    ``link_params``: what the links show, when not ``resource_type`` and ``params``."""
    storage = get_storage()
    check_search_limits(params)
    query = parse_search(
        resource_type,
        params,
        fhir_settings.DEFAULT_PAGE_SIZE,
        fhir_settings.MAX_PAGE_SIZE,
        lenient,
        storage.search_parameters(resource_type),
    )
    unsupported = query.features() - storage.search_features
    if unsupported:
        _drop_unsupported(query, unsupported, lenient)
    grants = search_grants(access, query)
    # total, _summary=count, the next link and _include pass the same filters as the entries.
    result, matches, included = run_filtered_search(access, query, grants)
    links = params if link_params is None else link_params
    return bundles.searchset(base, query, links, result, matches, included, path=path)


def _drop_unsupported(query, unsupported, lenient):
    """Features the storage does not honour: 400, or (lenient) left out of the search and link."""
    if not lenient:
        names = ", ".join(sorted(unsupported))
        raise SearchError(f"This server's storage does not support {names} in searches")
    if "_sort" in unsupported:
        query.sort, query.ignored = [], [*query.ignored, "_sort"]
    for name in ("_include", "_revinclude"):
        if name in unsupported:
            setattr(query, name[1:] + "s", [])
            query.ignored.append(name)
    for feature in unsupported:
        query.ignored.extend(query.feature_keys.get(feature, []))
    query.clauses = [
        c for c in query.clauses if ("chain" if c.kind == "chain" else c.modifier) not in unsupported
    ]


def check_new_content(access, interaction, entry):
    """check_entry for what a client sends: a RESOURCE_FILTERS refusal is a 403 here (the
    client knows the content it sent; there is no existing resource to hide)."""
    try:
        check_entry(access, interaction, entry)
    except HiddenByFilter as exc:
        raise AccessDenied(f"{entry.resource_type} content is not permitted") from exc


def allowed(access, interaction, entry) -> bool:
    try:
        check_entry(access, interaction, entry)
    except AccessDenied:
        return False
    return True


# --- conditional matching ------------------------------------------------------------------------
def matches(ctx, resource_type, criteria: str | dict) -> list[Entry]:
    """Up to two resources matching conditional criteria, as the token's own search finds them
    (so it needs the ``s`` letter and sees only what the token reaches)."""
    params = parse_qs(criteria, keep_blank_values=True) if isinstance(criteria, str) else criteria
    if not _has_criteria(params):
        raise SearchError("Conditional interactions need search criteria")
    check_type(resource_type)
    storage = get_storage()
    if "search-type" not in storage.interactions(resource_type):
        raise NotSupported(f"Conditional interactions need search, which {resource_type} does not support")
    check_search_limits(params)
    query = parse_search(resource_type, params, 2, 2, False, storage.search_parameters(resource_type))
    if query.features() - storage.search_features:
        raise SearchError("The criteria use search features this server's storage does not support")
    query.count, query.offset = 2, 0
    grants = search_grants(ctx.access, query)
    return run_filtered_search(ctx.access, query, grants)[1]


def _has_criteria(params) -> bool:
    # An empty _id/_lastUpdated is dropped by the search (so it would match everything).
    return any(
        not k.startswith("_") or (k in ("_id", "_lastUpdated") and any(v != "" for v in values))
        for k, values in params.items()
    )


# --- writes --------------------------------------------------------------------------------------
def create(ctx, resource_type, body, if_none_exist=None, assigned_id=None) -> Outcome:
    require(ctx, "create", resource_type)
    body = validate_resource(resource_type, body)
    # The server assigns ids on create (a transaction pre-assigns one for urn:uuid references).
    body = {k: v for k, v in body.items() if k != "id"}
    if assigned_id:
        body["id"] = assigned_id
    if if_none_exist:
        found = matches(ctx, resource_type, if_none_exist)
        if len(found) > 1:
            raise VersionConflict(f"If-None-Exist {if_none_exist!r} matches more than one {resource_type}")
        if found:
            check_entry(ctx.access, "read", found[0])
            return Outcome(200, found[0])
    check_new_content(ctx.access, "create", Entry(resource_type, assigned_id or "", _resource=body))
    check_protected_fields(ctx.access, "create", resource_type, None, body)
    entry = get_storage().create(resource_type, body)
    return Outcome(201, entry, location=True)


def update(ctx, resource_type, resource_id, body, if_match=None) -> Outcome:
    require(ctx, "update", resource_type)
    body = validate_resource(resource_type, body)
    if body.get("id") != resource_id:
        raise InvalidResource(f"The resource's id must be {resource_id!r} (the id in the URL)")
    storage = get_storage()
    current = storage.read_entry(resource_type, resource_id)
    if current is not None and not current.deleted:
        check_entry(ctx.access, "update", current)
    check_new_content(ctx.access, "update", Entry(resource_type, resource_id, _resource=body))
    before = current.resource if current is not None and not current.deleted else None
    check_protected_fields(ctx.access, "update", resource_type, before, body)
    entry, created = storage.update(resource_type, resource_id, body, if_match=if_match)
    return Outcome(201 if created else 200, entry, location=created)


def conditional_update(ctx, resource_type, criteria, body) -> Outcome:
    """``PUT [base]/Type?criteria`` (FHIR R4 §3.1.0.4.3)."""
    require(ctx, "update", resource_type)
    body = validate_resource(resource_type, body)
    found = matches(ctx, resource_type, criteria)
    if len(found) > 1:
        raise VersionConflict(f"The criteria match more than one {resource_type}")
    if found:
        if body.get("id", found[0].resource_id) != found[0].resource_id:
            raise InvalidResource(f"The resource's id must be {found[0].resource_id!r} (the match)")
        return update(ctx, resource_type, found[0].resource_id, {**body, "id": found[0].resource_id})
    if "id" in body:
        if get_storage().read_entry(resource_type, body["id"]) is not None:
            raise Conflict(f"{resource_type}/{body['id']} exists but does not match the criteria")
        return update(ctx, resource_type, body["id"], body)
    return create(ctx, resource_type, body)


def patch(ctx, resource_type, resource_id, document, if_match=None) -> Outcome:
    """JSON Patch (RFC 6902, applied by the jsonpatch library) of the current version."""
    require(ctx, "patch", resource_type)
    current = live_entry(resource_type, resource_id)
    check_entry(ctx.access, "patch", current)
    if if_match is not None and if_match != current.version_id:
        raise VersionConflict(f"{resource_type}/{resource_id} is not at version {if_match}")
    if not isinstance(document, list):
        raise InvalidResource("PATCH takes a JSON Patch document (a JSON array of operations)")
    try:
        patched = _apply_patch(current.resource, document)
    except jsonpatch.InvalidJsonPatch as exc:
        raise InvalidResource(f"Invalid JSON Patch: {exc}")
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise Unprocessable(f"The patch cannot be applied: {exc}")
    if not isinstance(patched, dict) or patched.get("resourceType") != resource_type:
        raise Unprocessable("A patch must not change the resourceType")
    if patched.get("id") != resource_id:
        raise Unprocessable("A patch must not change the id")
    try:
        validate_resource(resource_type, patched)
    except InvalidResource as exc:
        raise Unprocessable(exc.issues)
    check_new_content(ctx.access, "patch", Entry(resource_type, resource_id, _resource=patched))
    check_protected_fields(ctx.access, "patch", resource_type, current.resource, patched)
    # If-Match on the version patched: a concurrent write in between is a 412, never lost.
    entry, _created = get_storage().update(resource_type, resource_id, patched, if_match=current.version_id)
    return Outcome(200, entry)


def _apply_patch(resource, document):
    """jsonpatch.apply_patch, one operation at a time, with what ``copy`` operations add held to
    MAX_BODY_BYTES: each copy can double the resource, so 30 of them in a small body would take
    the worker's memory and minutes of CPU."""
    budget = fhir_settings.MAX_BODY_BYTES
    patched = copy.deepcopy(resource)
    for operation in document:
        if isinstance(operation, dict) and operation.get("op") == "copy":
            try:
                copied = jsonpointer.resolve_pointer(patched, operation.get("from"))
            except (jsonpointer.JsonPointerException, TypeError, AttributeError):
                copied = None  # apply_patch reports the bad pointer
            budget -= len(json.dumps(copied))
            if budget < 0:
                raise Unprocessable(f"The patch copies more than {fhir_settings.MAX_BODY_BYTES} bytes")
        patched = jsonpatch.apply_patch(patched, [operation], in_place=True)
    return patched


def delete(ctx, resource_type, resource_id, if_match=None) -> Outcome:
    require(ctx, "delete", resource_type)
    storage = get_storage()
    current = storage.read_entry(resource_type, resource_id)
    if current is None:
        raise NotFound(f"{resource_type}/{resource_id} is not known")
    if not current.deleted:
        check_entry(ctx.access, "delete", current)
        if if_match is not None and if_match != current.version_id:
            raise VersionConflict(f"{resource_type}/{resource_id} is not at version {if_match}")
        storage.delete(resource_type, resource_id)
    elif not _history_visible(ctx.access, grants_for(ctx.access, "delete", resource_type), current):
        # Deleting again is a no-op, answered only where the token may delete (its compartment):
        # elsewhere the 404 of an unknown id, which tells nothing of what existed.
        raise NotFound(f"{resource_type}/{resource_id} is not known")
    return Outcome(204)


def conditional_delete(ctx, resource_type, criteria) -> Outcome:
    """``DELETE [base]/Type?criteria``: one match is deleted, none is 204, several 412."""
    require(ctx, "delete", resource_type)
    found = matches(ctx, resource_type, criteria)
    if len(found) > 1:
        raise VersionConflict(f"The criteria match more than one {resource_type}")
    if found:
        return delete(ctx, resource_type, found[0].resource_id)
    return Outcome(204)
