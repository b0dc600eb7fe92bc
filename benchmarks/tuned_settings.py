"""The EHR deployment's settings plus the database tuning the benchmark README proposes.

Used only by the opt-in benchmark targets ``sqlite-tuned`` and ``postgres-tuned``, to measure the
proposal before anyone changes ``sandbox_project/settings/base.py``:

* SQLite: ``PRAGMA synchronous=NORMAL`` next to WAL (a commit no longer waits for an fsync; the
  database stays consistent, a power cut may lose the last commits);
* PostgreSQL: psycopg's connection pool (Django >= 5.1 ``OPTIONS["pool"]``) instead of
  ``CONN_MAX_AGE=60``, which under ASGI keeps one connection per request thread until
  PostgreSQL refuses new clients.
"""

from sandbox_project.settings.ehr import *  # noqa: F403
from sandbox_project.settings.ehr import DATABASES


_db = DATABASES["default"]
if "sqlite" in _db["ENGINE"]:
    _db["OPTIONS"]["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
else:
    _db["CONN_MAX_AGE"] = 0
    _db.setdefault("OPTIONS", {})["pool"] = {"min_size": 2, "max_size": 8, "timeout": 20}
