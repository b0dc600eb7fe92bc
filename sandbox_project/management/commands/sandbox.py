"""``python manage.py sandbox``: start the EHR, the imaging deployment and the demo app.

Each deployment is its own process (own settings module, database, keys and cookies). A
deployment started with ``--only ROLE`` migrates its database, loads its demo data, serves over
ASGI (uvicorn) and prints ``READY <base-url> <role>``. Without ``--only`` this command starts the
three as child processes on ``--port``, ``--port``+1 and ``--port``+2, relays their output, and
stops them on Ctrl-C.
"""

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError


ROLES = ("ehr", "imaging", "app")
ENV_URL = {"ehr": "SANDBOX_EHR_URL", "imaging": "SANDBOX_IMAGING_URL", "app": "SANDBOX_APP_URL"}
MANAGE_PY = Path(__file__).resolve().parents[3] / "manage.py"


class Command(BaseCommand):
    help = "Start the sandbox (EHR, imaging server, demo app), or one deployment with --only."

    def add_arguments(self, parser):
        parser.add_argument("--only", choices=ROLES, help="start one deployment")
        parser.add_argument("--port", type=int, default=8000, help="port of the first deployment")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--workers", type=int, default=1, help="worker processes (with --only)")

    def handle(self, *args, only=None, port=8000, host="127.0.0.1", workers=1, **options):
        started = float(os.environ.get("SANDBOX_T0") or time.time())
        if only:
            return self.run_one(only, host, port, workers, started)
        return self.run_all(host, port, started)

    # --- one deployment ------------------------------------------------------------------------
    def run_one(self, role, host, port, workers, started):
        base_url = f"http://{host}:{port}"
        if os.environ.get("SANDBOX_CHILD") != "1":
            env = dict(os.environ)
            env.update(
                {
                    "DJANGO_SETTINGS_MODULE": f"sandbox_project.settings.{role}",
                    ENV_URL[role]: base_url,
                    "SANDBOX_CHILD": "1",
                    "SANDBOX_T0": str(started),
                }
            )
            os.execve(sys.executable, _argv(role, host, port, workers), env)
        from django.conf import settings

        if settings.ROLE != role:
            raise CommandError(f"settings module is for {settings.ROLE!r}, not {role!r}")
        _refuse_a_busy_port(host, port)
        _ensure_database(settings.DATABASES["default"])
        # Each step is reported before serving: a start that hangs shows how far it got.
        step = time.time()
        call_command("migrate", interactive=False, verbosity=0)
        print(f"database migrated in {time.time() - step:.1f} s", flush=True)
        if role != "app":  # the demo app has no authorization server to seed
            from sandbox_project.seed import seed

            step = time.time()
            seed(role)
            print(f"demo data loaded in {time.time() - step:.1f} s", flush=True)
        self._serve(role, host, port, workers, base_url, started)

    def _serve(self, role, host, port, workers, base_url, started):
        import uvicorn

        def announce():
            if _wait_until_serving(f"{base_url}/accounts/login/", timeout=60):
                print(f"READY {base_url} {role}", flush=True)
                print(f"first page served {time.time() - started:.1f} s after the command", flush=True)

        threading.Thread(target=announce, daemon=True).start()
        _one_thread_per_sqlite_worker(workers)
        uvicorn.run(
            "sandbox_project.asgi:application",
            host=host,
            port=port,
            workers=workers if workers > 1 else None,
            log_level="warning",
            lifespan="off",
            **_fast_server_options(),
        )

    # --- every deployment ----------------------------------------------------------------------
    def run_all(self, host, port, started):
        urls = {role: f"http://{host}:{port + i}" for i, role in enumerate(ROLES)}
        env = dict(os.environ)
        env.update({ENV_URL[role]: url for role, url in urls.items()})
        env["SANDBOX_T0"] = str(started)
        env.pop("SANDBOX_CHILD", None)
        children = {}
        ready = set()
        lock = threading.Lock()
        all_ready = threading.Event()

        def relay(role, stream):
            for line in stream:
                line = line.rstrip("\n")
                with lock:
                    if line.startswith("READY "):
                        print(line, flush=True)
                        ready.add(role)
                        if len(ready) == len(ROLES):
                            all_ready.set()
                    elif line:
                        print(f"[{role}] {line}", flush=True)

        for i, role in enumerate(ROLES):
            argv = _argv(role, host, port + i)
            child_env = dict(env, DJANGO_SETTINGS_MODULE=f"sandbox_project.settings.{role}")
            children[role] = subprocess.Popen(
                argv, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
            )
            threading.Thread(target=relay, args=(role, children[role].stdout), daemon=True).start()

        stopping = threading.Event()

        def stop(*_args):
            stopping.set()

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping.is_set():
                if all_ready.wait(0.2) and not getattr(self, "_announced", False):
                    self._announced = True
                    self._banner(urls, started)
                dead = [role for role, child in children.items() if child.poll() is not None]
                if dead:
                    print(
                        f"sandbox: {', '.join(dead)} stopped; stopping the others",
                        file=sys.stderr,
                        flush=True,
                    )
                    break
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.send_signal(signal.SIGINT)
            deadline = time.time() + 10
            for child in children.values():
                try:
                    child.wait(max(0.1, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    child.kill()
        print("sandbox stopped", flush=True)

    def _banner(self, urls, started):
        print(
            f"""
The sandbox is up ({time.time() - started:.1f} s):
  EHR      {urls["ehr"]}/        FHIR {urls["ehr"]}/fhir   OAuth {urls["ehr"]}/o/   admin {urls["ehr"]}/admin/
  Imaging  {urls["imaging"]}/    FHIR {urls["imaging"]}/fhir
  Demo app {urls["app"]}/
Demo users (both deployments): clinician/clinician, patient/patient, admin/admin.
Start at the demo app and pick a flow; each step of the protocol is shown in its trace.
Ctrl-C stops everything.
""",
            flush=True,
        )


def _argv(role, host, port, workers=1):
    return [
        sys.executable,
        str(MANAGE_PY),
        "sandbox",
        "--only",
        role,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def _fast_server_options():
    """uvloop and httptools (the ``server`` extra) when importable: about 1.5x the requests per
    second of uvicorn's asyncio + h11 defaults on the sandbox's endpoints (README, "Serving")."""
    import importlib.util

    options = {}
    if importlib.util.find_spec("uvloop") is not None:
        options["loop"] = "uvloop"
    if importlib.util.find_spec("httptools") is not None:
        options["http"] = "httptools"
    return options


def _wait_until_serving(url, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status < 500
        except urllib.error.HTTPError as exc:
            return exc.code < 500
        except OSError:
            time.sleep(0.1)
    return False


def _refuse_a_busy_port(host, port):
    """Stop before anything else when the port is taken: otherwise the READY line would announce
    whatever server already answers there, and uvicorn would then fail to bind."""
    import socket

    try:  # any address family (--host ::), gives up after 2 s
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return  # nothing answers there: free
    raise CommandError(f"{host}:{port} is already in use; choose another --port")


def _ensure_database(config):
    """Create the PostgreSQL database of this deployment when it does not exist yet."""
    if "postgresql" not in config["ENGINE"]:
        return
    import psycopg

    params = {
        k: v
        for k, v in {
            "host": config.get("HOST") or None,
            "port": config.get("PORT") or None,
            "user": config.get("USER") or None,
            "password": config.get("PASSWORD") or None,
        }.items()
        if v
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{config["NAME"]}"')


def _one_thread_per_sqlite_worker(workers):
    """Several worker processes on SQLite: one bridge thread each (``SANDBOX_WSGI_THREADS``, unless
    set). A SQLite request never waits on the network, so a second thread only contends for the
    GIL and the writer lock: with 2 workers x 1 thread instead of 2 x 2, client_credentials and
    refresh went about 15 % faster, the code exchange the same (benchmarks/README.md,
    2026-12-04). A call back into a busy worker still gets a spare thread; one process alone
    keeps two threads, so that it answers one at once."""
    from django.db import connection

    if workers > 1 and connection.vendor == "sqlite":
        os.environ.setdefault("SANDBOX_WSGI_THREADS", "1")
