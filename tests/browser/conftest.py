"""Browser tests: the sandbox started as the README does (``manage.py sandbox``: three
processes), driven by Playwright in Debian's headless Chromium."""

import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sandbox_project.scripted import ROOT, free_port
from tests.conftest import tool_missing


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = ROOT / "docs" / "screenshots"


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    port = free_port()
    while any(_busy(port + i) for i in range(3)):
        port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
    env["SANDBOX_DATA_DIR"] = str(tmp_path_factory.mktemp("browser-sandbox"))
    for name in ("SANDBOX_EHR_URL", "SANDBOX_IMAGING_URL", "SANDBOX_APP_URL"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "sandbox", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    urls, lines, up = {}, [], threading.Event()

    def read():
        for line in process.stdout:
            lines.append(line.rstrip())
            match = re.match(r"READY (\S+) (\w+)", line)
            if match:
                urls[match.group(2)] = match.group(1)
                if len(urls) == 3:
                    up.set()

    threading.Thread(target=read, daemon=True).start()
    if not up.wait(300):
        process.terminate()
        # The head shows how far each deployment got ("database migrated", "demo data loaded"),
        # the tail why it stopped there.
        shown = lines if len(lines) <= 60 else [*lines[:20], "[…]", *lines[-40:]]
        pytest.fail("sandbox did not start within 300 s:\n" + "\n".join(shown))
    urls["data_dir"] = env["SANDBOX_DATA_DIR"]
    yield urls
    process.send_signal(2)  # Ctrl-C, as a person stops it
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("the sandbox did not stop on Ctrl-C")
    assert "sandbox stopped" in "\n".join(lines[-5:])


def _busy(port):
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def chromium():
    # Module scope: Playwright's sync API keeps an event loop running in this thread while it is
    # open, which asyncio tests collected later could not share.
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        tool_missing(
            "Debian's chromium is not installed and scripts/test could not install it "
            "(needs apt-get as root or sudo): apt-get install chromium"
        )
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20000)
    yield page
    context.close()


def shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page, username):
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", username)
    page.click("button[type=submit]")


def sign_in_if_asked(page, username, expected):
    """After a click that navigates: wait for ``expected`` or the login form (the navigation may
    still be under way, so counting login fields at once races it), signing in on the form."""
    login = page.locator("input[name=password]")
    login.or_(page.locator(expected)).first.wait_for()
    if login.count():
        sign_in(page, username)
    page.wait_for_selector(expected)
