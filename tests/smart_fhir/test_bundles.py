"""batch and transaction Bundles POSTed to the base: each entry checked as a single request,
transactions all-or-nothing with urn:uuid references resolved across entries."""

import base64
import json

import pytest
from fhir.resources.R4B.bundle import Bundle

from smart_fhir.models import ResourceVersion, StoredResource

from .conftest import PAT1, PAT2


pytestmark = pytest.mark.django_db

MRN = "http://hospital.example/mrn"


def _bundle(kind, *entries):
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def _entry(method, url, resource=None, full_url=None, **request):
    entry = {"request": {"method": method, "url": url, **request}}
    if resource is not None:
        entry["resource"] = resource
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def _observation(subject, code="8867-4"):
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": subject},
    }


def _counts():
    return StoredResource.objects.count(), ResourceVersion.objects.count()


def test_transaction_resolves_urn_uuid_references_and_answers_every_entry(clinician):
    patient_urn = "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"
    bundle = _bundle(
        "transaction",
        _entry("POST", "Observation", _observation(patient_urn)),
        _entry(
            "POST",
            "Patient",
            {"resourceType": "Patient", "identifier": [{"system": MRN, "value": "TX-1"}]},
            full_url=patient_urn,
        ),
        _entry(
            "PUT",
            f"Patient/{PAT2}",
            {
                **clinician.get(f"Patient/{PAT2}").json(),
                "gender": "other",
                "generalPractitioner": [{"reference": "urn:uuid:0e6a3c1e-1d7a-4a8e-9a51-5c2f4b7e9d10"}],
            },
        ),
        _entry(
            "POST",
            "Practitioner",
            {"resourceType": "Practitioner", "name": [{"family": "Tx"}]},
            full_url="urn:uuid:0e6a3c1e-1d7a-4a8e-9a51-5c2f4b7e9d10",
        ),
        _entry("GET", f"Patient/{PAT1}"),
        _entry("GET", "Patient?identifier=TX-1"),
    )
    response = clinician.post("", bundle)
    assert response.status_code == 200, response.content
    body = response.json()
    Bundle.model_validate(body)
    assert body["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created", "201 Created", "200 OK", "201 Created", "200 OK", "200 OK"]
    patient_id = body["entry"][1]["resource"]["id"]
    assert body["entry"][1]["response"]["location"].endswith(f"/Patient/{patient_id}/_history/1")
    observation = clinician.get(
        body["entry"][0]["response"]["location"].removeprefix("http://testserver/fhir/")
    )
    assert observation.json()["subject"]["reference"] == f"Patient/{patient_id}"
    assert clinician.get(f"Observation?patient={patient_id}").json()["total"] == 1
    assert body["entry"][2]["resource"]["meta"]["versionId"] == "2"
    practitioner = body["entry"][3]["resource"]["id"]
    assert body["entry"][2]["resource"]["generalPractitioner"] == [
        {"reference": f"Practitioner/{practitioner}"}
    ]
    # reads run after the writes (R4 processing order)
    assert body["entry"][5]["resource"]["total"] == 1


def test_transaction_is_all_or_nothing(clinician):
    before = _counts()
    bundle = _bundle(
        "transaction",
        _entry("POST", "Patient", {"resourceType": "Patient", "name": [{"family": "Kept?"}]}),
        _entry("DELETE", f"Patient/{PAT2}"),
        _entry("PUT", f"Patient/{PAT1}", {"resourceType": "Patient", "id": PAT1, "birthDate": "1990-13-45"}),
    )
    response = clinician.post("", bundle)
    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome" and "entry 2" in outcome["issue"][0]["diagnostics"]
    assert _counts() == before
    assert clinician.get(f"Patient/{PAT2}").status_code == 200
    stale = _bundle(
        "transaction",
        _entry("DELETE", f"Patient/{PAT2}"),
        _entry("PUT", f"Patient/{PAT1}", clinician.get(f"Patient/{PAT1}").json(), ifMatch='W/"9"'),
    )
    assert clinician.post("", stale).status_code == 412
    assert _counts() == before


def test_transaction_entries_are_checked_against_the_tokens_scopes_and_patient(api, ehr_data, issue):
    token = issue("openid fhirUser patient/Observation.cruds", patient=PAT1)
    before = _counts()
    bundle = _bundle(
        "transaction",
        _entry("POST", "Observation", _observation(f"Patient/{PAT1}")),
        _entry("POST", "Observation", _observation(f"Patient/{PAT2}")),  # another patient's compartment
    )
    response = api.post("", bundle, token=token)
    assert response.status_code == 403 and "entry 1" in response.json()["issue"][0]["diagnostics"]
    assert _counts() == before
    patient_write = _bundle(
        "transaction", _entry("PUT", f"Patient/{PAT1}", {"resourceType": "Patient", "id": PAT1})
    )
    assert api.post("", patient_write, token=token).status_code == 403  # no Patient scope at all
    ok = api.post(
        "",
        _bundle("transaction", _entry("POST", "Observation", _observation(f"Patient/{PAT1}"))),
        token=token,
    )
    assert ok.status_code == 200


def test_batch_answers_each_entry_on_its_own(api, ehr_data, issue):
    token = issue("openid fhirUser patient/*.cruds", patient=PAT1)
    bundle = _bundle(
        "batch",
        _entry("POST", "Observation", _observation(f"Patient/{PAT1}")),
        _entry("POST", "Observation", _observation(f"Patient/{PAT2}")),
        _entry("GET", f"Patient/{PAT2}"),
        _entry("GET", "Patient/nope"),
        _entry("GET", f"Observation?patient={PAT1}&_summary=count"),
        _entry("DELETE", "Medication/x"),
        _entry(
            "PATCH",
            f"Patient/{PAT1}",
            {
                "resourceType": "Binary",
                "contentType": "application/json-patch+json",
                "data": base64.b64encode(
                    json.dumps([{"op": "add", "path": "/active", "value": True}]).encode()
                ).decode(),
            },
        ),
        _entry("PUT", f"Patient/{PAT1}", {"resourceType": "Patient", "id": PAT1, "birthDate": "1990-13-45"}),
    )
    response = api.post("", bundle, token=token)
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "batch-response"
    statuses = [e["response"]["status"].split()[0] for e in body["entry"]]
    assert statuses == ["201", "403", "403", "404", "200", "404", "200", "400"]
    assert body["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert body["entry"][4]["resource"]["total"] == 5
    assert api.get(f"Patient/{PAT1}", token=token).json()["active"] is True


def test_transaction_conditional_create_resolves_to_the_match(clinician):
    urn = "urn:uuid:1f0c6b5e-1111-4c4c-8c8c-000000000001"
    patient = {"resourceType": "Patient", "identifier": [{"system": MRN, "value": "MRN-0001"}]}
    bundle = _bundle(
        "transaction",
        _entry("POST", "Patient", patient, full_url=urn, ifNoneExist=f"identifier={MRN}|MRN-0001"),
        _entry("POST", "Observation", _observation(urn)),
    )
    body = clinician.post("", bundle).json()
    assert [e["response"]["status"] for e in body["entry"]] == ["200 OK", "201 Created"]
    assert body["entry"][1]["resource"]["subject"]["reference"] == f"Patient/{PAT1}"


def test_transaction_conditional_create_that_matches_still_needs_create_access(api, ehr_data, issue):
    """A conditional create is a create (FHIR R4 §3.1.0.8.1): a token without the ``c`` letter
    gets the 403 of the single request, even when ifNoneExist matches (SMART 2.2 scopes)."""
    token = issue("openid fhirUser patient/Patient.rs", patient=PAT1)
    patient = {"resourceType": "Patient", "identifier": [{"system": MRN, "value": "MRN-0001"}]}
    criteria = f"identifier={MRN}|MRN-0001"
    single = api.post("Patient", patient, token=token, HTTP_IF_NONE_EXIST=criteria)
    assert single.status_code == 403
    bundle = _bundle("transaction", _entry("POST", "Patient", patient, ifNoneExist=criteria))
    assert api.post("", bundle, token=token).status_code == 403


@pytest.mark.parametrize(
    "bundle, status",
    [
        ({"resourceType": "Bundle", "type": "collection"}, 400),
        ({"resourceType": "Patient"}, 400),
        (_bundle("transaction", {"request": {"method": "GET"}}), 400),
        (_bundle("transaction", _entry("TRACE", "Patient")), 400),
        (_bundle("transaction", _entry(["GET"], "Patient")), 400),
        ({"resourceType": "Bundle", "type": "batch", "entry": 7}, 400),
        (_bundle("batch", _entry("POST", "Patient", {"resourceType": "Patient"}, ifNoneExist=7)), 400),
        (_bundle("transaction", _entry("GET", "not a url")), 400),
        (
            _bundle("transaction", _entry("DELETE", f"Patient/{PAT1}"), _entry("PUT", f"Patient/{PAT1}", {})),
            409,
        ),
        (_bundle("transaction", _entry("PATCH", f"Patient/{PAT1}", {"resourceType": "Patient"})), 400),
    ],
)
def test_malformed_bundles_are_operation_outcomes(clinician, bundle, status):
    before = _counts()
    response = clinician.post("", bundle)
    assert response.status_code == status, response.content
    assert response.json()["resourceType"] == "OperationOutcome"
    assert _counts() == before


def test_bundles_need_a_token(api, ehr_data):
    assert api.post("", _bundle("batch")).status_code == 401


def test_a_batch_patch_whose_binary_is_not_base64_is_that_entrys_400(clinician):
    binary = {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": 7}
    body = clinician.post("", _bundle("batch", _entry("PATCH", f"Patient/{PAT1}", binary))).json()
    assert body["entry"][0]["response"]["status"] == "400 Bad Request"
    assert body["entry"][0]["response"]["outcome"]["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("text", ["[" * 100_000, '[{"op": "add", "path": "/x", "value": 1e400}]'])
def test_a_batch_patch_binary_gets_the_json_limits_of_a_patch_body(clinician, text):
    """The Binary's JSON is client input like a PATCH body: nesting past MAX_JSON_DEPTH (a
    RecursionError in json.loads) is that entry's 400, not a 500 (FHIR R4 §3.1.0.11.1)."""
    data = base64.b64encode(text.encode()).decode()
    binary = {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": data}
    response = clinician.post("", _bundle("batch", _entry("PATCH", f"Patient/{PAT1}", binary)))
    assert response.status_code == 200, response.content[:300]
    assert response.json()["entry"][0]["response"]["status"] == "400 Bad Request"


SAME_AS_SINGLE = [
    ("GET", f"Patient/{PAT1}", None),
    ("GET", f"Patient/{PAT2}", None),
    ("GET", f"Observation?patient={PAT2}", None),
    ("GET", "Observation?code=8867-4", None),
    ("GET", f"Patient/{PAT1}/_history", None),
    ("GET", "Encounter/_history", None),
    ("GET", f"Patient/{PAT2}/Encounter", None),
    ("POST", "Observation", _observation(f"Patient/{PAT2}")),
    ("PUT", f"Patient/{PAT2}", {"resourceType": "Patient", "id": PAT2}),
    ("DELETE", f"Patient/{PAT2}", None),
    ("DELETE", f"Observation?patient={PAT2}", None),
    ("GET", "Medication/x", None),
]


@pytest.mark.parametrize(
    "scope, patient",
    [
        ("patient/*.cruds", PAT1),
        ("patient/Observation.rs", PAT1),
        ("user/Patient.rs", None),
        ("user/Observation.rs?category=laboratory", None),
    ],
)
def test_each_batch_entry_answers_as_the_single_request(api, ehr_data, issue, scope, patient):
    """For requests a token may not carry out (and reads), a batch entry's status is the status
    the same request gets on its own."""
    token = issue(f"openid fhirUser {scope}", patient=patient)
    calls = {"GET": api.get, "DELETE": api.delete}
    singles = []
    for method, url, body in SAME_AS_SINGLE:
        if body is None:
            response = calls[method](url, token=token)
        else:
            response = (api.post if method == "POST" else api.put)(url, body, token=token)
        singles.append(response.status_code)
        assert response.status_code not in (200, 201, 204) or method == "GET", (method, url, scope)
    batch = _bundle("batch", *(_entry(m, u, b) for m, u, b in SAME_AS_SINGLE))
    entries = api.post("", batch, token=token).json()["entry"]
    assert [int(e["response"]["status"].split()[0]) for e in entries] == singles
