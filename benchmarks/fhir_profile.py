"""Where a FHIR request's time goes, measured in-process (no HTTP server, no load generator).

    python benchmarks/fhir_profile.py [--sizes 1000 100000] [--profile]

Calls the WSGI application directly for the bare view, a Patient read and an ImagingStudy search
(interleaved rounds; the minimum is the least disturbed by other load on a shared machine), times
the storage calls alone at each store size, and with ``--profile`` prints the cProfile of reads.
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
CASES = {
    "bare view": ("/bare/Patient/bench-pat", ""),
    "FHIR Patient read": ("/fhir/Patient/bench-pat", ""),
    "FHIR ImagingStudy search": ("/fhir/ImagingStudy", "patient=bench-pat"),
}


def measure(profile):
    import django

    django.setup()
    from django.core.wsgi import get_wsgi_application

    from smart_fhir.search import parse_search
    from smart_fhir.storage import get_storage

    token = os.environ["FHIR_BENCH_TOKEN"]
    app = get_wsgi_application()

    def call(path, query):
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_AUTHORIZATION": f"Bearer {token}",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
        }
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

    def full_drf(path, query):
        # The same request with the lean read/search path switched off: before/after in one run.
        ResourceViewSet.lean_actions = frozenset()
        try:
            call(path, query)
        finally:
            ResourceViewSet.lean_actions = lean_actions

    cases = {name: (call, path, query) for name, (path, query) in CASES.items()}
    for name, (path, query) in CASES.items():
        if name.startswith("FHIR"):
            cases[f"{name} (full DRF)"] = (full_drf, path, query)
    samples = {name: [] for name in cases}
    for fn, path, query in cases.values():
        best(lambda f=fn, p=path, q=query: f(p, q), 200, rounds=1)  # warm up
    for _ in range(5):  # interleaved rounds: a burst of load elsewhere hits every case alike
        for name, (fn, path, query) in cases.items():
            count = 300 if "search" in name else 1500
            samples[name].append(best(lambda f=fn, p=path, q=query: f(p, q), count, rounds=1))
    results = {name: min(values) for name, values in samples.items()}
    storage = get_storage()
    search = parse_search("ImagingStudy", {"patient": ["bench-pat"]})
    results["storage read_entry"] = best(lambda: storage.read_entry("Patient", "bench-pat"), 2000)
    results["storage run_search (20 rows)"] = best(lambda: storage.run_search(search, None), 300)
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
