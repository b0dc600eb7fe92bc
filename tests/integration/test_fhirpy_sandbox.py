"""fhirpy, an ordinary maintained FHIR client, against the sandbox's EHR started as a process:
a backend-services token (private_key_jwt) of a client registered with `smart_client register`."""

import json

import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome
from jwcrypto.jwk import JWK

from sandbox_project.scripted import App


pytestmark = pytest.mark.live

CLIENT_ID = "fhirpy-backend"
MRN = "http://hospital.example/mrn"


@pytest.fixture(scope="module")
def fhir(live):
    app = App(live.data_dir, live.urls["app"], client_id=CLIENT_ID)
    public = json.loads(JWK.from_pem(app.key.encode()).export_public())
    public.update({"kid": app.kid, "alg": "RS384", "use": "sig"})
    live.register(
        "ehr",
        {
            "client_id": CLIENT_ID,
            "software_id": CLIENT_ID,
            "client_name": "fhirpy backend test",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [public]},
            "scope": "system/*.cruds",
        },
    )
    config = app.discover(live.fhir("ehr"))
    status, body = app.token_request(
        config["token_endpoint"], grant_type="client_credentials", scope="system/*.cruds"
    )
    assert status == 200, body
    return SyncFHIRClient(live.fhir("ehr"), authorization=f"Bearer {body['access_token']}")


def test_fhirpy_against_the_sandbox_ehr(fhir):
    patient = fhir.resource(
        "Patient", identifier=[{"system": MRN, "value": "FPS-1"}], name=[{"family": "Sbx"}]
    )
    patient.save()
    same, created = (
        fhir.resources("Patient")
        .search(identifier=f"{MRN}|FPS-1")
        .get_or_create(fhir.resource("Patient", identifier=[{"system": MRN, "value": "FPS-1"}]))
    )
    assert created is False and same.id == patient.id

    everything = (
        fhir.resources("Observation").search(patient="pat-1").sort("-date", "_id").limit(3).fetch_all()
    )
    assert len(everything) > 3  # more than one page, followed through the next links
    dates = [o.get("effectiveDateTime", "") for o in everything]
    assert dates == sorted(dates, reverse=True)

    patched = fhir.execute(
        f"Patient/{patient.id}", method="patch", data=[{"op": "add", "path": "/gender", "value": "other"}]
    )
    assert patched["gender"] == "other" and patched["meta"]["versionId"] == "2"

    urn = "urn:uuid:7d8f0a54-2b7e-4d8e-9f5e-6c1d2a3b4c5d"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": urn,
                "resource": {"resourceType": "Patient", "name": [{"family": "SbxTx"}]},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "sandbox tx"},
                    "subject": {"reference": urn},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    response = fhir.execute("", method="post", data=bundle)
    new_patient = response["entry"][0]["resource"]["id"]
    found = fhir.resources("Observation").search(subject=f"Patient/{new_patient}").fetch_all()
    assert [o["code"]["text"] for o in found] == ["sandbox tx"]
    bundle["entry"][1]["resource"]["status"] = ["not", "a", "code"]
    with pytest.raises(OperationOutcome):
        fhir.execute("", method="post", data=bundle)
    assert len(fhir.resources("Patient").search(family="SbxTx").fetch_all()) == 1

    history = fhir.execute(f"Patient/{patient.id}/_history", method="get")
    assert [(e["request"]["method"], e["response"]["etag"]) for e in history["entry"]] == [
        ("PUT", 'W/"2"'),
        ("POST", 'W/"1"'),
    ]
