"""Search and paging for the standalone-launch patient picker (the default ``PATIENT_CHOICES``).

Plain form fields, no JavaScript: ``name``, ``birthdate``, ``identifier`` and ``page`` arrive in
the POST that re-renders the picker. A POST that chooses a patient (``patient``, also the EHR
launch form) narrows to that one id, so the choice is checked without listing every patient.
Patients come from the ``PATIENT_DIRECTORY``: one ``search`` per page when it has one (smart_fhir's
does, with indexed queries), else its ``listing`` without search.
"""

import re

from django.http import QueryDict

from .directory import patient_directory, patient_name


PAGE_SIZE = 20
FIELDS = ("name", "birthdate", "identifier")
MAX_PAGE = 10_000
BIRTHDATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


class PatientPage(list):
    """A page of ``(id, label)`` choices that also knows its search terms and neighbours."""

    def __init__(self, items=(), *, terms=None, page=1, has_next=False, error="", searchable=True):
        super().__init__(items)
        self.searchable = searchable
        self.terms = terms or dict.fromkeys(FIELDS, "")
        self.page = page
        self.has_next = has_next
        self.has_previous = page > 1
        self.next_page = page + 1
        self.previous_page = page - 1
        self.error = error


class PickerSearchError(ValueError):
    """A search the directory cannot run; its message is shown on the picker."""


def is_picking(request):
    """The authorization endpoint's picker, or any POST that names a chosen ``patient``."""
    if request is None:
        return False
    if request.method == "POST" and request.POST.get("patient"):
        return True
    match = getattr(request, "resolver_match", None)
    return match is not None and match.view_name == "oauth2_provider:authorize"


def search_patients(request):
    directory = patient_directory()
    data = request.POST if request.method == "POST" else QueryDict()
    chosen = data.get("patient", "")
    if chosen:
        resource = directory.read(chosen)
        return PatientPage([(resource["id"], patient_name(resource))] if resource else [])
    if not hasattr(directory, "search"):
        return PatientPage(_choices(directory.listing(200)), searchable=False)

    terms = {field: data.get(field, "").strip()[:100] for field in FIELDS}
    page = _page_number(data.get("page"))
    if terms["birthdate"] and not BIRTHDATE.match(terms["birthdate"]):
        return PatientPage(terms=terms, error="Give the birth date as YYYY-MM-DD.")
    try:
        # One row more than the page tells whether there is a next one.
        found = directory.search(
            {k: v for k, v in terms.items() if v}, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE + 1
        )
    except PickerSearchError as exc:
        return PatientPage(terms=terms, error=f"That search cannot be run: {exc}")
    return PatientPage(_choices(found[:PAGE_SIZE]), terms=terms, page=page, has_next=len(found) > PAGE_SIZE)


def _choices(resources):
    return [(resource["id"], patient_name(resource)) for resource in resources]


def _page_number(raw):
    try:
        return min(max(int(raw or 1), 1), MAX_PAGE)
    except ValueError:
        return 1
