"""Card payments against localstripe: one server per test session, started from scratch.

localstripe keeps its state in ``localstripe.pickle`` in the temp dir; each session gives it
a private TMPDIR so two runs (SQLite and PostgreSQL) never share it. If it cannot start the
tests fail: a skipped payment suite would look green.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import stripe

from tests.conftest import make_app

WEBHOOK_SECRET = "whsec_test"
SECRET_KEY = "sk_test_12345"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def localstripe():
    """The base URL of a fresh localstripe server."""
    exe = Path(sys.executable).with_name("localstripe")
    if not exe.exists():
        pytest.fail(f"localstripe is not installed in this venv ({exe}): pip install -e '.[dev]'")
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="localstripe-")
    log = open(os.path.join(workdir, "server.log"), "wb")
    proc = subprocess.Popen([str(exe), "--port", str(port), "--from-scratch"], stdout=log,
                            stderr=subprocess.STDOUT, env={**os.environ, "TMPDIR": workdir})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"localstripe exited ({proc.returncode}); see {log.name}")
            try:
                urllib.request.urlopen(base + "/v1/customers", timeout=1)
                break
            except urllib.error.HTTPError:
                break  # answering (401 without a key) is enough
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"localstripe did not answer on {base}; see {log.name}")
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def stripe_settings(base: str) -> dict:
    """The app settings that point card payments at the localstripe server at ``base``."""
    return dict(STRIPE_SECRET_KEY=SECRET_KEY, STRIPE_PUBLISHABLE_KEY="pk_test_12345",
                STRIPE_API_BASE=base, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)


@pytest.fixture(scope="session")
def app(app, localstripe, database_uri):
    """The test app with Stripe pointed at localstripe (schema made by the parent fixture).
    The stripe module's globals, used by tests to play the browser, are restored after."""
    saved = (stripe.api_key, stripe.api_base)
    stripe.api_key, stripe.api_base = SECRET_KEY, localstripe
    try:
        yield make_app(database_uri, **stripe_settings(localstripe))
    finally:
        stripe.api_key, stripe.api_base = saved
