"""What a vendor does with the README alone (issue 14), as real processes.

Build the wheel, install it with the README's extras into a fresh virtual environment,
``django-admin startproject myproject``, apply the README's blocks (read from README.md), run
its commands (signing key, check, migrate, createsuperuser, smart_user), serve it with the README's uvicorn
command, then: a backend-services token whose assertion ``aud`` is the discovered token endpoint,
a FHIR create and read, an authorization-code + PKCE flow through the login page and the patient
picker, and a FHIRcast subscribe / publish / receive over a real WebSocket.

Slow (about a minute with a warm pip cache): pip fetches the dependencies from PyPI.
"""

import asyncio
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import websockets

from tests.conftest import ClientKey, pkce_pair
from tests.fhircast_hub.live import free_port, reachable

from .readme import ROOT, install_section


REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/4")
_redis = urlsplit(REDIS_URL)
pytestmark = [
    pytest.mark.live,
    pytest.mark.vendor,
    pytest.mark.skipif(
        not reachable(_redis.hostname or "127.0.0.1", _redis.port or 6379),
        reason=f"the README's CHANNEL_LAYERS needs Redis, not reachable at {REDIS_URL}",
    ),
]
SHIPPED = [
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "smart_auth",
    "smart_fhir",
    "imaging_consent",
    "fhircast_hub",
]
PASSWORD = "vendor-" + uuid.uuid4().hex[:12]


class VendorProject:
    """A fresh virtual environment and ``startproject`` output under ``tmp``."""

    def __init__(self, tmp: Path, port: int):
        self.tmp = tmp
        self.venv = tmp / "venv"
        self.dir = tmp / "myproject"
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "PYTHONPATH", "VIRTUAL_ENV")
        }
        self.env.update(
            PATH=f"{self.venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
            SMART_PUBLIC_URL=self.url,
            REDIS_URL=REDIS_URL,
            DJANGO_SUPERUSER_USERNAME="admin",  # the README's smart_user line names "admin"
            DJANGO_SUPERUSER_PASSWORD=PASSWORD,
            DJANGO_SUPERUSER_EMAIL="vendor@example.org",
        )

    def run(self, argv, stdin=None, cwd=None, timeout=600):
        done = subprocess.run(
            argv,
            input=stdin,
            cwd=cwd or self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"{argv} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done

    def python(self, *args, **kwargs):
        return self.run([str(self.venv / "bin" / "python"), *args], **kwargs)

    def readme_command(self, command):
        """A README command as the vendor types it (``python`` / ``uvicorn`` of the venv)."""
        argv = list(command.argv)
        if argv[0] in ("python", "uvicorn"):
            argv[0] = str(self.venv / "bin" / argv[0])
        return argv


def build_wheel(tmp: Path) -> Path:
    source = tmp / "source"
    source.mkdir()
    for name in SHIPPED:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "dist"), str(source)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = (tmp / "dist").glob("*.whl")
    return wheel


@pytest.fixture(scope="module")
def vendor(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vendor")
    readme = install_section()
    project = VendorProject(tmp, free_port())

    wheel = build_wheel(tmp)
    requirement = readme.pip_requirement  # django-smart-multiserver[redis,server]
    extras = requirement[requirement.index("[") :]
    subprocess.run([sys.executable, "-m", "venv", str(project.venv)], check=True, timeout=300)
    project.python("-m", "pip", "install", "-q", f"{wheel}{extras}", cwd=tmp)
    project.run([str(project.venv / "bin" / "django-admin"), "startproject", "myproject"], cwd=tmp)

    for path, mode, text in readme.files:
        target = project.dir / path
        if mode == "append":
            target.write_text(target.read_text() + "\n\n" + text)
        else:
            target.write_text(text)

    project.run(project.readme_command(readme.command("python", "manage.py", "smart_signing_key")))
    check = project.run(project.readme_command(readme.command("python", "manage.py", "check")))
    project.check_output = check.stdout + check.stderr
    project.run(project.readme_command(readme.command("python", "manage.py", "migrate")))
    project.run(
        [*project.readme_command(readme.command("python", "manage.py", "createsuperuser")), "--noinput"]
    )
    project.run(project.readme_command(readme.command("python", "manage.py", "smart_user")))

    serve = project.readme_command(readme.command("uvicorn"))
    serve[serve.index("--port") + 1] = str(project.port)
    log = open(tmp / "uvicorn.log", "w")  # noqa: SIM115 (closed at teardown)
    server = subprocess.Popen(serve, cwd=project.dir, env=project.env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_serving(project.url, server, tmp / "uvicorn.log")
        project.readme = readme
        yield project
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _wait_until_serving(url, server, log_path):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"uvicorn exited:\n{log_path.read_text()[-3000:]}")
        try:
            httpx.get(f"{url}/fhir/metadata", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.3)
    raise AssertionError(f"uvicorn did not serve within 60 s:\n{log_path.read_text()[-3000:]}")


def register(vendor, metadata):
    done = vendor.python("manage.py", "smart_client", "register", stdin=json.dumps(metadata))
    return json.loads(done.stdout)


def form_fields(page):
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)
    return {name: html.unescape(value) for name, value in fields}


def test_check_is_clean(vendor):
    """The README's settings give no system-check warning (W002 included)."""
    assert "System check identified no issues" in vendor.check_output, vendor.check_output


def test_the_vendors_flows(vendor):
    http = httpx.Client(base_url=vendor.url, timeout=20)
    discovery = http.get("/fhir/.well-known/smart-configuration").json()
    assert discovery["issuer"] == f"{vendor.url}/o"
    token_endpoint = discovery["token_endpoint"]
    assert token_endpoint == f"{vendor.url}/o/token/"

    # Backend services: the assertion's aud is the discovered token endpoint.
    key = ClientKey("RS384")
    backend = register(
        vendor,
        {
            "client_name": "Vendor backend",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": key.jwks,
            "scope": "system/Patient.cruds",
        },
    )
    response = http.post(
        token_endpoint,
        data={
            "grant_type": "client_credentials",
            "scope": "system/Patient.cruds",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": key.assertion(backend["client_id"], aud=token_endpoint),
        },
    )
    assert response.status_code == 200, response.text
    system = {"Authorization": f"Bearer {response.json()['access_token']}"}

    # A FHIR create and read.
    created = http.post(
        "/fhir/Patient",
        json={
            "resourceType": "Patient",
            "name": [{"family": "Vendorson", "given": ["Vera"]}],
            "birthDate": "1971-02-03",
        },
        headers={**system, "Content-Type": "application/fhir+json"},
    )
    assert created.status_code == 201, created.text
    patient_id = created.json()["id"]
    assert http.get(f"/fhir/Patient/{patient_id}", headers=system).json()["name"][0]["family"] == "Vendorson"

    # Authorization code + PKCE through the login page, the patient picker and the consent screen,
    # with the README's client registration.
    app = register(vendor, json.loads(vendor.readme.command("python", "manage.py", "smart_client").stdin))
    verifier, challenge = pkce_pair()
    redirect_uri = app["redirect_uris"][0]
    browser = httpx.Client(base_url=vendor.url, timeout=20)
    authorize = (
        discovery["authorization_endpoint"]
        + "?"
        + urlencode(
            {
                "response_type": "code",
                "client_id": app["client_id"],
                "redirect_uri": redirect_uri,
                "scope": app["scope"],
                "state": "st4te",
                "aud": f"{vendor.url}/fhir",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
    )
    to_login = browser.get(authorize)
    assert to_login.status_code == 302 and "/accounts/login/" in to_login.headers["location"]
    login_page = browser.get(to_login.headers["location"])
    assert login_page.status_code == 200 and 'name="password"' in login_page.text
    fields = form_fields(login_page.text)
    signed_in = browser.post(
        to_login.headers["location"],
        data={**fields, "username": "admin", "password": PASSWORD},
    )
    assert signed_in.status_code == 302, signed_in.text[:500]
    picker = browser.get(signed_in.headers["location"])
    assert 'name="patient"' in picker.text, picker.text[picker.text.index("<main"):][:1500]
    pending = form_fields(picker.text)
    found = browser.post("/o/authorize/", data={**pending, "name": "vendorson"})
    assert f'value="{patient_id}"' in found.text
    consent = browser.post("/o/authorize/", data={**form_fields(found.text), "patient": patient_id})
    scopes = re.findall(r'name="grant_scope" value="([^"]+)" checked', consent.text)
    assert "patient/*.rs" in scopes, consent.text[:1000]
    approved = browser.post(
        "/o/authorize/", data={**form_fields(consent.text), "action": "approve", "grant_scope": scopes}
    )
    assert approved.status_code == 302 and approved.headers["location"].startswith(redirect_uri)
    query = parse_qs(urlsplit(approved.headers["location"]).query)
    assert query["state"] == ["st4te"] and query["iss"] == [f"{vendor.url}/o"]
    token = http.post(
        token_endpoint,
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": redirect_uri,
            "client_id": app["client_id"],
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["patient"] == patient_id
    user = {"Authorization": f"Bearer {body['access_token']}"}
    read = http.get(f"/fhir/Patient/{patient_id}", headers=user)
    assert read.status_code == 200 and read.json()["birthDate"] == "1971-02-03"

    # FHIRcast: subscribe, publish, receive over the WebSocket uvicorn serves.
    assert body["hub.url"] == f"{vendor.url}/hub"
    asyncio.run(_fhircast_round_trip(body["hub.url"], body["hub.topic"], user, patient_id))


async def _fhircast_round_trip(hub_url, topic, headers, patient_id):
    async with httpx.AsyncClient(timeout=20, headers=headers) as http:
        subscribed = await http.post(
            hub_url,
            data={
                "hub.mode": "subscribe",
                "hub.channel.type": "websocket",
                "hub.topic": topic,
                "hub.events": "Patient-open",
            },
        )
        assert subscribed.status_code == 202, subscribed.text
        endpoint = subscribed.json()["hub.channel.endpoint"]
        async with websockets.connect(endpoint, open_timeout=20) as socket:
            confirmation = json.loads(await asyncio.wait_for(socket.recv(), 20))
            assert confirmation["hub.mode"] == "subscribe"
            event_id = uuid.uuid4().hex
            published = await http.post(
                hub_url,
                json={
                    "timestamp": datetime.now(UTC).isoformat(),
                    "id": event_id,
                    "event": {
                        "hub.topic": topic,
                        "hub.event": "Patient-open",
                        "context": [
                            {"key": "patient", "resource": {"resourceType": "Patient", "id": patient_id}}
                        ],
                    },
                },
            )
            assert published.status_code == 202, published.text
            received = json.loads(await asyncio.wait_for(socket.recv(), 20))
            assert received["id"] == event_id
            assert received["event"]["context"][0]["resource"]["id"] == patient_id
            await socket.send(json.dumps({"id": event_id, "status": "200"}))
