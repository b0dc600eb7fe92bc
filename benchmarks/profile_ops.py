"""cProfile the token endpoint in-process (Django test client, no HTTP server, one process).

    SANDBOX_DATA_DIR=/tmp/d SANDBOX_DEBUG=0 python benchmarks/profile_ops.py OP [-n 300] [--top 30]

OP: smart-configuration, client_credentials, authorization_code, refresh_token, introspect.
The deployment's database must exist (start ``sandbox --only ehr`` once with the same
SANDBOX_DATA_DIR / DATABASE_URL). Prints wall time per request and the top functions by
cumulative and by own time.
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode


HERE = Path(__file__).resolve().parent
# benchmarks/ last: its fhircast_hub.py would shadow the fhircast_hub package the EHR settings load.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))
sys.path.append(str(HERE))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox_project.settings.ehr")

from smart_auth_bench import APP_ID, ASSERTION_TYPE, FORM, IMAGING_ID, _assertions, _init_signer, kid_of  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("op")
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--plain", action="store_true", help="time without cProfile, print no profile")
    parser.add_argument("--sql", action="store_true", help="print the statements of the last request")
    parser.add_argument("--by-package", action="store_true", help="own time summed per package")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.test import Client

    base = settings.BASE_URL
    host = base.split("//", 1)[1]
    token_url = f"{base}/o/token/"
    pem = (Path(settings.DATA_DIR) / "app" / "client-key.pem").read_text()
    _init_signer(pem)
    client = Client(HTTP_HOST=host)
    n = args.n

    def state(**counts):
        argv = [sys.executable, str(HERE / "prepare_state.py")]
        for k, v in counts.items():
            argv += [f"--{k}", str(v)]
        return json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)

    assertions = _assertions((APP_ID, kid_of(pem), token_url, n))
    if args.op == "smart-configuration":
        requests = [("get", "/fhir/.well-known/smart-configuration", None, {})] * n
    elif args.op == "client_credentials":
        requests = [
            (
                "post",
                "/o/token/",
                {
                    "grant_type": "client_credentials",
                    "scope": "system/*.rs",
                    "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": a,
                },
                {},
            )
            for a in assertions
        ]
    elif args.op == "authorization_code":
        st = state(codes=n)
        requests = [
            (
                "post",
                "/o/token/",
                {
                    "grant_type": "authorization_code",
                    "code": c,
                    "code_verifier": v,
                    "redirect_uri": st["redirect_uri"],
                    "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": a,
                },
                {},
            )
            for (c, v), a in zip(st["codes"], assertions, strict=True)
        ]
    elif args.op == "refresh_token":
        st = state(refresh=n)
        requests = [
            (
                "post",
                "/o/token/",
                {
                    "grant_type": "refresh_token",
                    "refresh_token": t,
                    "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": a,
                },
                {},
            )
            for t, a in zip(st["refresh"], assertions, strict=True)
        ]
    elif args.op == "introspect":
        imaging = (Path(settings.DATA_DIR) / "imaging" / "client-key.pem").read_text()
        _init_signer(imaging)
        a = _assertions((IMAGING_ID, kid_of(imaging), token_url, 1))[0]
        r = client.post(
            "/o/token/",
            urlencode(
                {
                    "grant_type": "client_credentials",
                    "scope": "introspection",
                    "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": a,
                }
            ),
            content_type=FORM,
        )
        bearer = r.json()["access_token"]
        r = client.post(
            "/o/token/",
            urlencode(
                {
                    "grant_type": "client_credentials",
                    "scope": "system/*.rs",
                    "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": assertions[0],
                }
            ),
            content_type=FORM,
        )
        target = r.json()["access_token"]
        requests = [
            ("post", "/o/introspect/", {"token": target}, {"HTTP_AUTHORIZATION": f"Bearer {bearer}"})
        ] * n
    else:
        parser.error("unknown op")

    last_request = None

    def run(batch):
        for method, path, data, extra in batch:
            if last_request is not None:
                last_request.clear()
            if method == "get":
                response = client.get(path, **extra)
            else:
                response = client.post(path, urlencode(data), content_type=FORM, **extra)
            if response.status_code != 200:
                raise SystemExit(f"{response.status_code} {response.content[:300]}")

    warm, timed = requests[: n // 20], requests[n // 20 : -(n // 20)]
    counted = requests[-(n // 20) :]
    run(warm)
    from collections import Counter

    from django.db import connection

    kinds = Counter()
    writes = ("INSERT", "UPDATE", "DELETE")

    last_request = []  # the statements of the request being run

    def count(execute, sql, params, many, context):
        verb = sql.split(None, 1)[0].upper()
        last_request.append(sql)
        kinds[verb] += 1
        if verb in writes and connection.get_autocommit():
            kinds["(autocommitted write)"] += 1  # a statement that is its own transaction
        return execute(sql, params, many, context)

    # Commits that make writes durable: explicit ones (an outermost atomic block ends) plus
    # writing statements run in autocommit mode.
    commit = connection._commit

    def counting_commit():
        kinds["(commit)"] += 1
        return commit()

    connection._commit = counting_commit
    with connection.execute_wrapper(count):
        run(counted)
    connection._commit = commit
    if args.sql:
        print("\n".join(last_request))
    last_request = None
    commits = kinds.pop("(commit)", 0) + kinds.pop("(autocommitted write)", 0)
    per = ", ".join(f"{k} {v / len(counted):.1f}" for k, v in sorted(kinds.items()))
    print(f"{args.op}: SQL statements per request: {sum(kinds.values()) / len(counted):.1f} ({per})")
    print(f"{args.op}: write commits per request: {commits / len(counted):.1f}")
    if args.plain:
        t0 = time.perf_counter()
        run(timed)
        elapsed = time.perf_counter() - t0
        print(f"{args.op}: {len(timed)} requests, {elapsed / len(timed) * 1000:.2f} ms each (no profiler)")
        return
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    run(timed)
    profiler.disable()
    elapsed = time.perf_counter() - t0
    print(f"{args.op}: {len(timed)} requests, {elapsed / len(timed) * 1000:.2f} ms each (profiled)")
    if args.by_package:
        print_by_package(pstats.Stats(profiler), len(timed))
        return
    for key in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(key).print_stats(args.top)
        print(out.getvalue())


def print_by_package(stats, requests):
    """Own (not cumulative) profiled time per request, summed by where the code lives."""
    groups = {}
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        path = filename.replace("\\", "/")
        if "site-packages/" in path:
            parts = path.split("site-packages/", 1)[1].split("/")
            key = "/".join(parts[:3] if parts[0] == "django" else parts[:1])
        elif path.startswith("~") or path == "<built-in>":
            key = f"builtin {name.split(' of ')[-1].strip('<>').split('.')[0]}"
        elif "/lib/python3" in path:
            key = "stdlib " + path.rsplit("/", 1)[-1]
        else:
            key = str(Path(path).relative_to(HERE.parent)) if path.startswith(str(HERE.parent)) else path
        groups[key] = groups.get(key, 0.0) + tottime
    total = sum(groups.values())
    print(f"own time per request, profiled: {total / requests * 1000:.2f} ms")
    for key, seconds in sorted(groups.items(), key=lambda kv: -kv[1])[:40]:
        print(f"{seconds / requests * 1000:7.3f} ms  {100 * seconds / total:5.1f} %  {key}")


if __name__ == "__main__":
    main()
