"""Where a FHIR request's time goes, measured in-process (no HTTP server, no load generator).

    python benchmarks/fhir_profile.py [--sizes 1000 100000] [--profile]

Calls the WSGI application directly for the bare view, a Patient read, an ImagingStudy search
(20 results, default order and ``_sort=-started``) and a transaction Bundle of 20 Observation
creates (interleaved rounds; the minimum is the least disturbed by other load on a shared
machine), times the storage calls alone at each store size, and with ``--profile`` prints the
cProfile of reads.
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
SORTED_SEARCH = "patient=bench-pat&_sort=-started"
# name: (method, path, query); the transaction's body is benchmarks.fhir_server.transaction_bundle()
CASES = {
    "bare view": ("GET", "/bare/Patient/bench-pat", ""),
    "FHIR Patient read": ("GET", "/fhir/Patient/bench-pat", ""),
    "FHIR ImagingStudy search": ("GET", "/fhir/ImagingStudy", "patient=bench-pat"),
    "FHIR ImagingStudy search _sort": ("GET", "/fhir/ImagingStudy", SORTED_SEARCH),
    "FHIR transaction (20 entries)": ("POST", "/fhir/", ""),
}
# Calls per round: enough to time, few enough that the transactions do not grow the store much.
CALLS = {"search": 300, "transaction": 10}
FULL_DRF = ("FHIR Patient read", "FHIR ImagingStudy search")


def measure(profile):
    import django

    django.setup()
    from django.core.wsgi import get_wsgi_application

    from benchmarks.fhir_server import transaction_bundle
    from smart_fhir.search import parse_search
    from smart_fhir.storage import get_storage

    token = os.environ["FHIR_BENCH_TOKEN"]
    write_token = os.environ["FHIR_BENCH_WRITE_TOKEN"]
    bundle = transaction_bundle()
    app = get_wsgi_application()

    def call(method, path, query):
        body = bundle if method == "POST" else b""
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_AUTHORIZATION": f"Bearer {write_token if method == 'POST' else token}",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
        }
        if body:
            environ["CONTENT_TYPE"], environ["CONTENT_LENGTH"] = "application/fhir+json", str(len(body))
        statuses = []
        b"".join(app(environ, lambda status, headers: statuses.append(status)))
        assert statuses[0].startswith("200"), statuses

    def best(fn, count, rounds=5):
        samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(count):
                fn()
            samples.append((time.perf_counter() - started) / count * 1e6)
        return min(samples)

    from smart_fhir.api.views import ResourceViewSet

    lean_actions = ResourceViewSet.lean_actions

    def full_drf(method, path, query):
        # The same request with the lean read/search path switched off: before/after in one run.
        ResourceViewSet.lean_actions = frozenset()
        try:
            call(method, path, query)
        finally:
            ResourceViewSet.lean_actions = lean_actions

    cases = {name: (call, *request) for name, request in CASES.items()}
    for name in FULL_DRF:
        cases[f"{name} (full DRF)"] = (full_drf, *CASES[name])

    def calls(name):
        return next((n for key, n in CALLS.items() if key in name), 1500)

    samples = {name: [] for name in cases}
    for name, (fn, *request) in cases.items():
        best(lambda f=fn, r=request: f(*r), max(1, calls(name) // 10), rounds=1)  # warm up
    for _ in range(5):  # interleaved rounds: a burst of load elsewhere hits every case alike
        for name, (fn, *request) in cases.items():
            samples[name].append(best(lambda f=fn, r=request: f(*r), calls(name), rounds=1))
    results = {name: min(values) for name, values in samples.items()}
    storage = get_storage()
    search = parse_search("ImagingStudy", {"patient": ["bench-pat"]})
    results["storage read_entry"] = best(lambda: storage.read_entry("Patient", "bench-pat"), 2000)
    results["storage run_search (20 rows)"] = best(lambda: storage.run_search(search, None), 300)
    ordered = parse_search("ImagingStudy", {"patient": ["bench-pat"], "_sort": ["-started"]})
    results["storage run_search _sort (20 rows)"] = best(lambda: storage.run_search(ordered, None), 300)
    print(json.dumps(results))
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(2000):
            call(*CASES["FHIR Patient read"])
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(
            "rest_framework|smart_fhir|django/db|handlers", 30
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100000])
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        sys.path.insert(0, str(ROOT))
        measure(args.profile)
        return
    with tempfile.TemporaryDirectory() as workdir:
        for size in args.sizes:
            env = {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "benchmarks.fhir_settings",
                "FHIR_BENCH_DB": str(Path(workdir) / f"fhir-{size}.sqlite3"),
                "PYTHONPATH": str(ROOT),
            }
            populate = [sys.executable, str(ROOT / "benchmarks" / "fhir_server.py"), "--populate", str(size)]
            facts = json.loads(
                subprocess.run(populate, env=env, capture_output=True, text=True, check=True).stdout
            )
            env["FHIR_BENCH_TOKEN"] = facts["token"]
            env["FHIR_BENCH_WRITE_TOKEN"] = facts["write_token"]
            command = [sys.executable, __file__, "--measure"] + ["--profile"] * args.profile
            output = subprocess.run(command, env=env, capture_output=True, text=True, check=True, cwd=ROOT)
            results = json.loads(output.stdout.strip().splitlines()[-1])
            for name, micros in results.items():
                ratio = f"{micros / results['bare view']:5.2f}x bare" if name.startswith("FHIR") else ""
                print(f"{size:>8} resources | {name:<41} | {micros:8.1f} us {ratio}")
            if args.profile:
                print(output.stderr)


if __name__ == "__main__":
    main()
