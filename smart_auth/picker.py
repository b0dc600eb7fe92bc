"""Search and paging for the standalone-launch patient picker (the default ``PATIENT_CHOICES``).

Plain form fields, no JavaScript: ``name``, ``birthdate``, ``identifier`` and ``page`` arrive in
the POST that re-renders the picker. A POST that chooses a patient (``patient``, also the EHR
launch form) narrows the search to that one id, so the choice is checked without listing every
patient. Every query is one indexed FHIR search of one page.
"""

import re

from django.http import QueryDict


PAGE_SIZE = 20
FIELDS = ("name", "birthdate", "identifier")
MAX_PAGE = 10_000
BIRTHDATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


class PatientPage(list):
    """A page of ``(id, label)`` choices that also knows its search terms and neighbours."""

    searchable = True

    def __init__(self, items=(), *, terms=None, page=1, has_next=False, error=""):
        super().__init__(items)
        self.terms = terms or dict.fromkeys(FIELDS, "")
        self.page = page
        self.has_next = has_next
        self.has_previous = page > 1
        self.next_page = page + 1
        self.previous_page = page - 1
        self.error = error


def is_picking(request):
    """The authorization endpoint's picker, or any POST that names a chosen ``patient``."""
    if request is None:
        return False
    if request.method == "POST" and request.POST.get("patient"):
        return True
    match = getattr(request, "resolver_match", None)
    return match is not None and match.view_name == "oauth2_provider:authorize"


def search_patients(request, label):
    from smart_fhir.search.values import SearchError
    from smart_fhir.storage import StorageError, get_storage

    data = request.POST if request.method == "POST" else QueryDict()
    chosen = data.get("patient", "")
    if chosen:
        try:
            resources = get_storage().search("Patient", {"_id": [chosen], "_count": ["1"]}).resources
        except (SearchError, StorageError):
            resources = []
        return PatientPage([(r["id"], label(r)) for r in resources])

    terms = {field: data.get(field, "").strip()[:100] for field in FIELDS}
    page = _page_number(data.get("page"))
    if terms["birthdate"] and not BIRTHDATE.match(terms["birthdate"]):
        return PatientPage(terms=terms, error="Give the birth date as YYYY-MM-DD.")
    # One row more than the page tells whether there is a next one; no total (no COUNT query).
    params = {"_count": [str(PAGE_SIZE + 1)], "_offset": [str((page - 1) * PAGE_SIZE)], "_total": ["none"]}
    params.update({field: [value] for field, value in terms.items() if value})
    # An order the (type, id) index serves, so a page never sorts the whole store by name.
    params["_sort"] = ["_id"]
    try:
        resources = get_storage().search("Patient", params).resources
    except (SearchError, StorageError) as exc:
        return PatientPage(terms=terms, error=f"That search cannot be run: {exc}")
    return PatientPage(
        [(r["id"], label(r)) for r in resources[:PAGE_SIZE]],
        terms=terms,
        page=page,
        has_next=len(resources) > PAGE_SIZE,
    )


def _page_number(raw):
    try:
        return min(max(int(raw or 1), 1), MAX_PAGE)
    except ValueError:
        return 1
