"""The sandbox's serving layer as deployed (``manage.py sandbox --only ehr``: uvicorn, the WSGI
bridge of fhircast_hub.wsgi_bridge, Channels for WebSockets on the same port)."""

import asyncio
import hashlib
import json
import os
import socket
import subprocess
import sys

import pytest
import requests
import websockets
from django.contrib.staticfiles import finders

from sandbox_project.scripted import ROOT, Browser


pytestmark = pytest.mark.live
BRIDGE_LIMIT = 10 * 1024 * 1024  # fhircast_hub.asgi.max_body_bytes() with the default settings


def test_a_large_static_file_is_served_complete(live):
    name = "admin/js/vendor/xregexp/xregexp.js"  # ~320 KB, more than one of the bridge's file blocks
    expected = open(finders.find(name), "rb").read()
    response = requests.get(f"{live.urls['ehr']}/static/{name}", timeout=30, stream=True)
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(expected))
    body = b"".join(response.iter_content(65536))
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(expected).hexdigest()


def test_the_token_endpoint_reads_the_form_body(live, app):
    token_endpoint = f"{live.urls['ehr']}/o/token/"
    status, body = app.token_request(
        token_endpoint, grant_type="authorization_code", code="no-such-code", redirect_uri="https://x/cb"
    )
    # A lost body would be unsupported_grant_type / invalid_request / invalid_client.
    assert (status, body["error"]) == (400, "invalid_grant")


def test_query_string_and_non_ascii_path(live):
    response = requests.get(f"{live.fhir('ehr')}/.well-known/smart-configuration?x=%C3%A9&y=1", timeout=30)
    assert response.status_code == 200
    assert response.json()["issuer"]
    response = requests.get(f"{live.urls['ehr']}/fhir/Patient/%C3%A9%E6%82%A3", timeout=30)
    assert response.status_code == 404  # not a FHIR id; smart_fhir names the path it was given
    assert "/fhir/Patient/é患 " in response.json()["issue"][0]["diagnostics"]


def test_a_body_over_the_bridge_limit_gets_413(live):
    response = requests.post(
        f"{live.urls['ehr']}/o/token/",
        data=b"a" * (BRIDGE_LIMIT + 1),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=60,
    )
    assert response.status_code == 413
    assert response.headers["Content-Type"].startswith("text/plain")


def test_smart_fhir_keeps_its_own_413_under_the_bridge_limit(live, app):
    url, _ = app.authorize_url(live.fhir("ehr"), "launch/patient patient/*.cruds", "ehr")
    token = app.finish(Browser("patient").visit(url, f"{live.urls['app']}/callback/ehr"))["access_token"]
    resource = {"resourceType": "Observation", "status": "final", "note": [{"text": "x" * 6_000_000}]}
    response = requests.post(
        f"{live.fhir('ehr')}/Observation",
        data=json.dumps(resource),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"},
        timeout=60,
    )
    assert response.status_code == 413
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "too-long"


def test_a_websocket_to_the_hub_on_the_same_port(live):
    ws_url = live.urls["ehr"].replace("http://", "ws://") + "/hub/ws/no-such-endpoint"

    async def talk():
        async with websockets.connect(ws_url, open_timeout=20) as ws:
            return json.loads(await asyncio.wait_for(ws.recv(), 20))

    message = asyncio.run(talk())
    assert message["hub.mode"] == "denied"


@pytest.mark.parametrize("host,family", [("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)])
def test_a_busy_port_is_refused_before_any_ready_line(tmp_path, host, family):
    # READY <url> <role> is the sandbox's scripted contract (DESIGN.md section 6): it must never
    # announce a server that is not this deployment's.
    with socket.socket(family) as taken:
        taken.bind((host, 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
        env["SANDBOX_DATA_DIR"] = str(tmp_path)
        argv = [sys.executable, str(ROOT / "manage.py"), "sandbox", "--only", "app"]
        done = subprocess.run(
            [*argv, "--host", host, "--port", str(port)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode != 0
    assert "READY" not in done.stdout
    assert f"{host}:{port} is already in use" in done.stderr
