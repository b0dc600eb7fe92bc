"""Drive the sandbox from a script: start deployments, act as the browser and as the app.

Used by the cross-deployment tests and by the multi-server benchmark: real processes, real HTTP,
real keys. The browser signs in through Django's login form and answers pickers and consent
screens by their public form fields (``username``/``password``, ``patient``, ``grant_scope``,
``action=approve|deny``).
"""

import base64
import hashlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import uuid
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import jwt
import requests
from jwcrypto.jwk import JWK

from .clients import DEMO_CLIENT_IDS


ROOT = Path(__file__).resolve().parent.parent
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ENV_URL = {"ehr": "SANDBOX_EHR_URL", "imaging": "SANDBOX_IMAGING_URL", "app": "SANDBOX_APP_URL"}
DEFAULT_URL = {"ehr": "http://127.0.0.1:8000", "imaging": "http://127.0.0.1:8001", "app": "http://127.0.0.1:8002"}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Deployments:
    """Sandbox deployments in their own processes, databases and keys, on free ports."""

    def __init__(self, data_dir, roles=("ehr", "imaging"), extra_env=None, workers=1):
        self.data_dir = Path(data_dir)
        self.roles = roles
        self.workers = workers  # worker processes per deployment (sandbox --workers)
        self.urls = {role: f"http://127.0.0.1:{free_port()}" for role in ("ehr", "imaging", "app")}
        self.env = {
            k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")
        }
        self.env.update({ENV_URL[r]: u for r, u in self.urls.items()})
        self.env.update({"SANDBOX_DATA_DIR": str(self.data_dir), "SANDBOX_DEBUG": "1"})
        self.env.update(extra_env or {})
        self.processes = {}
        self.logs = {}

    def start(self, timeout=120):
        for role in self.roles:
            port = urlsplit(self.urls[role]).port
            argv = [sys.executable, str(ROOT / "manage.py"), "sandbox", "--only", role, "--port", str(port)]
            argv += ["--workers", str(self.workers)]
            env = dict(self.env, DJANGO_SETTINGS_MODULE=f"sandbox_project.settings.{role}")
            self.processes[role] = subprocess.Popen(
                argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            self.logs[role] = []
        ready = {role: threading.Event() for role in self.roles}
        for role in self.roles:
            threading.Thread(target=self._read, args=(role, ready[role]), daemon=True).start()
        deadline = time.time() + timeout
        for role in self.roles:
            if not ready[role].wait(max(0.1, deadline - time.time())):
                self.stop()
                log = self.logs[role]
                shown = log if len(log) <= 60 else [*log[:20], "[…]", *log[-40:]]
                raise RuntimeError(f"{role} did not start within {timeout} s:\n" + "\n".join(shown))
        return self

    def _read(self, role, ready):
        for line in self.processes[role].stdout:
            self.logs[role].append(line.rstrip())
            if line.startswith(f"READY {self.urls[role]} {role}"):
                ready.set()

    def stop(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()

    def fhir(self, role):
        return f"{self.urls[role]}/fhir"

    def manage(self, role, *args, stdin=None):
        """Run a management command against ``role``'s database; returns its stdout."""
        env = dict(self.env, DJANGO_SETTINGS_MODULE=f"sandbox_project.settings.{role}")
        result = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            env=env,
            cwd=ROOT,
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout

    def register(self, role, metadata):
        """``manage.py smart_client register`` on ``role``: the registered client as a dict."""
        return json.loads(self.manage(role, "smart_client", "register", stdin=json.dumps(metadata)))


class CountingSession(requests.Session):
    """A requests session that counts HTTP round trips."""

    def __init__(self, counter):
        super().__init__()
        self.counter = counter

    def request(self, *args, **kwargs):
        self.counter["round_trips"] += 1
        kwargs.setdefault("timeout", 30)
        return super().request(*args, **kwargs)


class Browser:
    """A user agent: follows redirects until the app's redirect URI, signing in and consenting."""

    def __init__(self, username, password=None, counter=None):
        self.username = username
        self.password = password or username
        self.counter = counter if counter is not None else {"round_trips": 0}
        self.http = CountingSession(self.counter)
        self.consent_pages = []
        self.studies = None  # imaging studies to keep ticked on a consent screen (None: as shown)

    def login(self, base_url):
        page = self.http.get(f"{base_url}/accounts/login/")
        return self._submit_login(page)

    def _submit_login(self, page):
        form = {
            "username": self.username,
            "password": self.password,
            "next": _field(page.text, "next") or "",
            "csrfmiddlewaretoken": _field(page.text, "csrfmiddlewaretoken"),
        }
        return self.http.post(page.url, data=form, headers={"Referer": page.url}, allow_redirects=False)

    def visit(self, url, stop_at, patient=None, grant_scopes=None, action="approve", max_steps=20):
        """Follow ``url`` until a redirect to ``stop_at``; return that redirect's query dict."""
        response = self.http.get(url, allow_redirects=False)
        for _ in range(max_steps):
            if response.status_code in (301, 302, 303):
                location = urljoin(response.url, response.headers["Location"])
                if location.startswith(stop_at):
                    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
                response = self.http.get(location, allow_redirects=False)
                continue
            if response.status_code != 200:
                raise RuntimeError(f"{response.url} answered {response.status_code}: {response.text[:300]}")
            html = response.text
            if 'name="password"' in html:
                response = self._submit_login(response)
            elif 'name="patient"' in html:
                choice = patient or re.search(r'name="patient" value="([^"]+)"', html).group(1)
                response = self._post_form(response, {"pending": _field(html, "pending"), "patient": choice})
            elif 'name="action"' in html:
                self.consent_pages.append(html)
                scopes = grant_scopes if grant_scopes is not None else _checked(html, "grant_scope")
                data = {"pending": _field(html, "pending"), "action": action, "grant_scope": scopes}
                studies = _checked(html, "study")
                if studies:
                    data["study"] = studies if self.studies is None else self.studies
                response = self._post_form(response, data)
            else:
                raise RuntimeError(f"Unexpected page at {response.url}: {html[:300]}")
        raise RuntimeError("Too many steps")

    def ehr_launch(self, ehr_url, client_id, patient, stop_at):
        """Press "Launch app" on the EHR's patient list; return the launch URL's query."""
        page = self.http.get(f"{ehr_url}/")
        if 'name="password"' in page.text:
            self._submit_login(page)
            page = self.http.get(f"{ehr_url}/")
        data = {"client_id": client_id, "patient": patient}
        response = self._post_form_to(page, f"{ehr_url}/ehr-launch", data)
        location = response.headers["Location"]
        assert location.startswith(stop_at), location
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    def _post_form_to(self, page, url, data):
        data["csrfmiddlewaretoken"] = _field(page.text, "csrfmiddlewaretoken")
        return self.http.post(url, data=data, headers={"Referer": page.url}, allow_redirects=False)

    def _post_form(self, page, data):
        data["csrfmiddlewaretoken"] = _field(page.text, "csrfmiddlewaretoken")
        action = re.search(r'<form method="post" action="([^"]*)"', page.text)
        target = urljoin(page.url, unescape(action.group(1))) if action and action.group(1) else page.url
        return self.http.post(target, data=data, headers={"Referer": page.url}, allow_redirects=False)


def _field(html, name):
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    return unescape(match.group(1)) if match else None


def _checked(html, name):
    """Values of the ticked checkboxes called ``name``."""
    values = []
    for tag in re.findall(rf'<input[^>]*name="{name}"[^>]*>', html):
        value = re.search(r'value="([^"]*)"', tag)
        if value and re.search(r"\schecked[\s>/]", tag + ">"):
            values.append(unescape(value.group(1)))
    return values


class App:
    """The SMART app's back end: discovery, PKCE/state/nonce per hop, private_key_jwt.

    The app has a different ``client_id`` at each deployment (one ``software_id``), as when two
    vendors register it: ``urls`` (role -> base URL, e.g. ``Deployments.urls``) tells which
    deployment an endpoint belongs to. ``client_id`` names one registration used everywhere.
    """

    def __init__(self, data_dir, redirect_base, client_id=None, counter=None, urls=None, client_ids=None):
        pem = (Path(data_dir) / "app" / "client-key.pem").read_text()
        self.key = pem
        self.kid = JWK.from_pem(pem.encode()).thumbprint()
        self.client_ids = dict(client_ids or DEMO_CLIENT_IDS)
        if client_id:
            self.client_ids = dict.fromkeys(self.client_ids, client_id)
        self.urls = dict(urls or {role: os.environ.get(ENV_URL[role], DEFAULT_URL[role]) for role in ENV_URL})
        self.client_id = self.client_ids["ehr"]
        self.redirect_base = redirect_base
        self.counter = counter if counter is not None else {"round_trips": 0}
        self.http = CountingSession(self.counter)
        self.hops = {}

    def client_for(self, url):
        """Our ``client_id`` at the deployment serving ``url``."""
        for role, base in self.urls.items():
            if role in self.client_ids and url.startswith(base.rstrip("/") + "/"):
                return self.client_ids[role]
        return self.client_id

    def discover(self, fhir_base):
        return self.http.get(f"{fhir_base}/.well-known/smart-configuration").json()

    def authorize_url(self, fhir_base, scope, role, resources=None, **extra):
        config = self.discover(fhir_base)
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        redirect_uri = f"{self.redirect_base}/callback/{role}"
        self.hops[state] = {
            "verifier": verifier,
            "nonce": nonce,
            "config": config,
            "redirect_uri": redirect_uri,
        }
        params = [
            ("response_type", "code"),
            ("client_id", self.client_for(fhir_base)),
            ("redirect_uri", redirect_uri),
            ("scope", scope),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ]
        params += [("resource", r) for r in resources] if resources else [("aud", fhir_base)]
        params += [(k, v) for k, v in extra.items() if v is not None]
        return f"{config['authorization_endpoint']}?{urlencode(params)}", state

    def finish(self, query, **extra):
        """Check the authorization response (state, RFC 9207 iss) and redeem its code."""
        hop = self.hops.pop(query.get("state"), None)
        if hop is None:
            raise ValueError("unknown state")
        if query.get("iss") != hop["config"]["issuer"]:
            raise ValueError(f"mix-up: iss {query.get('iss')} is not {hop['config']['issuer']}")
        if "error" in query:
            return {"error": query["error"], "error_description": query.get("error_description")}
        data = {
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": hop["redirect_uri"],
            "code_verifier": hop["verifier"],
            **self.assertion(hop["config"]["token_endpoint"]),
            **extra,
        }
        response = self.http.post(hop["config"]["token_endpoint"], data=data)
        body = response.json()
        if response.status_code == 200 and "id_token" in body:
            claims = jwt.decode(body["id_token"], options={"verify_signature": False})
            if claims.get("nonce") != hop["nonce"]:
                raise ValueError("nonce mismatch")
        return body

    def assertion(self, token_endpoint):
        now = int(time.time())
        client_id = self.client_for(token_endpoint)
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": token_endpoint,
            "exp": now + 240,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(claims, self.key, algorithm="RS384", headers={"kid": self.kid, "typ": "JWT"})
        return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": token}

    def token_request(self, token_endpoint, **data):
        response = self.http.post(token_endpoint, data={**data, **self.assertion(token_endpoint)})
        return response.status_code, response.json()

    def read(self, url, token):
        return self.http.get(
            url, headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
        )
