"""``POST [base]`` with a ``batch`` or ``transaction`` Bundle (FHIR R4 §3.1.0.11).

Every entry goes through the same interaction functions as a single request (``interactions``),
with the same token, so scopes, patient context, RESOURCE_FILTERS and validation apply to each.
A transaction runs inside the storage's ``atomic()``: any failing entry rolls every write back.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs

from rest_framework.response import Response
from rest_framework.views import APIView

from smart_auth.strict_json import loads as strict_loads

from ..conf import fhir_settings
from ..enforcement import check_entry
from ..storage import Conflict, Entry, NotSupported, get_storage
from ..urls_util import fhir_base_url
from ..validation import InvalidResource
from . import interactions
from .authentication import SmartTokenAuthentication
from .exceptions import BundleEntryFailed, classify, operation_outcome
from .interactions import Context, Outcome, version_from_etag
from .permissions import SmartScopePermission
from .views import FhirAPIMixin, resource_headers


TYPE_RE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
# FHIR R4 transaction processing order: DELETE, POST, PUT/PATCH, then reads.
ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
JSON_PATCH = "application/json-patch+json"


@dataclass
class Op:
    index: int
    method: str
    url: str
    request: dict
    resource: dict | None
    full_url: str = ""
    assigned_id: str = ""  # a transaction's new id for a urn:uuid create
    existing: Entry | None = None  # the match of a transaction's conditional create
    parts: list[str] = field(default_factory=list)
    criteria: dict = field(default_factory=dict)
    query: str = ""


class BundleView(FhirAPIMixin, APIView):
    authentication_classes = [SmartTokenAuthentication]
    permission_classes = [SmartScopePermission]
    interaction = None  # each entry is checked as its own interaction

    def initial(self, request, *args, **kwargs):
        fhir_base_url(request)
        super().initial(request, *args, **kwargs)

    def post(self, request):
        bundle = request.data
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise InvalidResource("POST to the base takes a Bundle of type batch or transaction")
        kind = bundle.get("type")
        if kind not in ("batch", "transaction"):
            raise InvalidResource(f"Bundle.type must be batch or transaction, not {kind!r}")
        entries = bundle.get("entry") or []
        if not isinstance(entries, list):
            raise InvalidResource("Bundle.entry must be an array")
        ops = [_op(i, entry) for i, entry in enumerate(entries)]
        ctx = Context(request.auth, request.fhir_base, interactions.prefers_lenient(request.headers))
        if kind == "batch":
            entries = [_batch_entry(ctx, op) for op in ops]
        else:
            entries = _transaction(ctx, ops)
        return Response({"resourceType": "Bundle", "type": f"{kind}-response", "entry": entries})


def _op(index, entry) -> Op:
    """The envelope of one entry, checked by hand (fhir.resources would validate every resource
    twice; the interactions validate each resource as a single request does)."""
    request = entry.get("request") if isinstance(entry, dict) else None
    if not isinstance(request, dict) or not isinstance(request.get("url"), str):
        raise InvalidResource(f"entry {index}: request.method and request.url are required")
    method = request.get("method")
    if not isinstance(method, str) or method not in ORDER:
        raise InvalidResource(f"entry {index}: request.method {method!r} is not supported")
    for key in ("ifNoneExist", "ifMatch"):
        if not isinstance(request.get(key, ""), str):
            raise InvalidResource(f"entry {index}: request.{key} must be a string")
    resource = entry.get("resource")
    if resource is not None and not isinstance(resource, dict):
        raise InvalidResource(f"entry {index}: resource must be a JSON object")
    full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else ""
    return Op(index, method, request["url"], request, resource, full_url)


def _route(ctx, op):
    url = op.url
    if url.startswith(ctx.base + "/"):
        url = url[len(ctx.base) + 1 :]
    path, _, op.query = url.partition("?")
    op.parts = [p for p in path.split("/") if p]
    op.criteria = parse_qs(op.query, keep_blank_values=True)
    if not op.parts or not TYPE_RE.match(op.parts[0]):
        raise InvalidResource(f"entry {op.index}: {op.url!r} names no resource type")
    ids = [p for i, p in enumerate(op.parts[1:], 1) if not (i == 2 and p == "_history")]
    if len(op.parts) > 4 or not all(ID_RE.match(p) or TYPE_RE.match(p) or p == "_history" for p in ids):
        raise InvalidResource(f"entry {op.index}: {op.url!r} is not a FHIR interaction URL")


def execute(ctx, op) -> Outcome:
    """Run one entry as the single request it stands for."""
    parts, method = op.parts, op.method
    kind = parts[0]
    if method in ("GET", "HEAD"):
        if len(parts) == 1:
            return interactions.search(ctx, kind, op.criteria)
        if parts[1] == "_history" and len(parts) == 2:
            return interactions.history_type(ctx, kind, op.criteria)
        if len(parts) == 2:
            return interactions.read(ctx, kind, parts[1])
        if len(parts) == 3 and parts[2] == "_history":
            return interactions.history_instance(ctx, kind, parts[1])
        if len(parts) == 4 and parts[2] == "_history":
            return interactions.vread(ctx, kind, parts[1], parts[3])
        if len(parts) == 3 and kind == "Patient" and TYPE_RE.match(parts[2]):
            return interactions.compartment_search(ctx, parts[1], parts[2], op.criteria)
    elif method == "POST" and len(parts) == 1:
        if op.existing is not None:
            # Still a create: the single request's type, read-only and scope checks come first.
            interactions.require(ctx, "create", kind)
            check_entry(ctx.access, "read", op.existing)
            return Outcome(200, op.existing)
        criteria = op.request.get("ifNoneExist") if not op.assigned_id else None
        return interactions.create(ctx, kind, op.resource, criteria, op.assigned_id or None)
    elif method == "PUT":
        if len(parts) == 2:
            if_match = version_from_etag(op.request.get("ifMatch"))
            return interactions.update(ctx, kind, parts[1], op.resource, if_match)
        if len(parts) == 1 and op.query:
            return interactions.conditional_update(ctx, kind, op.criteria, op.resource)
    elif method == "PATCH" and len(parts) == 2:
        if_match = version_from_etag(op.request.get("ifMatch"))
        return interactions.patch(ctx, kind, parts[1], _patch_document(op), if_match)
    elif method == "DELETE":
        if len(parts) == 2:
            return interactions.delete(ctx, kind, parts[1], version_from_etag(op.request.get("ifMatch")))
        if len(parts) == 1 and op.query:
            return interactions.conditional_delete(ctx, kind, op.criteria)
    raise InvalidResource(f"entry {op.index}: {method} {op.url!r} is not an interaction this server offers")


def _patch_document(op):
    """A JSON Patch travels in a Bundle as a Binary (FHIR R4 §3.1.0.11.1)."""
    resource = op.resource or {}
    if resource.get("resourceType") != "Binary" or resource.get("contentType") != JSON_PATCH:
        raise InvalidResource(f"entry {op.index}: PATCH takes a Binary with contentType {JSON_PATCH}")
    try:
        # The same JSON limits as a PATCH body (depth, finite numbers, Unicode strings).
        data = base64.b64decode(resource.get("data") or "", validate=True)
        return strict_loads(data, fhir_settings.MAX_JSON_DEPTH)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidResource(f"entry {op.index}: the Binary's data is not base64 JSON: {exc}")


def _batch_entry(ctx, op) -> dict:
    try:
        _route(ctx, op)
        return _response_entry(ctx, execute(ctx, op))
    except Exception as exc:
        classified = classify(exc)
        if classified is None:
            raise
        status, code, diagnostics = classified
        return {"response": {"status": _status(status), "outcome": operation_outcome(code, diagnostics)}}


def _transaction(ctx, ops) -> list[dict]:
    storage = get_storage()
    if not storage.supports_transactions or fhir_settings.READ_ONLY:
        raise NotSupported("This server does not support transactions")
    outcomes = {}
    with storage.atomic():
        for op in ops:
            _route(ctx, op)
        _resolve_placeholders(ctx, ops)
        _check_overlaps(ops)
        for op in sorted(ops, key=lambda o: (ORDER[o.method], o.index)):
            try:
                outcomes[op.index] = execute(ctx, op)
            except Exception as exc:
                classified = classify(exc)
                if classified is None:
                    raise
                status, code, diagnostics = classified
                messages = diagnostics if isinstance(diagnostics, list) else [diagnostics]
                raise BundleEntryFailed(status, code, [f"entry {op.index}: {m}" for m in messages])
    return [_response_entry(ctx, outcomes[op.index]) for op in ops]


def _resolve_placeholders(ctx, ops):
    """Give each ``urn:uuid`` create its id (a new one, or its conditional match's), then
    rewrite every reference to it across the Bundle. Hand-written: no library resolves Bundle
    placeholders."""
    mapping = {}
    for op in ops:
        if op.method != "POST" or len(op.parts) != 1:
            continue
        if op.request.get("ifNoneExist"):
            found = interactions.matches(ctx, op.parts[0], op.request["ifNoneExist"])
            if len(found) > 1:
                raise BundleEntryFailed(
                    412, "conflict", f"entry {op.index}: ifNoneExist matches more than one {op.parts[0]}"
                )
            if found:
                op.existing = found[0]
                target = found[0].resource_id
            else:
                target = op.assigned_id = str(uuid.uuid4())
        else:
            target = op.assigned_id = str(uuid.uuid4())
        if op.full_url.startswith("urn:uuid:"):
            mapping[op.full_url] = f"{op.parts[0]}/{target}"
    if mapping:
        for op in ops:
            if op.resource is not None:
                op.resource = _rewrite(op.resource, mapping)


def _rewrite(node, mapping):
    if isinstance(node, dict):
        return {k: _rewrite(v, mapping) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v, mapping) for v in node]
    if isinstance(node, str) and node in mapping:
        return mapping[node]
    return node


def _check_overlaps(ops):
    """Two writes to one resource in a transaction are refused (R4: the transaction SHALL fail)."""
    seen = {}
    for op in ops:
        if op.method in ("GET", "HEAD"):
            continue
        ident = f"{op.parts[0]}/{op.parts[1]}" if len(op.parts) == 2 else None
        if op.method == "POST":
            ident = f"{op.parts[0]}/{op.existing.resource_id if op.existing else op.assigned_id}"
        if ident is None:
            continue
        if ident in seen:
            raise Conflict(f"entries {seen[ident]} and {op.index} both write {ident}")
        seen[ident] = op.index


def _status(code) -> str:
    return f"{code} {HTTPStatus(code).phrase}"


def _response_entry(ctx, outcome) -> dict:
    item = {}
    response = {"status": _status(outcome.status)}
    if outcome.entry is not None:
        entry = outcome.entry
        headers = resource_headers(ctx.base, entry, location=outcome.status == 201)
        response["etag"] = headers["ETag"]
        if "Location" in headers:
            response["location"] = headers["Location"]
        if entry.last_updated:
            response["lastModified"] = entry.last_updated
        item["fullUrl"] = f"{ctx.base}/{entry.resource_type}/{entry.resource_id}"
        item["resource"] = entry.resource
    elif outcome.text is not None:
        item["resource"] = json.loads(outcome.text)
    item["response"] = response
    return item
