"""A row lock for SQLite, which has none: one key at a time across threads and processes.

PostgreSQL serialises two refreshes of one refresh token with a row lock; SQLite can only lock
the whole database, which would make every refresh wait for every other one. This lock is keyed
(by the token's checksum): work on one key runs one request at a time, work on different keys
runs side by side. Between processes it is a POSIX record lock on one byte of a file beside the
database (SQLite's processes share a host and that file); inside a process, a thread lock per
byte, since record locks belong to the process. Keys share 4,096 bytes: two keys may wait for
each other now and then, never exclude wrongly.
"""

import contextlib
import fcntl
import hashlib
import os
import threading


SLOTS = 4096

_files = {}
_files_lock = threading.Lock()


class _LockFile:
    def __init__(self, path):
        self.path = path
        self.fd = None  # opened once per process and never closed: closing drops its locks
        self.thread_locks = [threading.Lock() for _ in range(SLOTS)]
        self.open_lock = threading.Lock()

    def descriptor(self):
        with self.open_lock:
            if self.fd is None and self.path is not None:
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            return self.fd


def _lock_file(database_name):
    key = (os.getpid(), database_name)  # a forked child needs its own descriptor
    with _files_lock:
        if key not in _files:
            in_memory = not database_name or database_name == ":memory:" or "mode=memory" in database_name
            _files[key] = _LockFile(None if in_memory else f"{database_name}.row-locks")
        return _files[key]


@contextlib.contextmanager
def sqlite_row_lock(connection, key):
    """Hold the lock of ``key`` for the SQLite database of ``connection`` (a Django connection)."""
    lock_file = _lock_file(str(connection.settings_dict.get("NAME") or ""))
    slot = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % SLOTS
    thread_lock = lock_file.thread_locks[slot]
    thread_lock.acquire()
    try:
        fd = lock_file.descriptor()
        if fd is not None:
            fcntl.lockf(fd, fcntl.LOCK_EX, 1, slot)  # blocks in the kernel, the GIL released
        try:
            yield
        finally:
            if fd is not None:
                fcntl.lockf(fd, fcntl.LOCK_UN, 1, slot)
    finally:
        thread_lock.release()
