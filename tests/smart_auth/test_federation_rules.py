"""Federation rules that need no second deployment (issue 12): app identity across registrations
(RFC 7591 §2), introspection carrying ``software_id`` (RFC 7662 §2.2 + RFC 7591), patient matching
on trusted identifier systems with FHIR search escaping, federated users' ``fhirUser``, and the
one-way dependency between smart_auth and smart_fhir."""

import ast
from pathlib import Path

import pytest

from smart_auth.federation import (
    AppIdentity,
    FederationError,
    TrustedEHR,
    federated_user,
    match_patient,
    same_app,
)
from smart_auth.models import SmartUser
from smart_auth.registration import register_client
from tests.smart_auth.test_introspection import backend_token, introspect


pytestmark = pytest.mark.django_db
MRN = "http://hospital.example/mrn"


def _app(client_id, software_id=""):
    application, _ = register_client(
        {
            "client_id": client_id,
            "software_id": software_id,
            "client_name": client_id,
            "redirect_uris": ["https://app.example/cb"],
            "token_endpoint_auth_method": "none",
            "scope": "launch/patient patient/*.rs",
        }
    )
    return application


def test_same_app_compares_software_id_with_software_id_only():
    """RFC 7591 §2: registrations of one app share a software_id; without one, a client_id."""
    ours = _app("imaging-app", "org.example.app")
    assert same_app(AppIdentity("ehr-app", "org.example.app"), ours)
    assert not same_app(AppIdentity("ehr-app", "org.example.other"), ours)
    # The EHR client_id equal to our software_id is not our app (kinds are never mixed).
    assert not same_app(AppIdentity("org.example.app", ""), ours)
    assert not same_app(AppIdentity("org.example.app", "org.example.other"), ours)
    plain = _app("plain-app")
    assert same_app(AppIdentity("plain-app", ""), plain)
    assert not same_app(AppIdentity("plain-app", "org.example.app"), plain)  # one side only: not the same


def test_introspection_of_an_access_token_carries_software_id(client, users, backend_client):
    """Introspection names the app across servers for every token type, not only launch-tokens."""
    app = _app("registered-app", "org.example.registered")
    from smart_auth.issuance import issue_access_token

    token = issue_access_token(app, scope="patient/*.rs", audience=["http://testserver/fhir"], issuer="x")
    caller = backend_token(client, backend_client)
    data = introspect(client, token, HTTP_AUTHORIZATION=f"Bearer {caller}").json()
    assert data["active"] is True and data["software_id"] == "org.example.registered"


@pytest.fixture
def patients(settings):
    from smart_fhir.storage import get_storage

    storage = get_storage()
    for ident, identifiers in {
        "p-one": [{"system": MRN, "value": "A,1"}],
        "p-two": [{"system": MRN, "value": "A"}, {"system": "urn:other", "value": "X"}],
        "p-twin-a": [{"system": MRN, "value": "TWIN"}],
        "p-twin-b": [{"system": MRN, "value": "TWIN"}],
    }.items():
        storage.update("Patient", ident, {"resourceType": "Patient", "id": ident, "identifier": identifiers})


def test_matching_escapes_values_and_uses_trusted_systems_only(patients):
    """FHIR R4 search §3.1.1.1 escaping; multi-server draft: match on Patient.identifier."""
    assert match_patient([{"system": MRN, "value": "A,1"}], [MRN]) == "p-one"  # not "A" or "1"
    assert match_patient([{"system": MRN, "value": "A|B\\C$D,"}], [MRN]) is None  # no 500, no match
    assert match_patient([{"system": "urn:other", "value": "X"}], [MRN]) is None  # untrusted system
    assert match_patient([{"system": MRN, "value": "A"}], []) is None  # no trusted system: no match


def test_ambiguous_match_is_no_match(patients):
    assert match_patient([{"system": MRN, "value": "TWIN"}], [MRN]) is None
    # Two identifiers naming two different patients: ambiguous too.
    assert match_patient([{"system": MRN, "value": "A,1"}, {"system": MRN, "value": "A"}], [MRN]) is None


def test_federated_user_without_fhir_user_has_no_patient_mapping(users):
    """A federated user maps to what the EHR vouches for now: no fhirUser, no mapping."""
    ehr = TrustedEHR(
        issuer="https://ehr.example/o",
        fhir_base="https://ehr.example/fhir",
        client_id="c",
        private_key="",
        kid="k",
    )
    user = federated_user(ehr, "42", "Practitioner/doc")
    assert user.smart.fhir_user == "https://ehr.example/fhir/Practitioner/doc"  # never a local id
    SmartUser.objects.filter(user=user).update(fhir_user="Patient/p-one")
    user = federated_user(ehr, "42", None)
    assert not SmartUser.objects.filter(user=user).exists()


def test_long_subjects_of_two_ehrs_are_never_one_local_user(users):
    """The local username is ``sub@host``; cut to Django's 150 characters, two EHRs' long
    ``sub`` values (OIDC Core §2: up to 255 characters) would name the same local user, its
    fhirUser mapping and standing decisions. Such a subject is refused instead."""
    one, two = (
        TrustedEHR(
            issuer=f"https://{h}/o", fhir_base=f"https://{h}/fhir", client_id="c", private_key="", kid="k"
        )
        for h in ("ehr-one.example", "ehr-two.example")
    )
    subject = "s" * 150
    with pytest.raises(FederationError):
        federated_user(one, subject, "Practitioner/a")
    with pytest.raises(FederationError):
        federated_user(two, subject, "Practitioner/b")
    assert federated_user(one, "s" * 40, "Practitioner/a") != federated_user(two, "s" * 40, "Practitioner/b")


def test_smart_auth_never_imports_smart_fhir():
    """One-way dependency: smart_auth reaches a patient store only through PATIENT_DIRECTORY."""
    offenders = []
    for path in Path(__file__).resolve().parents[2].joinpath("smart_auth").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "smart_fhir"]
    assert offenders == []


def test_checks_name_an_unconfigured_patient_directory_and_matching(settings):
    from smart_auth.checks import check_settings

    settings.SMART_AUTH = {
        **{k: v for k, v in settings.SMART_AUTH.items() if k != "PATIENT_DIRECTORY"},
        "TRUSTED_EHRS": [{"issuer": "https://ehr.example/o"}],
    }
    ids = {problem.id for problem in check_settings(None)}
    assert {"smart_auth.W020", "smart_auth.W021"} <= ids


def test_check_refuses_malformed_protected_fields(settings):
    from smart_fhir.checks import check_settings

    settings.SMART_FHIR = {**settings.SMART_FHIR, "PROTECTED_FIELDS": {"Patient": "identifier"}}
    assert "smart_fhir.E020" in {problem.id for problem in check_settings(None)}


@pytest.fixture
def broken_ehr():
    """A real HTTP server posing as a trusted EHR that answers 200 with a body that is not JSON."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html>maintenance</html>")

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_an_ehr_answer_that_is_not_json_is_an_oauth_error_not_a_500(client, settings, broken_ehr):
    """Fail closed with the standard error (RFC 8693 §2.2.2 invalid_request), never a 500."""
    from tests.conftest import TOKEN_URL, ClientKey, token_post

    key = ClientKey("RS384")
    app, _ = register_client(
        {
            "client_name": "Exchanger",
            "grant_types": ["urn:ietf:params:oauth:grant-type:token-exchange"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": key.jwks,
            "scope": "patient/*.rs user/*.rs",
        }
    )
    settings.SMART_AUTH = {
        **settings.SMART_AUTH,
        "TRUSTED_EHRS": [
            {
                "issuer": f"{broken_ehr}/o",
                "fhir_base": f"{broken_ehr}/fhir",
                "client_id": "imaging",
                "private_key": key.pem,
                "kid": "k",
                "alg": "RS384",
            }
        ],
    }
    response = token_post(
        client,
        {
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": "opaque-ehr-token",
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "scope": "user/*.rs",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": key.assertion(app.client_id, aud=TOKEN_URL),
        },
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
