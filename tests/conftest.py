"""Shared fixtures: users, registered SMART clients with real keys, and an OAuth flow driver."""

import base64
import hashlib
import os
import secrets
import time
import uuid
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.contrib.auth import get_user_model
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from smart_auth.models import SmartUser
from smart_auth.registration import register_client


def tool_missing(reason):
    """A test that needs a tool from outside PyPI (chromium, the npm packages): skipped with the
    reason, except under ``.ci/run`` (SMART_TESTS_REQUIRE_TOOLS=1), where a missing tool fails."""
    if os.environ.get("SMART_TESTS_REQUIRE_TOOLS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


BASE = "http://testserver"
FHIR = f"{BASE}/fhir"
TOKEN_URL = f"{BASE}/o/token/"
REDIRECT = "https://app.example/callback"
FORM = "application/x-www-form-urlencoded"


class ClientKey:
    """An app's key pair and its public JWK Set, able to sign client assertions."""

    def __init__(self, alg="RS384"):
        self.alg = alg
        self.kid = uuid.uuid4().hex
        if alg.startswith("ES"):
            self.private = ec.generate_private_key(ec.SECP384R1() if alg == "ES384" else ec.SECP256R1())
            jwk = ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            jwk = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        self.jwk = {**jwk, "kid": self.kid, "alg": alg, "use": "sig"}

    @property
    def jwks(self):
        return {"keys": [self.jwk]}

    @property
    def pem(self):
        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def assertion(self, client_id, aud=TOKEN_URL, headers=None, **claims):
        now = int(time.time())
        body = {
            "iss": client_id,
            "sub": client_id,
            "aud": aud,
            "exp": now + 240,
            "jti": secrets.token_hex(32),
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        head = {"kid": self.kid, "typ": "JWT"}
        head.update(headers or {})
        head = {k: v for k, v in head.items() if v is not None}
        return jwt.encode(body, self.private, algorithm=self.alg, headers=head)


def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@pytest.fixture
def users(db):
    User = get_user_model()
    clinician = User.objects.create_user(
        "clinician", password="clinician", first_name="Casey", last_name="Clinic"
    )
    patient_user = User.objects.create_user("patient", password="patient")
    other = User.objects.create_user("other", password="other")
    SmartUser.objects.create(user=clinician, fhir_user="Practitioner/prac-1")
    SmartUser.objects.create(user=patient_user, fhir_user="Patient/pat-1")
    return {"clinician": clinician, "patient": patient_user, "other": other}


APP_SCOPES = (
    "launch launch/patient launch/encounter openid fhirUser profile offline_access online_access "
    "patient/*.cruds user/*.cruds launch-token fhircast"
)


@pytest.fixture
def public_client(db):
    app, _ = register_client(
        {
            "client_name": "Public app",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
            "scope": APP_SCOPES,
            "launch_uri": "https://app.example/launch",
        }
    )
    return app


@pytest.fixture
def symmetric_client(db):
    app, secret = register_client(
        {
            "client_name": "Confidential app",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": APP_SCOPES,
            "launch_uri": "https://app.example/launch",
        }
    )
    app.plain_secret = secret
    return app


@pytest.fixture
def client_key():
    return ClientKey("RS384")


@pytest.fixture
def asymmetric_client(db, client_key):
    app, _ = register_client(
        {
            "client_name": "Asymmetric app",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": client_key.jwks,
            "scope": APP_SCOPES,
            "launch_uri": "https://app.example/launch",
        }
    )
    app.key = client_key
    return app


@pytest.fixture
def backend_client(db):
    key = ClientKey("ES384")
    app, _ = register_client(
        {
            "client_name": "Backend service",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": key.jwks,
            "scope": "system/*.rs system/Patient.cruds introspection",
        }
    )
    app.key = key
    return app


class Flow:
    """Drives the authorization code flow through Django's test client, as a browser and an app."""

    def __init__(self, client, application, redirect_uri=REDIRECT):
        self.client = client
        self.application = application
        self.redirect_uri = redirect_uri
        self.verifier, self.challenge = pkce_pair()
        self.state = secrets.token_urlsafe(8)
        self.nonce = secrets.token_urlsafe(8)

    def params(self, scope, **extra):
        params = {
            "response_type": "code",
            "client_id": self.application.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": scope,
            "state": self.state,
            "nonce": self.nonce,
            "aud": FHIR,
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
        }
        params.update(extra)
        return {k: v for k, v in params.items() if v is not None}

    def authorize(self, scope, method="get", **extra):
        params = self.params(scope, **extra)
        if method == "post":
            return self.client.post("/o/authorize/", params)
        return self.client.get("/o/authorize/?" + urlencode(params, doseq=True))

    def consent_form(self, response):
        assert response.status_code == 200, response.content[:500]
        html = response.content.decode()
        start = html.index('name="pending" value="') + len('name="pending" value="')
        return html[start : html.index('"', start)]

    def approve(self, response, scopes=None, patient=None):
        pending = self.consent_form(response)
        if patient is not None:
            response = self.client.post("/o/authorize/", {"pending": pending, "patient": patient})
            if response.status_code == 302:
                return response
            pending = self.consent_form(response)
        if scopes is None:
            html = response.content.decode()
            scopes = [
                chunk.split('"', 1)[0]
                for chunk in html.split('name="grant_scope" value="')[1:]
                if '" checked' in chunk.split(">", 1)[0]
            ]
        return self.client.post(
            "/o/authorize/", {"pending": pending, "grant_scope": scopes, "action": "approve"}
        )

    def code_from(self, response):
        assert response.status_code == 302, response.content[:500]
        query = parse_qs(urlsplit(response["Location"]).query)
        assert "error" not in query, query
        assert query["state"] == [self.state]
        return query["code"][0]

    def exchange(self, code, auth=None, **extra):
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": self.verifier,
        }
        headers = {}
        if auth == "basic":
            raw = f"{self.application.client_id}:{self.application.plain_secret}".encode()
            headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(raw).decode()
        elif auth == "jwt":
            data["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            data["client_assertion"] = self.application.key.assertion(self.application.client_id)
        else:
            data["client_id"] = self.application.client_id
        data.update(extra)
        data = {k: v for k, v in data.items() if v is not None}
        return self.client.post("/o/token/", urlencode(data, doseq=True), content_type=FORM, **headers)

    def run(self, scope, user, auth=None, patient=None, **extra):
        self.client.force_login(user)
        response = self.authorize(scope, **extra)
        if response.status_code == 200:
            response = self.approve(response, patient=patient)
        code = self.code_from(response)
        return self.exchange(code, auth=auth)


@pytest.fixture
def flow(client, public_client):
    return Flow(client, public_client)


def token_post(client, data, **headers):
    return client.post("/o/token/", urlencode(data, doseq=True), content_type=FORM, **headers)


class JWKSServer:
    """A real HTTP server on 127.0.0.1 publishing a JWK Set (an app's or a remote issuer's)."""

    def __init__(self):
        import http.server
        import json
        import threading

        owner = self
        self.jwks = {"keys": []}
        self.cache_control = "max-age=300"
        self.hits = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802  (http.server API)
                owner.hits += 1
                body = json.dumps(owner.jwks).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", owner.cache_control)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks_server():
    from smart_auth.oauth2 import client_auth

    client_auth.jwks_cache().clear()
    server = JWKSServer()
    yield server
    server.close()
    client_auth.jwks_cache().clear()
    client_auth.jwks_cache().min_refetch_interval = 5.0


@pytest.fixture(scope="session")
def live(tmp_path_factory):
    """The sandbox's EHR and imaging deployments as real processes (own databases and keys)."""
    from sandbox_project.scripted import Deployments

    deployments = Deployments(tmp_path_factory.mktemp("sandbox-data")).start()
    yield deployments
    deployments.stop()
