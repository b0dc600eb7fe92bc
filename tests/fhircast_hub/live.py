"""Run the hub as real ASGI server processes (uvicorn) sharing one database and one Redis.

Used by test_live.py and benchmarks/fhircast_hub.py. ``python -m tests.fhircast_hub.live seed N``
(run with the live settings) creates a user, an access token with FHIRcast scopes and N topics,
and prints them as JSON.
"""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx


ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
SETTINGS = "tests.fhircast_hub.live_settings"
LIVE_AUDIENCE = "http://testserver/fhir"  # FHIRCAST_HUB["AUDIENCES"] in live_settings


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reachable(host, port):
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


class LiveHub:
    """Worker processes of one hub deployment on 127.0.0.1."""

    def __init__(
        self, workdir, redis_url, database_url=None, app="sandbox_project.asgi:application", extra_env=None
    ):
        self.workdir = Path(workdir)
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "FHIRCAST_LIVE_DB": str(self.workdir / "hub.sqlite3"),
            "FHIRCAST_LIVE_REDIS": redis_url,
            "FHIRCAST_LIVE_PREFIX": f"fhircast-live-{secrets.token_hex(4)}",
            "PYTHONPATH": str(ROOT),
            **(extra_env or {}),
        }
        self.env.pop("DATABASE_URL", None)
        if database_url:
            self.env["FHIRCAST_LIVE_DATABASE_URL"] = database_url
        self.app = app
        self.workers = {}

    def manage(self, *args):
        return subprocess.run(
            [PYTHON, "-m", "django", *args],
            env=self.env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout

    def seed(self, topics=1):
        self.manage("migrate", "-v", "0")
        out = subprocess.run(
            [PYTHON, "-m", "tests.fhircast_hub.live", "seed", str(topics)],
            env=self.env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
        return json.loads(out.strip().splitlines()[-1])

    def start(self, name, port=None, app_dir=None):
        port = port or free_port()
        command = [
            PYTHON,
            "-m",
            "uvicorn",
            self.app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--ws",
            "websockets-sansio",
        ]
        if app_dir:
            command += ["--app-dir", str(app_dir)]
        log = open(
            self.workdir / f"{name}.log", "ab"
        )  # a file, not a pipe: a full pipe would stall the worker
        process = subprocess.Popen(command, env=self.env, cwd=ROOT, stdout=log, stderr=log)
        log.close()
        self.workers[name] = (process, port)
        self.wait_ready(port, process)
        return f"http://127.0.0.1:{port}"

    def wait_ready(self, port, process, seconds=30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"worker on port {port} exited; see its log in {self.workdir}")
            if reachable("127.0.0.1", port):
                return
            time.sleep(0.1)
        raise RuntimeError(f"worker on port {port} did not start")

    def kill(self, name):
        process, _ = self.workers.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def pid(self, name):
        return self.workers[name][0].pid

    def stop(self):
        for name in list(self.workers):
            process, _ = self.workers.pop(name)
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


class RedisServer:
    """A private, non-persistent redis-server for fault tests (it may be stopped and restarted)."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not reachable("127.0.0.1", self.port):
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def stop(self):
        if self.process:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


def hub_client(base, token):
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def _seed(count):
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model, get_application_model

    from fhircast_hub.models import Topic

    user, _ = get_user_model().objects.get_or_create(username="clinician")
    app = get_application_model().objects.create(
        name="live",
        client_type="public",
        authorization_grant_type="authorization-code",
        redirect_uris="https://app.example/cb",
    )
    token = secrets.token_urlsafe(32)
    get_access_token_model().objects.create(
        user=user,
        application=app,
        token=token,
        expires=timezone.now() + timedelta(hours=2),
        scope="openid fhircast/*.read fhircast/*.write",
        resource=[LIVE_AUDIENCE],  # the hub accepts only tokens for its deployment (RFC 9068 §4)
    )
    topics = [Topic.objects.create(user=user, workstation=f"ws-{i}").name for i in range(count)]
    print(json.dumps({"token": token, "topics": topics}))


if __name__ == "__main__" and sys.argv[1:2] == ["seed"]:
    _seed(int(sys.argv[2]))
