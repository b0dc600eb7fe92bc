"""A small ASGI→WSGI adapter: serve a WSGI application (Django's WSGI handler) from an ASGI server,
next to ASGI WebSocket consumers on the same port.

Why hand-written rather than a2wsgi: a2wsgi's ``WSGIMiddleware`` hands every request to a thread,
and the thread hands every message back to the event loop (start, each body chunk), one cross-thread
round trip per message. On the sandbox's discovery endpoint (wrk -t2 -c16, 2 uvicorn workers,
SQLite, a 2-core machine) that measured 1,843 req/s with uvicorn's defaults and 2,877 req/s with
uvloop + httptools (550-720 µs of server CPU per request); this adapter, which makes one handoff per
request (the body is read in the event loop, the whole buffered response comes back as the thread's
result), measured 4,300-5,200 req/s as a prototype in the same setup, and 317-390 µs of server CPU
per request as this module: a2wsgi halves the throughput here. Django's own ASGI handler
(``get_asgi_application()``) took about 2,100 µs per request. Running the WSGI application inline in
the event loop would be faster still, but a deployment must be able to answer a call back into
itself while one of its requests waits for it (the EHR's patient resolver asks the imaging server,
which introspects the token at the EHR), so the application runs in a fixed thread pool.

What it does, per HTTP request (``scope["type"] == "http"``):

- Reads the whole request body in the event loop, up to ``max_body_bytes``. A body over the limit
  (by ``Content-Length`` or as it arrives) is answered ``413`` without calling the application;
  a client that sent ``Expect: 100-continue`` is answered before it sends the body, any other
  client's body is read and discarded first (up to the limit again) so it can read the answer.
  Set the limit above every limit of the application's own, so those keep their own 413 bodies.
- Builds a PEP 3333 environ (``SCRIPT_NAME`` from ``root_path``, ``PATH_INFO`` as UTF-8 bytes in
  a latin-1 string, ``QUERY_STRING``, ``CONTENT_LENGTH`` of the body as read, even for a chunked
  request, ``HTTP_*`` headers (repeated ones joined; names with ``_`` are dropped, as Django's
  ``runserver`` and gunicorn do, so ``X_Forwarded_For`` cannot pose as ``X-Forwarded-For``),
  ``SERVER_NAME``/``SERVER_PORT``, ``REMOTE_ADDR``, ``wsgi.url_scheme`` ``https`` behind TLS),
  and calls the application in a ``ThreadPoolExecutor`` of ``threads`` threads (default 2: more
  threads, each holding the GIL in turn while another holds SQLite's write lock or a row lock,
  served fewer token requests per second on 2 cores: client_credentials 460 req/s with 2 threads,
  392 with 4, 283-379 with 8). A request that has waited ``stall_seconds`` (0.25 s) without a
  thread, which CPU queueing alone does not cause at these loads, runs on one of
  ``spare_threads`` (14) instead: the threads are then held by requests waiting for calls back
  into this server, and a fixed small pool would stall until their timeouts.
- A buffered response (a list or tuple, or an iterable whose ``streaming`` attribute is False, as
  Django's ``HttpResponse``) is joined in the thread and sent in one message. Any other iterable
  (``StreamingHttpResponse``, ``FileResponse``, this adapter's ``wsgi.file_wrapper``) is streamed
  chunk by chunk from its thread, each chunk sent before the next is read (the server's
  back-pressure holds the thread, not memory); files are read in ``file_block_size`` blocks.
- ``close()`` of the application's iterable is always called, in the thread that ran the
  request (Django's ``request_finished`` signal, which closes that thread's database connections).
- ``start_response(status, headers, exc_info)`` follows PEP 3333: before anything is sent an error
  may replace the status and headers; after, the error is re-raised. An application that raises
  before anything is sent gets a plain 500.
- A client that disconnects while a response streams stops the streaming at the next chunk.

Other scope types (``websocket``, ``lifespan``) are not handled: route them before this adapter
(Channels' ``ProtocolTypeRouter``, as ``sandbox_project.asgi`` does; run uvicorn with
``lifespan="off"`` or route ``lifespan``). The module uses the standard library only.
"""

import asyncio
import functools
import io
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout


__all__ = ["WSGIBridge", "FileWrapper", "build_environ"]

DEFAULT_THREADS = 2
DEFAULT_SPARE_THREADS = 14
DEFAULT_STALL_SECONDS = 0.25
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_FILE_BLOCK_SIZE = 256 * 1024


class ClientGone(Exception):
    """The client disconnected while a response was streaming."""


class FileWrapper:
    """``wsgi.file_wrapper``: a file read in blocks of at least ``min_block_size`` bytes (Django's
    ``FileResponse`` asks for 4 KiB blocks, one cross-thread handoff each when streamed)."""

    def __init__(self, filelike, block_size=8192, min_block_size=DEFAULT_FILE_BLOCK_SIZE):
        self.filelike = filelike
        self.block_size = max(block_size, min_block_size)

    def __iter__(self):
        read, size = self.filelike.read, self.block_size
        while True:
            data = read(size)
            if not data:
                return
            yield data

    def close(self):
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


def build_environ(scope, body):
    """The PEP 3333 environ of an ASGI HTTP ``scope`` whose body (bytes) has been read."""
    root_path = scope.get("root_path", "")
    path = scope["path"]
    if root_path and path.startswith(root_path):  # ASGI's path includes root_path; WSGI's does not
        path = path[len(root_path) :]
    server = scope.get("server") or ("localhost", 80)
    environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": root_path.encode("utf-8").decode("latin-1"),
        "PATH_INFO": path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1] if server[1] is not None else 0),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileWrapper,
    }
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = client[0]
        environ["REMOTE_PORT"] = str(client[1])
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        if "_" in name:
            continue
        if name == "content-type":
            key = "CONTENT_TYPE"
        elif name == "content-length":
            continue  # set below from the body actually read
        else:
            key = "HTTP_" + name.upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if key in environ:
            value = environ[key] + ("; " if key == "HTTP_COOKIE" else ",") + value
        environ[key] = value
    if body or scope["method"] not in ("GET", "HEAD", "OPTIONS", "DELETE"):
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ


class _Response:
    """The status and headers set by ``start_response``, and whether they have been sent."""

    __slots__ = ("status", "headers", "sent")

    def __init__(self):
        self.status = None
        self.headers = None
        self.sent = False

    def start_response(self, status, headers, exc_info=None):
        if exc_info is not None:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # no reference cycle through the traceback
        elif self.status is not None:
            raise AssertionError("start_response() called twice without exc_info")
        self.status = int(status.split(" ", 1)[0])
        self.headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        return self._write

    def _write(self, data):  # PEP 3333's legacy write(); Django does not use it
        raise NotImplementedError("this adapter does not support start_response()'s write()")

    def start_message(self):
        if self.status is None:
            raise RuntimeError("the WSGI application did not call start_response()")
        self.sent = True
        return {"type": "http.response.start", "status": self.status, "headers": self.headers}


def _is_buffered(result):
    return isinstance(result, (list, tuple)) or getattr(result, "streaming", None) is False


class WSGIBridge:
    """ASGI application serving ``wsgi_app`` (see the module's documentation)."""

    def __init__(
        self,
        wsgi_app,
        *,
        threads=DEFAULT_THREADS,
        max_body_bytes=DEFAULT_MAX_BODY_BYTES,
        file_block_size=DEFAULT_FILE_BLOCK_SIZE,
        spare_threads=DEFAULT_SPARE_THREADS,
        stall_seconds=DEFAULT_STALL_SECONDS,
    ):
        if threads < 1:
            raise ValueError("threads must be at least 1")
        self.wsgi_app = wsgi_app
        self.threads = threads
        self.stall_seconds = stall_seconds
        self.max_body_bytes = max_body_bytes
        self.file_block_size = file_block_size
        self._file_wrapper = functools.partial(FileWrapper, min_block_size=file_block_size)
        # Threads start on first use (after uvicorn's worker processes have started).
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wsgi-bridge")
        self.spare = (
            ThreadPoolExecutor(max_workers=spare_threads, thread_name_prefix="wsgi-bridge-spare")
            if spare_threads
            else None
        )

    async def _run(self, function, *args):
        """``function(*args)`` in a thread: one of the ``threads`` as a rule; a spare one when the
        request has waited ``stall_seconds`` without starting (every thread is held by requests
        that are waiting, most likely for calls back into this very server)."""
        future = self.executor.submit(function, *args)
        waiting = asyncio.wrap_future(future)
        if self.spare is not None:
            done, _pending = await asyncio.wait({waiting}, timeout=self.stall_seconds)
            if not done and future.cancel():
                waiting = asyncio.wrap_future(self.spare.submit(function, *args))
        return await waiting

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"WSGIBridge serves HTTP only, not {scope['type']!r}; route it before")
        body = await self._read_body(scope, receive, send)
        if body is None:
            return
        environ = build_environ(scope, body)
        environ["wsgi.file_wrapper"] = self._file_wrapper
        loop = asyncio.get_running_loop()
        streaming = _Streaming(loop, receive, send)
        try:
            result = await self._run(self._call, environ, streaming)
        except Exception:
            if streaming.response.sent:
                raise
            await _send_plain(send, 500, b"Internal Server Error")
            raise
        if result is not None:  # buffered: (start message, body)
            await send(result[0])
            await send({"type": "http.response.body", "body": result[1]})
            return
        # Streamed from the thread; the thread ended after sending the last chunk or on disconnect.

    async def _read_body(self, scope, receive, send):
        """The request body, or None when the request was answered (413) or the client left."""
        limit = self.max_body_bytes
        declared = None
        expects_continue = False
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
            elif name == b"expect" and value.lower() == b"100-continue":
                expects_continue = True
        if declared is not None and declared > limit:
            if not expects_continue and not await self._discard(receive, limit):
                return None
            await _too_large(send, limit)
            return None
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    more = message.get("more_body", False)
                    if more and not await self._discard(receive, limit):
                        return None
                    await _too_large(send, limit)
                    return None
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    @staticmethod
    async def _discard(receive, budget):
        """Read and drop the rest of a refused body, so the client can read the 413 rather than
        a reset connection; False when the client left or sent more than ``budget`` bytes."""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return False
            budget -= len(message.get("body", b""))
            if budget < 0:
                return True  # answered with Connection: close anyway
            if not message.get("more_body", False):
                return True

    def _call(self, environ, streaming):
        """In a pool thread: run the application; a buffered response is returned as
        (start message, body), a streamed one is sent from here and None is returned."""
        response = streaming.response
        result = self.wsgi_app(environ, response.start_response)
        try:
            if _is_buffered(result):
                body = b"".join(result)
                return response.start_message(), body
            streaming.stream(result)
            return None
        except ClientGone:
            return None
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()


class _Streaming:
    """Sends a streamed response from its pool thread to the event loop, one chunk at a time."""

    def __init__(self, loop, receive, send):
        self.loop = loop
        self._receive = receive
        self.send = send
        self.response = _Response()
        self.gone = None

    def stream(self, result):
        self.gone = threading.Event()
        started = False
        watcher = asyncio.run_coroutine_threadsafe(self._watch_disconnect(), self.loop)
        try:
            for chunk in result:
                if self.gone.is_set():
                    raise ClientGone
                if not chunk:
                    continue
                if not started:
                    self._send(self.response.start_message())
                    started = True
                self._send({"type": "http.response.body", "body": bytes(chunk), "more_body": True})
            if not started:
                self._send(self.response.start_message())
            self._send({"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()

    async def _watch_disconnect(self):
        # Set as a task by run_coroutine_threadsafe; receive() is not otherwise awaited once the
        # body has been read, so it tells of a disconnect (or of the response's end).
        receive = self._receive
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.gone.set()
                return

    def _send(self, message):
        future = asyncio.run_coroutine_threadsafe(self.send(message), self.loop)
        while True:
            try:
                return future.result(timeout=1.0)
            except FutureTimeout:  # a slow reader: wait on, unless it left or the loop stopped
                if self.gone.is_set() or self.loop.is_closed():
                    future.cancel()
                    raise ClientGone from None
            except OSError:
                raise ClientGone from None


async def _send_plain(send, status, body, extra_headers=()):
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *extra_headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _too_large(send, limit):
    body = f"Request body larger than {limit} bytes.\n".encode()
    await _send_plain(send, 413, body, [(b"connection", b"close")])
