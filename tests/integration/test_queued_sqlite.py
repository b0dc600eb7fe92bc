"""The sandbox's SQLite engine (``sandbox_project.queued_sqlite``): writers queue, transactions
stay whole, and an atomic block starts its transaction with its first statement."""

import contextlib
import threading

import pytest
from django.db import connections, transaction
from django.db.utils import ConnectionHandler


# Database access allowed (pytest-django blocks it otherwise); the tests' own database is not used.
pytestmark = pytest.mark.django_db
ALIAS = "default"  # of a ConnectionHandler of its own, not the tests' database
ATOMIC = "queued"  # the name transaction.atomic() finds it by, in the thread that set it


def _connection(path):
    """A new connection to the file at ``path`` through the sandbox's engine and options."""
    handler = ConnectionHandler(
        {
            ALIAS: {
                "ENGINE": "sandbox_project.queued_sqlite",
                "NAME": str(path),
                "OPTIONS": {
                    "transaction_mode": "IMMEDIATE",
                    "timeout": 20,
                    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                },
            }
        }
    )
    return handler[ALIAS]


@contextlib.contextmanager
def _as_alias(connection):
    """``transaction.atomic(using=ATOMIC)`` in this thread runs on ``connection``."""
    setattr(connections._connections, ATOMIC, connection)  # per-thread storage, as Django keeps it
    try:
        yield connection
    finally:
        delattr(connections._connections, ATOMIC)
        connection.close()


@pytest.fixture
def database(tmp_path):
    path = tmp_path / "queued.sqlite3"
    connection = _connection(path)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER)")
        cursor.execute("INSERT INTO counter VALUES (1, 0)")
    connection.close()
    return path


def _value(connection):
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM counter WHERE id = 1")
        return cursor.fetchone()[0]


def _increment(connection):
    value = _value(connection)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE counter SET value = %s WHERE id = 1", [value + 1])


def test_read_modify_write_blocks_from_many_threads_lose_no_update(database):
    """Each block reads the counter and writes it plus one. The transaction (and the writer's
    turn) starts with the block's first statement, the read, so no two blocks read one value."""
    rounds, threads = 25, 6
    errors = []

    def work():
        try:
            with _as_alias(_connection(database)) as connection:
                for _ in range(rounds):
                    with transaction.atomic(using=ATOMIC):
                        _increment(connection)
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors, errors
    assert _value(_connection(database)) == rounds * threads


def test_a_block_takes_the_writer_turn_at_its_first_statement(database):
    """An atomic block that has run nothing yet holds no lock: another writer goes through (it
    would wait 20 s otherwise) and the block's first read sees that write."""
    other = _connection(database)
    try:
        with _as_alias(_connection(database)) as connection:
            with transaction.atomic(using=ATOMIC):
                with other.cursor() as cursor:
                    cursor.execute("UPDATE counter SET value = 41 WHERE id = 1")
                _increment(connection)
            assert _value(other) == 42
            with transaction.atomic(using=ATOMIC):
                pass  # runs nothing: commits nothing, holds nothing
            with other.cursor() as cursor:
                cursor.execute("UPDATE counter SET value = 0 WHERE id = 1")
            with pytest.raises(RuntimeError), transaction.atomic(using=ATOMIC):
                _increment(connection)
                raise RuntimeError("rolled back")
            assert _value(other) == 0
    finally:
        other.close()
