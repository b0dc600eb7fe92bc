"""Third-party SMART clients against the live sandbox: the Python ``fhirclient`` (standalone
launch, FHIR reads, refresh) and the JavaScript ``fhirclient`` in Node (EHR launch with PKCE and
an asymmetric client). The browser steps are scripted through the real login and consent forms."""

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from sandbox_project.scripted import Browser
from tests.conftest import tool_missing


pytestmark = pytest.mark.live
JS_DIR = Path(__file__).parent / "js"
REDIRECT = "http://127.0.0.1:9999/callback"


def test_python_fhirclient_standalone_launch_read_and_refresh(live):
    """fhirclient 4.4.0 discovers through /metadata (oauth-uris), sends PKCE, exchanges the code,
    reads the patient with its strict R4 models, and refreshes (SMART 2.2 standalone launch)."""
    from fhirclient import client
    from fhirclient.models.patient import Patient

    smart = client.FHIRClient(
        settings={
            "app_id": "sandbox-public-app",
            "api_base": live.fhir("ehr"),
            "redirect_uri": REDIRECT,
            "scope": "launch/patient openid fhirUser patient/*.read offline_access",
        }
    )
    url = smart.authorize_url
    query = Browser("patient").visit(url, REDIRECT)
    assert "code" in query, query
    smart.handle_callback(f"{REDIRECT}?" + "&".join(f"{k}={v}" for k, v in query.items()))
    assert smart.patient_id == "pat-1"
    patient = Patient.read(smart.patient_id, smart.server)
    assert patient.id == "pat-1" and patient.identifier
    first_token = smart.server.auth.access_token
    assert smart.reauthorize() is not None
    assert smart.server.auth.access_token != first_token
    assert Patient.read(smart.patient_id, smart.server).id == "pat-1"


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_javascript_fhirclient_ehr_launch_with_pkce_and_asymmetric_client(live, tmp_path):
    """client-js 2.6.3 in Node: EHR launch, PKCE S256 (advertised), private_key_jwt (RS384)."""
    if not (JS_DIR / "node_modules" / "fhirclient").exists():
        tool_missing(
            "the JavaScript fhirclient is not installed: scripts/test runs "
            "`npm ci --legacy-peer-deps --ignore-scripts` in tests/clients/js (it failed or npm is missing)"
        )
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = uuid.uuid4().hex
    private_jwk = {**RSAAlgorithm.to_jwk(private, as_dict=True), "alg": "RS384", "kid": kid}
    public_jwk = {**RSAAlgorithm.to_jwk(private.public_key(), as_dict=True), "alg": "RS384", "kid": kid}
    client_id = f"js-client-{kid[:8]}"
    live.register(
        "ehr",
        {
            "client_id": client_id,
            "client_name": "client-js",
            "redirect_uris": [REDIRECT],
            "launch_uri": "http://127.0.0.1:9999/launch",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [public_jwk]},
            "scope": "launch openid fhirUser patient/*.rs offline_access",
        },
    )
    launch_url = live.manage(
        "ehr", "smart_launch", "--client", client_id, "--user", "clinician", "--patient", "pat-20"
    ).strip()
    state_file = tmp_path / "client-js-state.json"
    options = {
        "clientId": client_id,
        "scope": "launch openid fhirUser patient/*.rs",
        "redirectUri": REDIRECT,
        "clientPrivateJwk": private_jwk,
        "pkceMode": "required",
    }
    authorize = _node("authorize", state_file, launch_url, json.dumps(options))
    assert "code_challenge_method=S256" in authorize["url"] and "launch=" in authorize["url"]
    query = Browser("clinician").visit(authorize["url"], REDIRECT)
    assert "code" in query, query
    callback = f"{REDIRECT}?" + "&".join(f"{k}={v}" for k, v in query.items())
    ready = _node("ready", state_file, callback)
    assert ready == {
        "patientId": "pat-20",
        "resourceType": "Patient",
        "scope": "launch openid fhirUser patient/*.rs",
        "fhirUser": ready["fhirUser"],
    }
    assert ready["fhirUser"].startswith("Practitioner/")


def _node(step, state_file, url, options="{}"):
    result = subprocess.run(
        ["node", str(JS_DIR / "smart_launch.mjs"), step, str(state_file), url, options],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])
