"""FHIR read and search throughput with token validation and scope enforcement on, next to a bare view.

    python benchmarks/fhir_server.py [--sizes 1000 100000] [--duration 10] [--connections 16]

For each store size it builds a SQLite database (benchmarks.fhir_settings), mints real
smart_auth access tokens (patient/*.rs and patient/*.cruds for the benchmark patient), serves the
deployment with gunicorn (2 workers x gthread, both cores) and drives it with wrk: a Patient read,
an ImagingStudy search (patient=, 20 results), the same search with ``_sort=-started``, a
transaction Bundle of 20 Observation creates, and the bare view. Prints req/s and p50/p99.
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).with_name("gunicorn"))
BENCH_PATIENT = "bench-pat"
ROUNDS = 5
SORTED_SEARCH = f"patient={BENCH_PATIENT}&_sort=-started"
POST_JSON_LUA = str(ROOT / "benchmarks" / "wrk" / "post_json.lua")


def transaction_bundle(patient=BENCH_PATIENT, entries=20) -> bytes:
    """A transaction of ``entries`` Observation creates in the benchmark patient's compartment."""
    return json.dumps(
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "resource": {k: v for k, v in _observation(f"tx-{n}", patient, n).items() if k != "id"},
                    "request": {"method": "POST", "url": "Observation"},
                }
                for n in range(entries)
            ],
        }
    ).encode()


# --- data (runs inside Django: ``--populate N``) ------------------------------------------------
def populate(size):
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    resources = [_patient(BENCH_PATIENT)] + [_study(f"bench-study-{n}", BENCH_PATIENT, n) for n in range(20)]
    index = 0
    while len(resources) < size:
        pid = f"pat-{index}"
        resources.append(_patient(pid))
        resources += [_study(f"study-{index}-{n}", pid, n) for n in range(3)]
        resources += [_observation(f"obs-{index}-{n}", pid, n) for n in range(6)]
        index += 1
    _bulk_store(resources[:size])
    facts = {"token": _token(), "write_token": _token("patient/*.cruds"), "patient": BENCH_PATIENT}
    print(json.dumps(facts))


def _patient(pid):
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": "http://hospital.example/mrn", "value": f"MRN-{pid}"}],
        "name": [{"family": "Bench", "given": [pid]}],
        "gender": "female",
        "birthDate": "1970-01-01",
    }


def _study(sid, pid, n):
    return {
        "resourceType": "ImagingStudy",
        "id": sid,
        "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:2.25.{abs(hash(sid)) % 10**12}"}],
        "status": "available",
        "modality": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"}],
        "subject": {"reference": f"Patient/{pid}"},
        "started": f"2024-01-{1 + n % 28:02d}T09:00:00Z",
        "numberOfSeries": 1,
        "series": [{"uid": f"2.25.{n}", "modality": {"code": "CT"}}],
    }


def _observation(oid, pid, n):
    category = "laboratory" if n % 2 else "vital-signs"
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": "2024-02-01T10:00:00Z",
        "valueQuantity": {"value": 60 + n, "unit": "/min"},
    }


def _bulk_store(resources):
    """Benchmark-only bulk load through the default backend's tables (same indexing code)."""
    from datetime import UTC, datetime

    from django.db import transaction

    from smart_fhir.models import ResourceVersion, SearchValue, StoredResource
    from smart_fhir.search import compartment_of, index_values

    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    for start in range(0, len(resources), 5000):
        batch = resources[start : start + 5000]
        with transaction.atomic():
            rows, versions, texts = [], [], []
            for resource in batch:
                resource = {**resource, "meta": {"versionId": "1", "lastUpdated": stamp}}
                text = json.dumps(resource, separators=(",", ":"))
                kind, ident = resource["resourceType"], resource["id"]
                texts.append(resource)
                rows.append(
                    StoredResource(
                        resource_type=kind,
                        logical_id=ident,
                        last_updated=now,
                        compartment=compartment_of(kind, resource),
                        text=text,
                    )
                )
                versions.append(
                    ResourceVersion(
                        resource_type=kind, logical_id=ident, version_id=1, last_updated=now, text=text
                    )
                )
            StoredResource.objects.bulk_create(rows)
            ResourceVersion.objects.bulk_create(versions)
            ids = dict(
                StoredResource.objects.filter(
                    pk__gte=0, logical_id__in=[r.logical_id for r in rows]
                ).values_list("logical_id", "pk")
            )
            SearchValue.objects.bulk_create(
                SearchValue(
                    resource_id=ids[resource["id"]],
                    resource_type=resource["resourceType"],
                    param=name,
                    system=value.system,
                    value=value.value,
                    date_low=value.low,
                    date_high=value.high,
                )
                for resource in texts
                for name, value in index_values(resource["resourceType"], resource)
            )


def _token(resource_scope="patient/*.rs"):
    """A real smart_auth access token, recorded in DOT's table so introspection finds it."""
    import secrets
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model, get_application_model

    from smart_auth.oauth2.tokens import sign

    user, _ = get_user_model().objects.get_or_create(username="bench-clinician")
    app = get_application_model().objects.create(
        name="bench",
        client_type="public",
        authorization_grant_type="authorization-code",
        redirect_uris="https://app.example/cb",
        algorithm="RS256",
    )
    now = int(time.time())
    claims = {
        "iss": "http://testserver/o",
        "sub": str(user.pk),
        "aud": "http://testserver/fhir",
        "client_id": app.client_id,
        "scope": f"launch openid fhirUser {resource_scope}",
        "iat": now,
        "exp": now + 7200,
        "jti": secrets.token_urlsafe(16),
        "patient": BENCH_PATIENT,
        "fhirUser": "Practitioner/prac-1",
    }
    token = sign(claims, typ="at+jwt")
    get_access_token_model().objects.create(
        user=user,
        application=app,
        token=token,
        scope=claims["scope"],
        expires=timezone.now() + timedelta(hours=2),
        resource=["http://testserver/fhir"],
    )
    return token


# --- serving and load ------------------------------------------------------------------------
def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def _wrk(url, token, duration, connections, body_file=None):
    command = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", url]
    if token:
        command[1:1] = ["-H", f"Authorization: Bearer {token}"]
    if body_file:  # POST this JSON body (benchmarks/wrk/post_json.lua)
        command[1:1] = ["-s", POST_JSON_LUA]
        command += ["--", body_file]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = _ms(re.search(r"50%\s+([\d.]+\w+)", output).group(1))
    p99 = _ms(re.search(r"99%\s+([\d.]+\w+)", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return rps, p50, p99, int(errors.group(1)) if errors else 0


def _median(samples):
    """(req/s, p50, p99, non-2xx) of the round with the median throughput."""
    ordered = sorted(samples, key=lambda sample: sample[0])
    rps, p50, p99, _ = ordered[len(ordered) // 2]
    return rps, p50, p99, sum(sample[3] for sample in samples)


def _ms(text):
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run(size, duration, connections, workdir):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.fhir_settings",
        "FHIR_BENCH_DB": str(Path(workdir) / f"fhir-{size}.sqlite3"),
        "PYTHONPATH": str(ROOT),
    }
    started = time.time()
    output = subprocess.run(
        [PYTHON, __file__, "--populate", str(size)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    facts = json.loads(output.strip().splitlines()[-1])
    print(f"# {size} resources loaded in {time.time() - started:.0f}s", flush=True)
    bundle_file = Path(workdir) / "transaction.json"
    bundle_file.write_bytes(transaction_bundle())
    port = _free_port()
    server = subprocess.Popen(
        [GUNICORN, "sandbox_project.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", "2"]
        + ["-k", "gthread", "--threads", "8", "--log-level", "warning"],
        env=env,
        cwd=ROOT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(f"{base}/fhir/metadata")
        cases = [
            ("bare view", f"{base}/bare/Patient/{facts['patient']}", None, None),
            ("FHIR Patient read", f"{base}/fhir/Patient/{facts['patient']}", facts["token"], None),
            (
                "FHIR ImagingStudy search",
                f"{base}/fhir/ImagingStudy?patient={facts['patient']}",
                facts["token"],
                None,
            ),
            ("FHIR search _sort (20)", f"{base}/fhir/ImagingStudy?{SORTED_SEARCH}", facts["token"], None),
            ("FHIR transaction (20)", f"{base}/fhir/", facts["write_token"], str(bundle_file)),
            # The read and search through the full DRF view (benchmarks/fhir_urls.py): before/after.
            ("FHIR read (full DRF)", f"{base}/drf/fhir/Patient/{facts['patient']}", facts["token"], None),
            (
                "FHIR search (full DRF)",
                f"{base}/drf/fhir/ImagingStudy?patient={facts['patient']}",
                facts["token"],
                None,
            ),
        ]
        for _name, url, token, body in cases:
            _wrk(url, token, 2, connections, body)  # warm up every worker, thread and cache
        # Interleaved rounds, median per case: the machine is shared, so a burst of other load
        # hits every case alike instead of skewing one of them.
        rounds = {name: [] for name, _url, _token, _body in cases}
        for _round in range(ROUNDS):
            for name, url, token, body in cases:
                rounds[name].append(_wrk(url, token, max(1, duration // ROUNDS), connections, body))
        return [(name, *_median(samples)) for name, samples in rounds.items()]
    finally:
        server.terminate()
        server.wait(timeout=10)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100000])
    parser.add_argument("--duration", type=int, default=20, help="seconds per case, split in rounds")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--populate", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.populate:
        sys.path.insert(0, str(ROOT))
        populate(args.populate)
        return
    with tempfile.TemporaryDirectory() as workdir:
        table = {size: run(size, args.duration, args.connections, workdir) for size in args.sizes}
    print(f"\n{'resources':>10} | {'case':<26} | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} | non-2xx")
    for size, results in table.items():
        bare = results[0][1]
        for name, rps, p50, p99, errors in results:
            ratio = f"  ({bare / rps:.2f}x bare cost)" if name != "bare view" else ""
            print(f"{size:>10} | {name:<26} | {rps:>8.0f} | {p50:>7.2f} | {p99:>7.2f} | {errors}{ratio}")


if __name__ == "__main__":
    main()
