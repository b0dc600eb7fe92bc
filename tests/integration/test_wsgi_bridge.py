"""fhircast_hub.wsgi_bridge over real HTTP: uvicorn (uvloop + httptools when installed) in a
thread of the test process, serving small WSGI applications through the bridge."""

import hashlib
import http.client
import json
import os
import socket
import sys
import threading
import time
import urllib.request
from urllib.parse import quote

import pytest
import uvicorn
from django.db import connection

from fhircast_hub.wsgi_bridge import WSGIBridge
from sandbox_project.management.commands.sandbox import _fast_server_options


LIMIT = 1_000_000


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Served:
    """A WSGI app behind the bridge behind uvicorn, in a thread; ``url`` is its base URL."""

    def __init__(self, wsgi_app, **bridge_options):
        self.bridge = WSGIBridge(wsgi_app, **{"max_body_bytes": LIMIT, **bridge_options})
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            self.bridge,
            host="127.0.0.1",
            port=port,
            lifespan="off",
            log_level="warning",
            **_fast_server_options(),
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)
        self.bridge.executor.shutdown(wait=False, cancel_futures=True)

    def connection(self):
        return http.client.HTTPConnection("127.0.0.1", int(self.url.rsplit(":", 1)[1]), timeout=30)


def wait_for(event, what, timeout=20):
    """Wait for a threading.Event (a deadline against hangs, not a timing assertion)."""
    assert event.wait(timeout), f"{what} did not happen"


# --- applications ------------------------------------------------------------------------------


class Recorder:
    """Records the environ of the last request and which iterables were closed."""

    def __init__(self):
        self.environ = None
        self.closed = threading.Event()
        self.threads = set()


class ClosingIterable:
    """A streaming iterable (no ``streaming`` attribute, not a list) with a close() to observe."""

    def __init__(self, chunks, closed, delay=0.0):
        self.chunks = chunks
        self.closed = closed
        self.delay = delay

    def __iter__(self):
        for chunk in self.chunks:
            if self.delay:
                time.sleep(self.delay)
            yield chunk

    def close(self):
        self.closed.set()


def make_app(recorder, big_file=None):
    def app(environ, start_response):
        recorder.environ = {k: v for k, v in environ.items() if k != "wsgi.input"}
        recorder.threads.add(threading.current_thread().name)
        path = environ["PATH_INFO"]
        if path == "/echo":
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            start_response("200 OK", [("Content-Type", "application/octet-stream")])
            return [body]
        if path == "/environ":
            data = json.dumps(
                {k: v for k, v in recorder.environ.items() if isinstance(v, str)}, ensure_ascii=True
            ).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [data]
        if path == "/file":
            size = os.path.getsize(big_file)
            start_response("200 OK", [("Content-Length", str(size))])
            return environ["wsgi.file_wrapper"](ReadTracking(open(big_file, "rb"), recorder), 4096)
        if path == "/stream":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return ClosingIterable([b"one,", b"", b"two,", b"three"], recorder.closed)
        if path == "/endless":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return ClosingIterable(iter(lambda: b"x" * 1024, None), recorder.closed, delay=0.01)
        if path == "/exc-info":
            start_response("200 OK", [("Content-Type", "text/plain")])
            try:
                raise ValueError("late failure")
            except ValueError:
                start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
            return ClosingIterable([b"replaced"], recorder.closed)
        if path == "/raises":
            raise RuntimeError("application error")
        if path.startswith("/call-self"):
            # Waits for a request to this same server: needs a second pool thread.
            base = environ["wsgi.url_scheme"] + "://" + environ["HTTP_HOST"]
            with urllib.request.urlopen(base + "/echo", data=b"inner", timeout=20) as response:
                inner = response.read()
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"outer+" + inner]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]

    return app


class ReadTracking:
    """A file that records the largest single read (streamed, not read whole)."""

    def __init__(self, file, recorder):
        self.file = file
        self.recorder = recorder
        recorder.largest_read = 0

    def read(self, size=-1):
        data = self.file.read(size)
        self.recorder.largest_read = max(self.recorder.largest_read, len(data))
        return data

    def close(self):
        self.file.close()
        self.recorder.closed.set()


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("bridge") / "big.bin"
    block = hashlib.sha256(b"seed").digest() * 4096  # 128 KiB
    with open(path, "wb") as out:
        for i in range(160):  # 20 MiB
            out.write(bytes([i % 256]) + block[1:])
    return path


@pytest.fixture(scope="module")
def recorder():
    return Recorder()


@pytest.fixture(scope="module")
def served(recorder, big_file):
    served = Served(make_app(recorder, big_file), threads=4)
    yield served
    served.stop()


@pytest.fixture(autouse=True)
def _fresh(recorder):
    recorder.closed.clear()
    recorder.threads.clear()


# --- tests -------------------------------------------------------------------------------------


def test_a_large_file_streams_complete_in_blocks(served, recorder, big_file):
    expected = hashlib.sha256(big_file.read_bytes()).hexdigest()
    with urllib.request.urlopen(served.url + "/file", timeout=30) as response:
        assert response.status == 200
        assert response.headers["Content-Length"] == str(big_file.stat().st_size)
        digest = hashlib.sha256()
        while chunk := response.read(65536):
            digest.update(chunk)
    assert digest.hexdigest() == expected
    wait_for(recorder.closed, "the file's close()")
    assert 0 < recorder.largest_read < big_file.stat().st_size  # read in blocks, not whole


def test_a_streaming_iterable_is_sent_whole_and_closed(served, recorder):
    with urllib.request.urlopen(served.url + "/stream", timeout=30) as response:
        assert response.read() == b"one,two,three"
        assert response.headers["Transfer-Encoding"] == "chunked"
    wait_for(recorder.closed, "close()")


def test_a_post_body_arrives_intact(served):
    body = os.urandom(LIMIT)  # exactly the limit: accepted
    request = urllib.request.Request(served.url + "/echo", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.read() == body


def test_a_chunked_post_body_arrives_intact_with_its_length(served):
    conn = served.connection()
    conn.request("POST", "/echo", body=iter([b"abc", b"", b"def" * 1000]), encode_chunked=True)
    response = conn.getresponse()
    assert response.status == 200
    assert response.read() == b"abc" + b"def" * 1000


def test_an_oversize_body_gets_413_without_calling_the_app(served, recorder):
    recorder.environ = None
    conn = served.connection()
    conn.request("POST", "/echo", body=b"x" * (LIMIT + 1))
    response = conn.getresponse()
    assert response.status == 413
    assert b"larger than" in response.read()
    assert recorder.environ is None


def test_an_oversize_chunked_body_gets_413(served, recorder):
    recorder.environ = None
    conn = served.connection()
    chunks = iter([b"y" * 300_000] * 4)  # no Content-Length; the limit is found while reading
    conn.request("POST", "/echo", body=chunks, encode_chunked=True)
    response = conn.getresponse()
    assert response.status == 413
    assert recorder.environ is None


def test_an_oversize_body_with_expect_continue_is_refused_before_it_is_sent(served):
    with socket.create_connection(("127.0.0.1", int(served.url.rsplit(":", 1)[1])), timeout=20) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n"
            % (LIMIT * 50)
        )
        head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 413 ")


def test_query_string_and_server_fields(served):
    with urllib.request.urlopen(served.url + "/environ?a=1&b=%C3%A9+x&c", timeout=30) as response:
        environ = json.loads(response.read())
    assert environ["QUERY_STRING"] == "a=1&b=%C3%A9+x&c"
    assert environ["REQUEST_METHOD"] == "GET"
    assert environ["SERVER_NAME"] == "127.0.0.1"
    assert environ["SERVER_PORT"] == served.url.rsplit(":", 1)[1]
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["SCRIPT_NAME"] == ""


def test_non_ascii_path_is_utf8_in_a_latin1_string(served, recorder):
    conn = served.connection()
    conn.request(
        "GET",
        "/" + quote("dossier/é ü/患者"),
        headers={"X-Custom": "a", "X_Custom": "spoof", "Cookie": "a=1"},
    )
    response = conn.getresponse()
    response.read()
    assert response.status == 404
    path = recorder.environ["PATH_INFO"]
    assert path.encode("latin-1").decode("utf-8") == "/dossier/é ü/患者"
    assert recorder.environ["HTTP_X_CUSTOM"] == "a"  # the underscore twin is dropped
    assert recorder.environ["HTTP_COOKIE"] == "a=1"
    assert "CONTENT_LENGTH" not in recorder.environ


def test_exc_info_before_anything_is_sent_replaces_the_status(served, recorder):
    conn = served.connection()
    conn.request("GET", "/exc-info")
    response = conn.getresponse()
    assert response.status == 503
    assert response.read() == b"replaced"
    wait_for(recorder.closed, "close()")


def test_an_application_error_is_a_500_and_the_server_goes_on(served):
    conn = served.connection()
    conn.request("GET", "/raises")
    response = conn.getresponse()
    assert response.status == 500
    response.read()
    with urllib.request.urlopen(served.url + "/stream", timeout=30) as ok:
        assert ok.status == 200


def test_a_client_that_leaves_a_stream_stops_it_and_close_is_called(served, recorder):
    conn = served.connection()
    conn.request("GET", "/endless")
    response = conn.getresponse()
    assert response.status == 200
    assert response.read(4096)
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    wait_for(recorder.closed, "close() after the client left")


def test_a_request_waiting_for_a_call_back_into_the_same_server_completes(served):
    with urllib.request.urlopen(served.url + "/call-self", timeout=30) as response:
        assert response.read() == b"outer+inner"


def _calls_back_at_once(threads, count=4):
    """``count`` requests at once that each wait for a call back into the server: their bodies."""
    served = Served(make_app(Recorder()), threads=threads)
    try:
        results = []

        def call():
            with urllib.request.urlopen(served.url + "/call-self", timeout=30) as response:
                results.append(response.read())

        callers = [threading.Thread(target=call) for _ in range(count)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(60)
        return results
    finally:
        served.stop()


def test_concurrent_calls_back_into_the_same_server_complete():
    assert _calls_back_at_once(threads=8) == [b"outer+inner"] * 4


def test_requests_that_hold_every_thread_waiting_for_calls_back_get_spare_threads():
    """Two threads, four requests that each wait for a call back into this server: the waiting
    inner calls would never get a thread; after stall_seconds they get a spare one."""
    assert _calls_back_at_once(threads=2) == [b"outer+inner"] * 4


def test_without_spare_threads_a_full_pool_of_waiting_requests_stalls():
    """The case the spare threads exist for: one thread, no spares, a call back into the server
    waits until the caller gives up."""
    recorder = Recorder()
    served = Served(make_app(recorder), threads=1, spare_threads=0)
    try:
        with pytest.raises(OSError):
            urllib.request.urlopen(served.url + "/call-self", timeout=2).read()
    finally:
        served.stop()


def test_the_sandbox_bridge_limit_leaves_the_apps_their_own_413():
    from fhircast_hub.asgi import max_body_bytes
    from fhircast_hub.conf import hub_settings
    from smart_fhir.conf import fhir_settings

    assert max_body_bytes() > max(fhir_settings.MAX_BODY_BYTES, hub_settings.MAX_BODY_BYTES)


@pytest.mark.django_db(transaction=True)
def test_django_behind_the_bridge_finishes_each_request_in_its_pool_thread():
    """Django's WSGI handler and StaticFilesHandler, as sandbox_project.asgi mounts them: a view,
    and a static file streamed through FileResponse and wsgi.file_wrapper; request_finished fires
    (close()) in the thread that ran the request."""
    from django.contrib.staticfiles import finders
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.signals import request_finished
    from django.core.wsgi import get_wsgi_application

    finished = []

    def on_finished(sender, **kwargs):
        finished.append(threading.current_thread().name)

    request_finished.connect(on_finished)
    served = Served(StaticFilesHandler(get_wsgi_application()), threads=2)
    try:
        with urllib.request.urlopen(served.url + "/fhir/.well-known/smart-configuration", timeout=30) as r:
            assert r.status == 200
            assert json.loads(r.read())["token_endpoint"]
        name = "admin/js/vendor/xregexp/xregexp.js"
        with urllib.request.urlopen(f"{served.url}/static/{name}", timeout=30) as r:
            assert r.read() == open(finders.find(name), "rb").read()
    finally:
        served.stop()
        request_finished.disconnect(on_finished)
    assert len(finished) == 2
    assert all(name.startswith("wsgi-bridge") for name in finished)


def test_several_sqlite_workers_get_one_bridge_thread_each(monkeypatch):
    """``sandbox --workers N`` (N > 1) on SQLite serves with one thread per worker, the
    configuration benchmarks/README.md measured; one process, or an explicit value, is kept."""
    from sandbox_project.management.commands.sandbox import _one_thread_per_sqlite_worker

    monkeypatch.delenv("SANDBOX_WSGI_THREADS", raising=False)
    _one_thread_per_sqlite_worker(1)
    assert "SANDBOX_WSGI_THREADS" not in os.environ
    _one_thread_per_sqlite_worker(2)
    if connection.vendor == "sqlite":
        assert os.environ["SANDBOX_WSGI_THREADS"] == "1"
    else:  # PostgreSQL keeps the bridge's default
        assert "SANDBOX_WSGI_THREADS" not in os.environ
    monkeypatch.delenv("SANDBOX_WSGI_THREADS", raising=False)
    monkeypatch.setenv("SANDBOX_WSGI_THREADS", "3")
    _one_thread_per_sqlite_worker(2)
    assert os.environ["SANDBOX_WSGI_THREADS"] == "3"
