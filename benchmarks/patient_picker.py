"""The standalone-launch patient picker with a large store: the default PATIENT_CHOICES hook.

    python benchmarks/patient_picker.py [--patients 100000]            # SQLite file
    DATABASE_URL=postgres://… python benchmarks/patient_picker.py      # PostgreSQL

Loads the patients through the default backend's tables (benchmarks/fhir_server.py's bulk
loader, same indexing code), then times each picker query in-process (best of 5) and prints the
query plans' index use. Measurement only: the tests assert behaviour, never time.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
SURNAMES = ["Smith", "Jones", "Garcia", "Nguyen", "Okafor", "Müller", "Rossi", "Kowalski", "Haddad", "Tanaka"]
GIVEN = ["Ann", "Ben", "Chloé", "Dev", "Eva", "Femi", "Gus", "Hana", "Ivan", "Jia", "Kai", "Lena"]
MRN = "http://hospital.example/mrn"


def patient(n):
    return {
        "resourceType": "Patient",
        "id": f"p{n}",
        "identifier": [{"system": MRN, "value": f"MRN{n:07d}"}],
        "name": [{"family": f"{SURNAMES[n % 10]}{n // 1000:03d}", "given": [GIVEN[n % 12]]}],
        "gender": "female" if n % 2 else "male",
        "birthDate": f"{1930 + n % 90}-{1 + n % 12:02d}-{1 + n % 28:02d}",
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    workdir = tempfile.mkdtemp()
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = f"sqlite:///{workdir}/picker.sqlite3"
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings.full"  # PATIENT_DIRECTORY: smart_fhir's
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import RequestFactory

    from benchmarks.fhir_server import _bulk_store
    from smart_auth.picker import search_patients
    from smart_fhir.models import StoredResource

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    if StoredResource.objects.filter(resource_type="Patient").count() != args.patients:
        StoredResource.objects.filter(resource_type="Patient").delete()
        _bulk_store([patient(n) for n in range(args.patients)])  # else: reuse the loaded store
    loaded = time.perf_counter() - started
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    factory = RequestFactory()
    cases = {
        "first page": {},
        "page 50": {"page": "50"},
        "name prefix, common (smith0)": {"name": "smith0"},
        "name, one person (okafor054)": {"name": "okafor054"},
        "given name (chloe)": {"name": "chloe"},
        "birth date": {"birthdate": "1957-04-08"},
        "identifier system|value": {"identifier": f"{MRN}|MRN0054321"},
        "chosen patient (POST patient=…)": {"patient": "p54321"},
    }
    results = {}
    for name, data in cases.items():
        request = factory.post("/o/authorize/", data)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            page = search_patients(request)
            times.append(time.perf_counter() - start)
        results[name] = {"ms": round(min(times) * 1000, 1), "rows": len(page), "next": page.has_next}
    print(
        json.dumps(
            {
                "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
                "patients": args.patients,
                "load_seconds": round(loaded, 1),
                "queries": results,
            },
            indent=1,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
