"""Bundles (searchset, history) spliced from stored JSON text without re-encoding resources."""

import functools
import json
from urllib.parse import urlencode


SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}


def _entry_json(base, entry, mode=None, text=None):
    full_url = json.dumps(f"{base}/{entry.resource_type}/{entry.resource_id}")
    search = f',"search":{{"mode":"{mode}"}}' if mode else ""
    return f'{{"fullUrl":{full_url},"resource":{text or entry.text}{search}}}'


def searchset(base, query, params, result, matches, included, path=None):
    path = path or query.resource_type
    # Parameters a lenient search ignored are not part of the search that was run (FHIR R4 §3.1.1.5.6).
    params = {k: v for k, v in params.items() if k not in query.ignored}
    links = [{"relation": "self", "url": page_url(base, path, params, query.offset)}]
    more = result.more or (result.total is not None and query.offset + query.count < result.total)
    if more and query.count and not query.summary_count:  # _count=0 asks for the total only
        links.append({"relation": "next", "url": page_url(base, path, params, query.offset + query.count)})
    head = {"resourceType": "Bundle", "type": "searchset"}
    if result.total is not None and query.total_mode != "none":
        head["total"] = result.total
    head["link"] = links
    text = json.dumps(head, separators=(",", ":"), ensure_ascii=False)
    shape = _shaper(query)
    entries = [_entry_json(base, e, "match", shape(e)) for e in matches] + [
        _entry_json(base, e, "include", shape(e)) for e in included
    ]
    if not entries:
        return text
    return f'{text[:-1]},"entry":[{",".join(entries)}]}}'


def _shaper(query):
    """The text of each entry under ``_summary``/``_elements`` (None: the stored text as is)."""
    if query.summary in ("true", "text", "data"):
        return lambda entry: _dump(summarize(entry.resource, query.summary))
    if query.elements:
        return lambda entry: _dump(elements(entry.resource, query.elements))
    return lambda entry: None


def _dump(resource):
    return json.dumps(resource, separators=(",", ":"), ensure_ascii=False)


def _subsetted(resource, kept):
    meta = dict(resource.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    return {"resourceType": resource["resourceType"], **kept, "meta": meta}


def elements(resource, names):
    """``_elements``: the named top-level elements plus the mandatory id and meta (R4 §3.1.1.5.9)."""
    kept = {k: v for k, v in resource.items() if k in names or k == "id"}
    return _subsetted(resource, kept)


def summarize(resource, mode):
    """``_summary``: true keeps the elements FHIR marks as summary; text keeps text, id, meta and
    the mandatory top-level elements; data drops text (R4 §3.1.1.5.8)."""
    if mode == "data":
        return _subsetted(resource, {k: v for k, v in resource.items() if k != "text"})
    summary, required = _element_flags(resource.get("resourceType", ""))
    wanted = summary if mode == "true" else required | {"text", "id"}
    kept = {k: v for k, v in resource.items() if k in wanted and k not in ("resourceType", "meta")}
    return _subsetted(resource, kept)


@functools.lru_cache(maxsize=64)
def _element_flags(resource_type):
    """(summary elements, mandatory elements) of a type, from fhir.resources' model metadata."""
    from ..validation import _model

    model = _model(resource_type)
    if model is None:
        return frozenset({"id"}), frozenset()
    summary, required = set(), set()
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra or {}
        alias = info.alias or name
        if extra.get("summary_element_property"):
            summary.add(alias)
        if extra.get("element_required"):
            required.add(alias)
    return frozenset(summary), frozenset(required)


def history(base, self_url, entries, next_url=None, total=True):
    """A history Bundle: each entry with its ``request`` and ``response`` (bdl-3, bdl-4)."""
    head = {"resourceType": "Bundle", "type": "history"}
    if total:
        head["total"] = len(entries)
    head["link"] = [{"relation": "self", "url": self_url}]
    if next_url:
        head["link"].append({"relation": "next", "url": next_url})
    parts = []
    for entry in entries:
        kind, ident = entry.resource_type, entry.resource_id
        if entry.deleted:
            request, status = {"method": "DELETE", "url": f"{kind}/{ident}"}, "204 No Content"
        elif entry.version_id == "1":
            request, status = {"method": "POST", "url": kind}, "201 Created"
        else:
            request, status = {"method": "PUT", "url": f"{kind}/{ident}"}, "200 OK"
        response = {"status": status, "etag": f'W/"{entry.version_id}"'}
        if entry.last_updated:
            response["lastModified"] = entry.last_updated
        item = {"fullUrl": f"{base}/{kind}/{ident}", "request": request, "response": response}
        text = json.dumps(item, separators=(",", ":"))
        parts.append(text if entry.deleted else f'{text[:-1]},"resource":{entry.text}}}')
    text = json.dumps(head, separators=(",", ":"))
    return f'{text[:-1]},"entry":[{",".join(parts)}]}}' if parts else text


def page_url(base, path, params, offset):
    pairs = [(k, v) for k, values in params.items() if k != "_offset" for v in values]
    if offset:
        pairs.append(("_offset", str(offset)))
    query = urlencode(pairs)
    return f"{base}/{path}" + (f"?{query}" if query else "")
