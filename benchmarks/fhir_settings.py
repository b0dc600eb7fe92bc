"""Benchmark-only settings: the test deployment (smart_auth + smart_fhir) on a SQLite file.

``FHIR_BENCH_DB`` names the database file; DEBUG is off and the bare comparison view is mounted
by ``benchmarks.fhir_urls``.
"""

import os

from tests.settings.full import *  # noqa: F403


DEBUG = False
ROOT_URLCONF = "benchmarks.fhir_urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("FHIR_BENCH_DB", "/tmp/fhir-bench.sqlite3"),
        # Persistent connections, as a production deployment runs: no connect per request.
        "CONN_MAX_AGE": 600,
        "OPTIONS": {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
    }
}
LOGGING = {"version": 1, "disable_existing_loggers": False}
