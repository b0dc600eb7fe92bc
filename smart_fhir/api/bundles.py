"""Bundles (searchset, history) spliced from stored JSON text without re-encoding resources."""

import json
from urllib.parse import urlencode


def _entry_json(base, entry, mode=None):
    full_url = json.dumps(f"{base}/{entry.resource_type}/{entry.resource_id}")
    search = f',"search":{{"mode":"{mode}"}}' if mode else ""
    return f'{{"fullUrl":{full_url},"resource":{entry.text}{search}}}'


def searchset(base, query, params, result, matches, included):
    links = [{"relation": "self", "url": _page_url(base, query.resource_type, params, query.offset)}]
    more = result.more or (result.total is not None and query.offset + query.count < result.total)
    if more and not query.summary_count:
        links.append(
            {
                "relation": "next",
                "url": _page_url(base, query.resource_type, params, query.offset + query.count),
            }
        )
    head = {"resourceType": "Bundle", "type": "searchset"}
    if result.total is not None:
        head["total"] = result.total
    head["link"] = links
    text = json.dumps(head, separators=(",", ":"), ensure_ascii=False)
    entries = [_entry_json(base, e, "match") for e in matches] + [
        _entry_json(base, e, "include") for e in included
    ]
    if not entries:
        return text
    return f'{text[:-1]},"entry":[{",".join(entries)}]}}'


def history(base, resource_type, resource_id, entries):
    head = {
        "resourceType": "Bundle",
        "type": "history",
        "total": len(entries),
        "link": [{"relation": "self", "url": f"{base}/{resource_type}/{resource_id}/_history"}],
    }
    parts = []
    for entry in entries:
        request = {"method": "DELETE" if entry.deleted else "PUT", "url": f"{resource_type}/{resource_id}"}
        item = {"fullUrl": f"{base}/{resource_type}/{resource_id}", "request": request}
        text = json.dumps(item, separators=(",", ":"))
        parts.append(text if entry.deleted else f'{text[:-1]},"resource":{entry.text}}}')
    text = json.dumps(head, separators=(",", ":"))
    return f'{text[:-1]},"entry":[{",".join(parts)}]}}' if parts else text


def _page_url(base, resource_type, params, offset):
    pairs = [(k, v) for k, values in params.items() if k != "_offset" for v in values]
    if offset:
        pairs.append(("_offset", str(offset)))
    query = urlencode(pairs)
    return f"{base}/{resource_type}" + (f"?{query}" if query else "")
