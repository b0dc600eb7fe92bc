"""Every count passes the same filters as the entries (issue 13 "consent counts", issue 16).

A RESOURCE_FILTERS hook (imaging consent's shape) hides studies; a search must not reveal them
through `total`, `_summary=count`, `_count=0`, the `next` link, `_include`/`_revinclude`, nor
through `_id=`, `identifier=` or `modality=` searches, and a read answers as for an unknown id.
Both kinds of hook are tried: one that states its rule as search clauses (as imaging consent
does) and one that only judges resources one by one.
"""

import pytest

from smart_fhir.demo import DICOM_UID_SYSTEM, study_uid
from smart_fhir.models import StoredResource
from smart_fhir.search import Clause
from smart_fhir.search.query import SearchValueSpec
from smart_fhir.storage import get_storage
from tests.smart_fhir.conftest import FHIR_JSON, Api, fresh_token_cache, issue  # noqa: F401


HIDDEN = "study-3-2"  # demo patients 3 and 6 have two studies; every "-2" study is hidden


def hide_second_studies(access, resource_type, resource):
    return not (resource_type == "ImagingStudy" and str(resource.get("id")).endswith("-2"))


def hide_second_studies_in_sql(access, resource_type, resource):
    return hide_second_studies(access, resource_type, resource)


def _visible_ids_clause(access, resource_type):
    if resource_type != "ImagingStudy":
        return []
    every = get_storage().search("ImagingStudy", {"_count": ["200"]}).resources
    ids = [r["id"] for r in every if not r["id"].endswith("-2")]
    return [Clause("_id", "id", "", tuple(SearchValueSpec(code=i) for i in ids))]


hide_second_studies_in_sql.search_clauses = _visible_ids_clause


@pytest.fixture(params=["hide_second_studies", "hide_second_studies_in_sql"])
def filtered(request, db, settings):
    from smart_fhir.demo import load_demo_data

    load_demo_data("ehr", patients=6)
    settings.SMART_FHIR = {**settings.SMART_FHIR, "RESOURCE_FILTERS": [f"{__name__}.{request.param}"]}
    every = [r["id"] for r in get_storage().search("ImagingStudy", {"_count": ["200"]}).resources]
    return {"all": every, "visible": [i for i in every if not i.endswith("-2")]}


@pytest.fixture
def api(client, issue):  # noqa: F811
    return Api(client, issue("openid fhirUser user/*.rs"))


def _search(api, query):
    response = api.get(f"ImagingStudy?{query}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith(FHIR_JSON)
    return response.json()


def _ids(bundle, mode="match"):
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def test_totals_count_only_what_the_filters_let_through(api, filtered):
    """The consent promise; FHIR R4 §3.1.1.4 (Bundle.total: the number of matches)."""
    visible = len(filtered["visible"])
    assert len(filtered["all"]) > visible  # something is hidden
    assert _search(api, "_summary=count")["total"] == visible
    assert _search(api, "_count=0")["total"] == visible
    assert _search(api, "")["total"] == visible
    assert sorted(_ids(_search(api, "_count=200"))) == sorted(filtered["visible"])
    # FHIR R4 §3.1.1.5.8: included resources pass the same checks as a read.
    included = api.get("Patient?_id=pat-3&_revinclude=ImagingStudy:patient").json()
    assert _ids(included, "include") == ["study-3-1"]


def test_paging_agrees_with_the_filtered_total(api, filtered):
    """FHIR R4 §3.1.1.5.7: `next` only while matches remain; pages hold only visible studies."""
    visible = len(filtered["visible"])
    last_page = _search(api, f"_count={visible}")
    assert [link["relation"] for link in last_page["link"]] == ["self"]
    seen, query = [], "_count=2"
    while query is not None:
        page = _search(api, query)
        assert page["total"] == visible
        seen += _ids(page)
        following = [link["url"] for link in page["link"] if link["relation"] == "next"]
        query = following[0].split("?", 1)[1] if following else None
    assert sorted(seen) == sorted(filtered["visible"])


@pytest.mark.parametrize(
    "probe",
    [
        f"_id={HIDDEN}",
        f"identifier={DICOM_UID_SYSTEM}|{study_uid(3, 2)}",
        f"identifier={study_uid(3, 2)}",
        f"_id={HIDDEN}&_summary=count",
        f"identifier={DICOM_UID_SYSTEM}|{study_uid(3, 2)}&_count=0",
    ],
)
def test_a_hidden_study_looks_exactly_like_one_that_does_not_exist(api, filtered, probe):
    """The consent promise: `_id=`/`identifier=` (Study UID) searches say nothing about it."""
    hidden = _search(api, probe)
    missing = _search(api, probe.replace(HIDDEN, "no-such-study").replace(study_uid(3, 2), "2.25.404"))
    assert hidden["total"] == missing["total"] == 0
    assert "entry" not in hidden and "entry" not in missing


def test_modality_counts_leave_hidden_studies_out(api, filtered):
    """The consent promise: `modality=` totals match the visible studies of that modality."""
    hidden = get_storage().read("ImagingStudy", HIDDEN)
    modality = hidden["modality"][0]["code"]
    bundle = _search(api, f"modality={modality}&_count=200")
    assert HIDDEN not in _ids(bundle)
    assert bundle["total"] == len(_ids(bundle))
    assert _search(api, f"modality={modality}&_summary=count")["total"] == bundle["total"]


def test_reading_a_hidden_study_answers_as_for_an_unknown_one(api, filtered):
    """FHIR R4 §3.1.0.4 / the consent promise: 404 OperationOutcome, nothing about it shown."""
    before = StoredResource.objects.count()
    for suffix in ("", "/_history/1", "/_history"):
        path = f"ImagingStudy/{HIDDEN}{suffix}"
        hidden, missing = api.get(path), api.get(path.replace(HIDDEN, "no-such-study"))
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json()["issue"][0]["code"] == missing.json()["issue"][0]["code"] == "not-found"
        assert "WWW-Authenticate" not in hidden  # no insufficient_scope hint either
    assert StoredResource.objects.count() == before


def test_content_a_filter_refuses_is_403_on_write(client, issue, filtered):  # noqa: F811
    """Hiding answers 404 for what exists; content a client sends and a filter refuses is 403."""
    writer = Api(client, issue("openid fhirUser user/*.cruds"))
    study = {**get_storage().read("ImagingStudy", "study-3-1"), "id": "study-9-2"}
    before = StoredResource.objects.count()
    response = writer.put("ImagingStudy/study-9-2", study)
    assert response.status_code == 403, response.content
    assert response.json()["resourceType"] == "OperationOutcome"
    assert StoredResource.objects.count() == before
