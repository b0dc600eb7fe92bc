"""Fixtures for the FHIR API: demo data, real tokens from smart_auth, and a fake trusted issuer."""

import time
import uuid

import jwt
import pytest

from smart_auth.launch import create_launch
from smart_fhir.demo import demo_patient_id, load_demo_data
from smart_fhir.tokens import get_validator
from tests.conftest import FHIR, ClientKey


FHIR_JSON = "application/fhir+json"
IMAGING = "http://imaging.test/fhir"
PAT1 = demo_patient_id("ehr", 1)
PAT2 = demo_patient_id("ehr", 2)
LAB = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"


@pytest.fixture(autouse=True)
def fresh_token_cache():
    get_validator().clear()
    yield
    get_validator().clear()


@pytest.fixture
def ehr_data(db):
    load_demo_data("ehr", patients=3)


class Api:
    """A FHIR client over Django's test client; paths are relative to the FHIR base."""

    def __init__(self, client, token=None):
        self.client = client
        self.token = token

    def _headers(self, token, extra):
        token = self.token if token is None else token
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        headers.update(extra)
        return headers

    def get(self, path, token=None, **extra):
        return self.client.get(f"/fhir/{path}", **self._headers(token, extra))

    def post(self, path, body, token=None, content_type=FHIR_JSON, **extra):
        import json

        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return self.client.post(
            f"/fhir/{path}", data, content_type=content_type, **self._headers(token, extra)
        )

    def put(self, path, body, token=None, content_type=FHIR_JSON, **extra):
        import json

        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return self.client.put(
            f"/fhir/{path}", data, content_type=content_type, **self._headers(token, extra)
        )

    def delete(self, path, token=None, **extra):
        return self.client.delete(f"/fhir/{path}", **self._headers(token, extra))

    def with_token(self, token):
        return Api(self.client, token)


@pytest.fixture
def api(client):
    return Api(client)


@pytest.fixture
def issue(flow, users, public_client):
    """Issue a real access token from smart_auth: ``issue(scope, user="clinician", patient=...)``."""

    def _issue(scope, user="clinician", patient=None, aud=FHIR, full=False):
        extra = {"aud": aud}
        if patient is not None:
            launch = create_launch(public_client, user=users[user], patient=patient)
            scope = f"launch {scope}"
            extra["launch"] = launch.handle
        response = flow.run(scope, users[user], **extra)
        assert response.status_code == 200, response.content
        body = response.json()
        return body if full else body["access_token"]

    return _issue


@pytest.fixture
def backend_token(client, backend_client):
    from tests.conftest import token_post

    def _issue(scope="system/*.rs"):
        response = token_post(
            client,
            {
                "grant_type": "client_credentials",
                "scope": scope,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": backend_client.key.assertion(backend_client.client_id),
            },
        )
        assert response.status_code == 200, response.content
        return response.json()["access_token"]

    return _issue


class FakeIssuer:
    """A trusted remote authorization server whose keys the test holds."""

    issuer = "https://as.example/o"

    def __init__(self):
        self.key = ClientKey("RS256")

    def token(self, scope, aud=FHIR, key=None, typ="at+jwt", expires_in=300, **claims):
        key = key or self.key
        now = int(time.time())
        body = {
            "iss": self.issuer,
            "sub": "remote-user",
            "fhirUser": "Practitioner/remote-practitioner",
            "aud": aud,
            "client_id": "remote-app",
            "scope": scope,
            "iat": now,
            "exp": now + expires_in,
            "jti": uuid.uuid4().hex,
            **claims,
        }
        return jwt.encode(body, key.private, algorithm=key.alg, headers={"kid": key.kid, "typ": typ})


@pytest.fixture
def fake_issuer(settings):
    issuer = FakeIssuer()
    settings.SMART_FHIR = {
        **settings.SMART_FHIR,
        "TRUSTED_ISSUERS": [{"issuer": issuer.issuer, "jwks": issuer.key.jwks}],
    }
    return issuer
