"""Registered clients, read once per process and reloaded as soon as any registration changes.

Every token request looks its client up (DOT ``Application`` with its ``SmartClient``, and the
parsed keys of an inline JWK Set). Building that from the ORM costs more than the rest of a
``client_credentials`` request's database work, so each process keeps the rows it has read.

Freshness is not traded for it: database triggers (migration 0003) bump a one-row counter
(``ClientRegistryGeneration``) in the same transaction as every INSERT, UPDATE or DELETE of an
``Application`` or ``SmartClient`` row, however it is made (admin, ``QuerySet.update()``, raw
SQL, another process), and each lookup reads the counter first (one primary-key read, no ORM
query building). A process whose counter is behind drops everything it keeps. So a client
disabled, deleted or given new keys is refused from the very next request. On a database other
than SQLite or PostgreSQL (no trigger made) every lookup reads the registration.
"""

import copy
import threading

from django.db import connections, router
from oauth2_provider.models import get_application_model


_lock = threading.Lock()
_entries = {}  # client_id -> Application (with .smart joined) or None for an unknown client
_state = {"generation": None}
CACHING_VENDORS = ("sqlite", "postgresql")  # the databases migration 0003 makes triggers on
_MAX_ENTRIES = 4096  # bounds the memory an unknown-client_id flood could take


def _generation_model():
    from .models import ClientRegistryGeneration

    return ClientRegistryGeneration


def current_generation(using=None):
    """The registry's generation counter as the database holds it now."""
    model = _generation_model()
    db = using or router.db_for_read(model)
    table = connections[db].ops.quote_name(model._meta.db_table)
    with connections[db].cursor() as cursor:
        # Hand-written SQL on purpose: this runs on every token request, and the ORM would
        # rebuild the same one-line query each time (several times the cost of running it).
        cursor.execute(f"SELECT value FROM {table} WHERE id = 1")  # noqa: S608 (no user input)
        row = cursor.fetchone()
    return row[0] if row else None


def clear(**_signal_kwargs):
    """Forget what this process keeps (the next lookup reloads). Also run after migrate and
    flush (post_migrate), which may empty the counter's table."""
    with _lock:
        _entries.clear()
        _state["generation"] = None


def application(client_id):
    """The enabled or disabled ``Application`` with ``client_id`` (``.smart`` joined), or None.

    A private copy per call: callers may attach per-request state to it without touching the
    instance other threads read.
    """
    if not client_id:
        return None
    if connections[router.db_for_read(_generation_model())].vendor not in CACHING_VENDORS:
        return _load(client_id)
    generation = current_generation()
    if generation is None:  # no counter row (a flushed test database): nothing is kept
        clear()
        return _load(client_id)
    with _lock:
        if _state["generation"] != generation:
            _entries.clear()
            _state["generation"] = generation
        found = client_id in _entries
        cached = _entries.get(client_id)
    if not found:
        cached = _load(client_id)
        with _lock:
            if _state["generation"] == generation:
                if len(_entries) >= _MAX_ENTRIES:
                    _entries.clear()
                _entries[client_id] = cached
    return copy.copy(cached) if cached is not None else None


def _load(client_id):
    return get_application_model().objects.select_related("smart").filter(client_id=client_id).first()
