"""Authorization-server benchmark: our EHR sandbox (SQLite, PostgreSQL) next to the reference
SMART launcher, five operations, wrk at 16 connections; prints req/s, p50 and p99.

    python benchmarks/smart_auth_bench.py [--targets sqlite,postgres,launcher] [--duration 10]

See benchmarks/README.md. Everything listens on 127.0.0.1; every process this script starts is
stopped before it exits. The launcher baseline needs a checkout of smart-on-fhir/smart-launcher-v2
with its npm dependencies installed, named by --launcher-dir or SMART_LAUNCHER_DIR; without it the
baseline is skipped with a message.
"""

import argparse
import base64
import hashlib
import json
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from urllib.parse import urlencode


REPO = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "wrk" / "replay.lua"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
APP_ID = "sandbox-demo-app"
IMAGING_ID = "sandbox-imaging-server"
LAUNCHER_SECRET = "this is a secret"  # the launcher's default jwtSecret (backend/config.ts)
OPS = ("smart-configuration", "client_credentials", "authorization_code", "refresh_token", "introspect")
REFERENCE = {  # the figures for the launcher on a 2-core machine (req/s)
    "smart-configuration": 10000,
    "client_credentials": 2100,
    "authorization_code": 900,
    "refresh_token": 900,
    "introspect": 5900,
}


# --- signing (module level: used from worker processes) -----------------------------------------
_KEY = None


def _init_signer(pem):
    global _KEY
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    _KEY = load_pem_private_key(pem.encode(), password=None)


def _assertions(args):
    """``count`` private_key_jwt assertions (RS384, unique jti) for ``client_id`` at ``aud``."""
    import jwt

    client_id, kid, aud, count = args
    now = int(time.time())
    return [
        jwt.encode(
            {"iss": client_id, "sub": client_id, "aud": aud, "exp": now + 280, "jti": secrets.token_hex(16)},
            _KEY,
            algorithm="RS384",
            headers={"kid": kid, "typ": "JWT"},
        )
        for _ in range(count)
    ]


class Signer:
    def __init__(self, pem, processes=2):
        self.pem = pem
        self.pool = ProcessPoolExecutor(processes, initializer=_init_signer, initargs=(pem,))
        self.processes = processes
        _init_signer(pem)

    def assertions(self, client_id, kid, aud, count):
        if count < 500:
            return _assertions((client_id, kid, aud, count))
        chunk = math.ceil(count / self.processes)
        jobs = [(client_id, kid, aud, min(chunk, count - i)) for i in range(0, count, chunk)]
        return [a for part in self.pool.map(_assertions, jobs) for a in part]

    def close(self):
        self.pool.shutdown()


def kid_of(pem):
    from jwcrypto.jwk import JWK

    return JWK.from_pem(pem.encode()).thumbprint()


def public_jwks(pem, kid):
    from jwcrypto.jwk import JWK

    public = json.loads(JWK.from_pem(pem.encode()).export_public())
    public.update({"kid": kid, "alg": "RS384", "use": "sig"})
    return {"keys": [public]}


def pkce_challenge(verifier):
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- processes ----------------------------------------------------------------------------------
class Proc:
    """A child process in its own process group, stopped (group-wide) on close."""

    def __init__(self, argv, env, cwd, log_path):
        self.log = open(log_path, "w")  # noqa: SIM115 (closed in close())
        self.log_path = log_path
        self.p = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_for(self, marker, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if marker in Path(self.log_path).read_text(errors="replace"):
                return True
            if self.p.poll() is not None:
                break
            time.sleep(0.2)
        tail = Path(self.log_path).read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{marker!r} not seen (exit {self.p.poll()}); log tail:\n{tail}")

    def close(self):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGINT)
                self.p.wait(10)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.p.wait(5)
        self.log.close()


# --- wrk ----------------------------------------------------------------------------------------
def run_wrk(args, base_url, op, seconds, cpus=None):
    """Run wrk once for ``op`` (a dict: method, path, bodies, auth); return its JSON summary."""
    body_file = "-"
    if op.get("bodies"):
        fd, body_file = tempfile.mkstemp(prefix="wrk-", suffix=".txt", dir=args.workdir)
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(op["bodies"]) + "\n")
    argv = [
        args.wrk,
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        base_url,
        "--",
        op["method"],
        op["path"],
        body_file,
        op.get("auth") or "-",
        str(args.threads),
    ]
    if cpus and shutil.which("taskset"):
        argv = ["taskset", "-c", cpus, *argv]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if body_file != "-":
        os.unlink(body_file)
    for line in out.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            result = json.loads(line[len("WRK_JSON ") :])
            result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
            return result
    raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")


# --- targets ------------------------------------------------------------------------------------
class Ours:
    """The sandbox's EHR deployment (``sandbox --only ehr --workers N``), SQLite or PostgreSQL."""

    def __init__(self, args, target):
        self.args = args
        database = target
        self.name = f"ours {database}"
        self.database = database
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.token_url = f"{self.base}/o/token/"
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"bench-{database}-", dir=args.workdir))
        self.env = dict(os.environ)
        self.env.update(
            {
                "SANDBOX_DATA_DIR": str(self.data_dir),
                "SANDBOX_DEBUG": "0",
                "SANDBOX_EHR_URL": self.base,
                "DJANGO_SETTINGS_MODULE": "sandbox_project.settings.ehr",
            }
        )
        self.env.pop("DATABASE_URL", None)
        if database == "postgres":
            # The deployment's database is <name>_ehr (the sandbox adds the role).
            self.database_url = args.database_url.rstrip("/")
            self.env["DATABASE_URL"] = self.database_url
        self.proc = None
        self.cpus = None  # the server uses every core; wrk shares them

    def start(self):
        if self.database == "postgres":
            self._drop_database()
        argv = [sys.executable, str(REPO / "manage.py"), "sandbox", "--only", "ehr"]
        argv += ["--port", str(self.port), "--workers", str(self.args.workers)]
        self.proc = Proc(argv, self.env, REPO, self.data_dir / "server.log")
        self.proc.wait_for("READY ", 180)
        if self.args.server != "uvicorn":
            # The sandbox command has migrated and seeded the database; serve the same deployment
            # as a WSGI application under gunicorn instead.
            self.proc.close()
            kind = self.args.server.split("-", 1)[1]
            argv = [sys.executable, "-m", "gunicorn", "django.core.wsgi:get_wsgi_application()"]
            argv += ["-w", str(self.args.workers), "-b", f"127.0.0.1:{self.port}", "-k", kind]
            argv += ["--log-level", "warning", "--backlog", "256"]
            if kind == "gthread":
                argv += ["--threads", str(self.args.gunicorn_threads), "--keep-alive", "30"]
            self.proc = Proc(argv, self.env, REPO, self.data_dir / "gunicorn.log")
            _wait_http(f"{self.base}/fhir/.well-known/smart-configuration", self.proc, 60)
        self.app_pem = (self.data_dir / "app" / "client-key.pem").read_text()
        self.app_kid = kid_of(self.app_pem)
        self.signer = Signer(self.app_pem)

    def _drop_database(self):
        import psycopg

        name = self.database_url.rsplit("/", 1)[1] + "_ehr"
        dsn = self.database_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self):
        if getattr(self, "signer", None):
            self.signer.close()
        if self.proc:
            self.proc.close()

    # state
    def _prepare(self, codes=0, refresh=0):
        for attempt in range(6):
            if attempt:  # e.g. PostgreSQL refusing clients while the server holds every slot
                time.sleep(5)
            out = subprocess.run(
                [sys.executable, str(REPO / "benchmarks" / "prepare_state.py"), "--codes", str(codes)]
                + ["--refresh", str(refresh)],
                env=self.env,
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=600,
            )
            if out.returncode == 0 or "too many clients" not in out.stderr:
                break
        if out.returncode:
            raise RuntimeError(f"prepare_state.py failed: {out.stderr[-1500:]}")
        return json.loads(out.stdout)

    def _assert(self, count):
        return self.signer.assertions(APP_ID, self.app_kid, self.token_url, count)

    def op(self, name, count):
        """The wrk request description of ``name`` with ``count`` single-use bodies."""
        if name == "smart-configuration":
            return {"method": "GET", "path": "/fhir/.well-known/smart-configuration"}
        if name == "client_credentials":
            bodies = [
                urlencode(
                    {
                        "grant_type": "client_credentials",
                        "scope": "system/*.rs",
                        "client_assertion_type": ASSERTION_TYPE,
                        "client_assertion": a,
                    }
                )
                for a in self._assert(count)
            ]
            return {"method": "POST", "path": "/o/token/", "bodies": bodies}
        if name == "authorization_code":
            state = self._prepare(codes=count)
            bodies = [
                urlencode(
                    {
                        "grant_type": "authorization_code",
                        "code": code,
                        "code_verifier": verifier,
                        "redirect_uri": state["redirect_uri"],
                        "client_assertion_type": ASSERTION_TYPE,
                        "client_assertion": a,
                    }
                )
                for (code, verifier), a in zip(state["codes"], self._assert(count), strict=True)
            ]
            return {"method": "POST", "path": "/o/token/", "bodies": bodies}
        if name == "refresh_token":
            state = self._prepare(refresh=count)
            bodies = [
                urlencode(
                    {
                        "grant_type": "refresh_token",
                        "refresh_token": token,
                        "client_assertion_type": ASSERTION_TYPE,
                        "client_assertion": a,
                    }
                )
                for token, a in zip(state["refresh"], self._assert(count), strict=True)
            ]
            return {"method": "POST", "path": "/o/token/", "bodies": bodies}
        if name == "introspect":
            import httpx

            with httpx.Client(timeout=30) as client:
                self._new_introspector(client)
            return {
                "method": "POST",
                "path": "/o/introspect/",
                "bodies": [urlencode({"token": t}) for t in self.introspected],
                "auth": f"Bearer {self.introspector}",
                "single_use": False,  # introspection consumes nothing: the tokens cycle
            }
        raise ValueError(name)

    def _new_introspector(self, client):
        """A fresh ``introspection``-scoped token of the imaging backend client (backend tokens
        live 300 s, shorter than a whole run)."""
        pem = (self.data_dir / "imaging" / "client-key.pem").read_text()
        _init_signer(pem)
        assertion = _assertions((IMAGING_ID, kid_of(pem), self.token_url, 1))[0]
        for attempt in range(5):  # a 5xx here is the server's, measured later anyway: retry
            if attempt:
                time.sleep(1)
                assertion = _assertions((IMAGING_ID, kid_of(pem), self.token_url, 1))[0]
            r = client.post(
                self.token_url,
                data={
                    "grant_type": "client_credentials",
                    "scope": "introspection",
                    "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": assertion,
                },
            )
            if r.status_code < 500:
                break
        _init_signer(self.app_pem)
        if r.status_code != 200:
            raise RuntimeError(f"{self.name} introspection caller token: {r.status_code} {r.text[:300]}")
        self.introspector = r.json()["access_token"]

    def smoke(self, client):
        """One real request per operation (checks the flows end to end); readies introspection."""
        ok = client.get(f"{self.base}/fhir/.well-known/smart-configuration")
        ok.raise_for_status()
        for name in ("client_credentials", "authorization_code", "refresh_token"):
            body = self.op(name, 1)["bodies"][0]
            r = client.post(self.token_url, content=body, headers={"Content-Type": FORM})
            if r.status_code != 200:
                raise RuntimeError(f"{self.name} {name}: {r.status_code} {r.text[:300]}")
            if name == "authorization_code":
                missing = {"id_token", "refresh_token", "patient"} - set(r.json())
                if missing:
                    raise RuntimeError(f"{self.name} code exchange lacks {missing}")
        # Tokens to introspect: user tokens from real code exchanges (launch context, id_token
        # identity); the caller: a backend client holding an ``introspection``-scoped token.
        exchange = self.op("authorization_code", 8)
        self.introspected = []
        for body in exchange["bodies"]:
            r = client.post(self.token_url, content=body, headers={"Content-Type": FORM})
            r.raise_for_status()
            self.introspected.append(r.json()["access_token"])
        self._new_introspector(client)
        r = client.post(
            f"{self.base}/o/introspect/",
            data={"token": self.introspected[0]},
            headers={"Authorization": f"Bearer {self.introspector}"},
        )
        if r.status_code != 200 or not r.json().get("active") or "patient" not in r.json():
            raise RuntimeError(f"{self.name} introspection: {r.status_code} {r.text[:300]}")


class Launcher:
    """smart-on-fhir/smart-launcher-v2 (Express on Node, one process), pinned to one core."""

    def __init__(self, args, app_pem):
        self.args = args
        self.name = "launcher"
        self.dir = Path(args.launcher_dir)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.app_pem = app_pem
        self.app_kid = kid_of(app_pem)
        self.user = "Practitioner/smart-Practitioner-71482713"
        # Launch options ride in the URL (src/isomorphic/codec.ts): a backend-service client
        # registered with our demo app's public JWKS, and a confidential-asymmetric app.
        jwks = json.dumps(public_jwks(app_pem, self.app_kid))
        backend = [4, "", "", "", 0, 0, 0, "system/*.rs", "", APP_ID, "", "", "", jwks, 3, 1, ""]
        self.sim_backend = _b64url(json.dumps(backend))
        self.jwks = jwks
        self.cc_path = f"/v/R4/sim/{self.sim_backend}/auth/token"
        self.token_path = "/v/R4/auth/token"
        self.cpus = "1" if (os.cpu_count() or 1) > 1 else None  # wrk on the core the launcher leaves
        self.proc = None

    def start(self):
        env = dict(os.environ, PORT=str(self.port), HOST="127.0.0.1", NODE_ENV="production")
        argv = ["node", "-r", "ts-node/register/transpile-only", "backend/index.ts"]
        if shutil.which("taskset"):
            argv = ["taskset", "-c", "0", *argv]
        log = Path(tempfile.mkdtemp(prefix="bench-launcher-", dir=self.args.workdir)) / "launcher.log"
        self.proc = Proc(argv, env, self.dir, log)
        self.proc.wait_for("SMART launcher available", 120)
        self.signer = Signer(self.app_pem)

    def stop(self):
        if getattr(self, "signer", None):
            self.signer.close()
        if self.proc:
            self.proc.close()

    def _hs256(self, claims):
        import jwt

        return jwt.encode(claims, LAUNCHER_SECRET, algorithm="HS256")

    def op(self, name, count):
        if name == "smart-configuration":
            return {"method": "GET", "path": "/v/R4/fhir/.well-known/smart-configuration"}
        if name == "client_credentials":
            aud = self.base + self.cc_path
            bodies = [
                urlencode(
                    {
                        "grant_type": "client_credentials",
                        "scope": "system/*.rs",
                        "client_assertion_type": ASSERTION_TYPE,
                        "client_assertion": a,
                    }
                )
                for a in self.signer.assertions(APP_ID, self.app_kid, aud, count)
            ]
            return {"method": "POST", "path": self.cc_path, "bodies": bodies}
        if name == "authorization_code":
            # The launcher's codes are stateless HS256 JWTs (authorize.ts); each request still gets
            # its own code, PKCE verifier and client assertion, verified like ours.
            aud = self.base + self.token_path
            redirect = "http://127.0.0.1:8002/callback"
            bodies = []
            for a in self.signer.assertions(APP_ID, self.app_kid, aud, count):
                verifier = secrets.token_urlsafe(48)
                code = self._hs256(
                    {
                        "context": {"need_patient_banner": True, "patient": "demo-patient-1"},
                        "client_id": APP_ID,
                        "redirect_uri": redirect,
                        "scope": "openid fhirUser offline_access launch/patient patient/*.rs",
                        "user": self.user,
                        "nonce": secrets.token_urlsafe(8),
                        "code_challenge_method": "S256",
                        "code_challenge": pkce_challenge(verifier),
                        "client_type": "confidential-asymmetric",
                        "jwks": self.jwks,
                        "pkce": "auto",
                        "exp": int(time.time()) + 3600,
                    }
                )
                bodies.append(
                    urlencode(
                        {
                            "grant_type": "authorization_code",
                            "code": code,
                            "code_verifier": verifier,
                            "redirect_uri": redirect,
                            "client_assertion_type": ASSERTION_TYPE,
                            "client_assertion": a,
                        }
                    )
                )
            return {"method": "POST", "path": self.token_path, "bodies": bodies}
        if name == "refresh_token":
            # token.ts handleRefreshToken: the launcher authenticates no client on refresh.
            bodies = [
                urlencode(
                    {
                        "grant_type": "refresh_token",
                        "refresh_token": self._hs256(
                            {
                                "context": {"need_patient_banner": True, "patient": "demo-patient-1"},
                                "scope": "openid fhirUser offline_access launch/patient patient/*.rs",
                                "user": self.user,
                                "jti": secrets.token_hex(8),
                                "exp": int(time.time()) + 3600,
                            }
                        ),
                    }
                )
                for _ in range(count)
            ]
            return {"method": "POST", "path": self.token_path, "bodies": bodies}
        if name == "introspect":
            return {
                "method": "POST",
                "path": "/v/R4/auth/introspect",
                "bodies": [urlencode({"token": t}) for t in self.introspected],
                "auth": f"Bearer {self.introspector}",
                "single_use": False,  # introspection consumes nothing: the tokens cycle
            }
        raise ValueError(name)

    def smoke(self, client):
        client.get(f"{self.base}/v/R4/fhir/.well-known/smart-configuration").raise_for_status()
        self.introspected = []
        for name in ("client_credentials", "authorization_code", "refresh_token"):
            op = self.op(name, 1)
            r = client.post(self.base + op["path"], content=op["bodies"][0], headers={"Content-Type": FORM})
            if r.status_code != 200:
                raise RuntimeError(f"launcher {name}: {r.status_code} {r.text[:300]}")
            if name == "authorization_code":
                missing = {"id_token", "refresh_token", "patient"} - set(r.json())
                if missing:
                    raise RuntimeError(f"launcher code exchange lacks {missing}")
        for body in self.op("authorization_code", 8)["bodies"]:
            r = client.post(self.base + self.token_path, content=body, headers={"Content-Type": FORM})
            r.raise_for_status()
            self.introspected.append(r.json()["access_token"])
        self.introspector = self._hs256({"client_id": "introspector", "exp": int(time.time()) + 3600})
        r = client.post(
            f"{self.base}/v/R4/auth/introspect",
            data={"token": self.introspected[0]},
            headers={"Authorization": f"Bearer {self.introspector}"},
        )
        if r.status_code != 200 or not r.json().get("active"):
            raise RuntimeError(f"launcher introspection: {r.status_code} {r.text[:300]}")


FORM = "application/x-www-form-urlencoded"


def _wait_http(url, proc, timeout):
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.p.poll() is not None:
            break
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not served; see {proc.log_path}")


def _b64url(text):
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


# --- the run ------------------------------------------------------------------------------------
def _new_pem():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def start_target(target):
    import httpx

    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"== {target.name}: starting (load average {load})", flush=True)
    target.start()
    with httpx.Client(timeout=30) as client:
        target.smoke(client)


def measure_cell(args, target, name, results, round_no):
    """Warm up ``name`` on ``target`` with its own state, then measure it; keep the best round."""
    warm = target.op(name, args.warmup_state)
    w = run_wrk(args, target.base, warm, args.warmup, target.cpus)
    count = max(500, int(w["rps"] * args.duration * args.state_factor) + 300)  # sized by the warm-up
    op = target.op(name, count)
    r = run_wrk(args, target.base, op, args.duration, target.cpus)
    r["reused"] = bool(r["wrapped"] and op.get("single_use", True))
    flags = []
    if r["non2xx"] or r["socket_errors"]:
        flags.append(f"{r['non2xx']} non-2xx, {r['socket_errors']} socket errors")
    if r["reused"]:
        flags.append("state reused (ran out)")
    load = os.getloadavg()[0]
    print(
        f"   [{round_no}] {target.name:20s} {name:20s} {r['rps']:7.0f} req/s  "
        f"p50 {r['p50_us'] / 1000:7.2f} ms  p99 {r['p99_us'] / 1000:8.2f} ms  "
        f"(warm-up {w['rps']:.0f} req/s, load {load:.1f}) {'; '.join(flags)}",
        flush=True,
    )
    best = results.get((target.name, name))
    clean = not (r["non2xx"] or r["socket_errors"] or r["reused"])
    best_clean = best is not None and not (best["non2xx"] or best["socket_errors"] or best["reused"])
    if best is None or (clean and not best_clean) or (clean == best_clean and r["rps"] > best["rps"]):
        results[(target.name, name)] = r


def print_table(args, names, results):
    print(
        f"\nwrk {args.threads} threads, {args.connections} connections, {args.duration} s per cell "
        f"(best of {args.rounds}) "
        f"after a {args.warmup} s warm-up; ours: {args.server}, {args.workers} workers (both cores); "
        "launcher: node pinned to core 0, wrk to core 1"
    )
    head = f"{'operation':22s}" + "".join(f"| {n:^28s}" for n in names) + f"| {'issue ref.':>10s}"
    print(head)
    print(f"{'':22s}" + "".join(f"| {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>9s} " for _ in names) + "| req/s")
    print("-" * len(head))
    for op in args.ops:
        row = f"{op:22s}"
        for n in names:
            r = results.get((n, op))
            if r is None:
                row += f"| {'-':>8s} {'-':>8s} {'-':>9s} "
            else:
                mark = "*" if (r["non2xx"] or r["socket_errors"] or r.get("reused")) else " "
                row += f"| {r['rps']:8.0f} {r['p50_us'] / 1000:8.2f} {r['p99_us'] / 1000:8.2f}{mark} "
        row += f"| {REFERENCE[op]:>10,d}"
        print(row)
    print("(* = errors or reused state in that cell, see the lines above)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--targets",
        default="sqlite,postgres,launcher",
        help="comma-separated: sqlite, postgres, launcher",
    )
    parser.add_argument("--ops", default=",".join(OPS))
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured cell")
    parser.add_argument("--rounds", type=int, default=1, help="measure every cell N times, keep the best")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per cell")
    parser.add_argument("--warmup-state", type=int, default=4000, help="single-use items for warm-up")
    parser.add_argument(
        "--state-factor",
        type=float,
        default=3.0,
        help="single-use items per measured cell = factor x warm-up req/s x duration",
    )
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (ours)")
    parser.add_argument(
        "--server",
        choices=("uvicorn", "gunicorn-sync", "gunicorn-gthread"),
        default="uvicorn",
        help="ours: `sandbox --workers N` (uvicorn, ASGI) or gunicorn serving the WSGI application",
    )
    parser.add_argument("--gunicorn-threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench"),
    )
    parser.add_argument("--launcher-dir", default=os.environ.get("SMART_LAUNCHER_DIR"))
    parser.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    args = parser.parse_args()
    args.ops = [o for o in args.ops.split(",") if o]
    unknown = set(args.ops) - set(OPS)
    if unknown:
        parser.error(f"unknown operations {sorted(unknown)}; choose from {OPS}")
    targets = [t for t in args.targets.split(",") if t]
    args.workdir = tempfile.mkdtemp(prefix="smart-auth-bench-")
    results, names, started = {}, [], []
    # PostgreSQL runs in a phase of its own, the others together afterwards, as in every run on
    # record (it once exhausted PostgreSQL's connection slots; the sandbox now uses a pool).
    phases = [[t] for t in targets if t == "postgres"] + [[t for t in targets if t != "postgres"]]
    order = {t: i for i, t in enumerate(targets)}
    app_pem = None
    try:
        for phase in phases:
            for t in phase:
                target = _make_target(args, t, app_pem)
                if target is None:
                    continue
                target.order = order[t]
                names.append((order[t], target.name))
                try:
                    start_target(target)
                except Exception as exc:  # report and go on with the other targets
                    print(f"   {target.name} failed to start: {exc}", flush=True)
                    target.stop()
                    continue
                started.append(target)
                app_pem = app_pem or getattr(target, "app_pem", None)
            # Every server of the phase is up (idle ones use no CPU): measure operation by
            # operation, the targets back to back, so that load from elsewhere on the machine
            # hits the columns alike.
            for round_no in range(1, args.rounds + 1):
                for name in args.ops:
                    for target in started:
                        try:
                            measure_cell(args, target, name, results, round_no)
                        except Exception as exc:
                            print(f"   {target.name} {name} failed: {str(exc)[-600:]}", flush=True)
            while started:
                started.pop().stop()
        print_table(args, [n for _, n in sorted(names)], results)
    finally:
        for target in started:
            target.stop()
        shutil.rmtree(args.workdir, ignore_errors=True)


def _make_target(args, t, app_pem):
    if t in ("sqlite", "postgres"):
        return Ours(args, t)
    if t == "launcher":
        if not args.launcher_dir or not (Path(args.launcher_dir) / "node_modules").is_dir():
            print(
                "== launcher: skipped (set SMART_LAUNCHER_DIR or --launcher-dir to a checkout of "
                "smart-on-fhir/smart-launcher-v2 with `npm ci` done)",
                flush=True,
            )
            return None
        return Launcher(args, app_pem or _new_pem())
    raise SystemExit(f"unknown target {t!r}")


if __name__ == "__main__":
    main()
