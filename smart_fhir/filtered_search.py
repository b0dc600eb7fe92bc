"""A search whose every count passes the same filters as its entries.

Scopes and the patient compartment become storage ``Grant``s; RESOURCE_FILTERS hooks (imaging
consent) become search clauses when they can say what they allow (``search_clauses``), so the
storage counts, pages and includes after them. A hook that cannot is applied in memory to every
match before counting and paging (bounded by FILTERED_SCAN_LIMIT).
"""

from __future__ import annotations

import dataclasses

from .conf import fhir_settings
from .enforcement import AccessDenied, check_entry, filter_clauses, passes_filters
from .search import Clause, SearchError
from .search.query import SearchValueSpec
from .storage import SearchResult, get_storage


# Matches filtered in memory per search, at most (a hook without search_clauses).
FILTERED_SCAN_LIMIT = 10_000


def run_filtered_search(access, query, grants) -> tuple[SearchResult, list, list]:
    """(result with the filtered total, matching entries of the page, included entries)."""
    storage = get_storage()
    if not fhir_settings.RESOURCE_FILTERS:
        result = storage.run_search(query, grants)
        return result, result.entries, _readable(access, result.included)
    clauses = filter_clauses(access, query.resource_type)
    if clauses is not None:
        result = storage.run_search(dataclasses.replace(query, clauses=[*query.clauses, *clauses]), grants)
        # The hooks still judge each entry (their clauses and their verdict should agree).
        matches = [e for e in result.entries if passes_filters(access, e)]
        return result, matches, _readable(access, result.included)
    return _filtered_in_memory(storage, access, query, grants)


def _filtered_in_memory(storage, access, query, grants):
    scan = dataclasses.replace(
        query, offset=0, count=FILTERED_SCAN_LIMIT, summary="", includes=[], revincludes=[]
    )
    everything = storage.run_search(scan, grants)
    if everything.more or (everything.total or 0) > FILTERED_SCAN_LIMIT:
        raise SearchError(f"More than {FILTERED_SCAN_LIMIT} matches: narrow the search")
    kept = [e for e in everything.entries if passes_filters(access, e)]
    result = SearchResult(total=len(kept))
    if query.summary_count or query.count == 0:
        return result, [], []
    page = kept[query.offset : query.offset + query.count]
    result.entries = page
    if not getattr(query, "total", True):  # _total=none: no total, only whether a page follows
        result.total, result.more = None, query.offset + query.count < len(kept)
    if page and (query.includes or query.revincludes):
        # The page again, with its includes: the storage finds them for exactly these ids.
        ids = Clause("_id", "id", "", tuple(SearchValueSpec(code=e.resource_id) for e in page))
        again = storage.run_search(
            dataclasses.replace(query, clauses=[*query.clauses, ids], offset=0, count=len(page)), grants
        )
        result.included = again.included
    return result, page, _readable(access, result.included)


def _readable(access, entries):
    readable = []
    for entry in entries:
        try:
            check_entry(access, "read", entry)
        except AccessDenied:
            continue
        readable.append(entry)
    return readable
