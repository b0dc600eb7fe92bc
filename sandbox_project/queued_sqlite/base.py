"""SQLite for the sandbox's worker processes, with writers queued instead of sleeping.

SQLite admits one writer at a time. A writer that finds the database locked waits in SQLite's
busy handler, which sleeps between retries (1, 2, 5, … up to 100 ms): with two worker processes
and a dozen concurrent token requests, a waiting write lost the race again and again, and the
slowest requests took seconds (benchmarks/README.md). Here each write transaction first takes a
process-wide lock and then an ``flock`` on ``<database>.writer-lock``: the waiters block in the
kernel and the next one starts as soon as the holder commits. Reads never wait (WAL).

Write transactions are Django's atomic blocks (``BEGIN IMMEDIATE`` with the sandbox's
``transaction_mode``) and single writing statements outside one (autocommit). An atomic block's
``BEGIN`` (and with it the writer's turn) is sent with the block's first statement, not when the
block is entered: what Python does before that statement (a token request builds its rows
there) no longer keeps the other writers waiting. Nothing is observable in between, so the
transaction is the same one.
"""

import contextlib
import fcntl
import functools
import os
import threading

from django.db.backends.sqlite3 import base
from django.db.utils import OperationalError


_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")


class WriterQueue:
    """One per database file and process: a thread lock, then an flock shared by processes."""

    _queues = {}
    _queues_lock = threading.Lock()

    @classmethod
    def for_database(cls, name):
        with cls._queues_lock:
            key = (os.getpid(), name)  # a forked child opens its own lock file
            if key not in cls._queues:
                cls._queues[key] = cls(f"{name}.writer-lock")
            return cls._queues[key]

    def __init__(self, path):
        self.path = path
        self.thread_lock = threading.Lock()
        self.fd = None

    def acquire(self, timeout):
        if not self.thread_lock.acquire(timeout=timeout):
            raise OperationalError("database is locked (waited for this process's writer)")
        try:
            if self.fd is None:
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self.fd, fcntl.LOCK_EX)  # blocks in the kernel, GIL released
        except BaseException:
            self.thread_lock.release()
            raise

    def release(self):
        try:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            self.thread_lock.release()


@functools.lru_cache(maxsize=1024)
def _qmark(query):
    return base.FORMAT_QMARK_REGEX.sub("?", query).replace("%%", "%")


class QueuedCursor(base.SQLiteCursorWrapper):
    """Takes the writer turn around a writing statement made outside a transaction."""

    database = None

    def convert_query(self, query, *, param_names=None):
        # Django rewrites %s to ? with a regular expression on every execution (3 % of a token
        # request); the statements a request runs are few and always the same.
        if param_names is None:
            return _qmark(query)
        return super().convert_query(query, param_names=param_names)

    def execute(self, query, params=None):
        if self.database._begin_pending:
            self.database._begin_now()
        if self.database._writes_alone(query):
            with self.database._single_write():
                return super().execute(query, params)
        return super().execute(query, params)

    def executemany(self, query, param_list):
        if self.database._begin_pending:
            self.database._begin_now()
        if self.database._writes_alone(query):
            with self.database._single_write():
                return super().executemany(query, param_list)
        return super().executemany(query, param_list)


class DatabaseWrapper(base.DatabaseWrapper):
    _begin_pending = False  # an atomic block was entered and has run no statement yet

    def _writer_queue(self):
        name = self.settings_dict["NAME"]
        if self.is_in_memory_db() or not name:
            return None
        return WriterQueue.for_database(str(name))

    def _timeout(self):
        return float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))

    def _take_writer_turn(self):
        queue = self._writer_queue()
        if queue is not None and not getattr(self, "_writer_turn", False):
            queue.acquire(self._timeout())
            self._writer_turn = True

    def _end_writer_turn(self):
        if getattr(self, "_writer_turn", False):
            self._writer_turn = False
            self._writer_queue().release()

    def _start_transaction_under_autocommit(self):
        self._begin_pending = True  # BEGIN goes out with the block's first statement

    def _begin_now(self):
        self._begin_pending = False
        self._take_writer_turn()
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._end_writer_turn()
            raise

    def _commit(self):
        self._begin_pending = False  # a block that ran no statement has nothing to commit
        try:
            return super()._commit()
        finally:
            self._end_writer_turn()

    def _rollback(self):
        self._begin_pending = False
        try:
            return super()._rollback()
        finally:
            self._end_writer_turn()

    def _close(self):
        self._begin_pending = False
        try:
            return super()._close()
        finally:
            self._end_writer_turn()

    def create_cursor(self, name=None):
        return self.connection.cursor(factory=self._queued_cursor)

    def _queued_cursor(self, connection):
        cursor = QueuedCursor(connection)
        cursor.database = self
        return cursor

    def _writes_alone(self, query):
        """A writing statement in autocommit mode (its own implicit transaction)."""
        return (
            not getattr(self, "_writer_turn", False)
            and self.get_autocommit()
            and query.lstrip()[:7].upper().startswith(_WRITE_VERBS)
        )

    @contextlib.contextmanager
    def _single_write(self):
        self._take_writer_turn()
        try:
            yield
        finally:
            self._end_writer_turn()
