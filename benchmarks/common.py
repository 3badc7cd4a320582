"""Shared benchmark plumbing: a scratch database, gunicorn on a free port, a load driver.

Benchmarks print figures; they assert nothing. They need PostgreSQL (DATABASE_URL) and
Redis (REDIS_URL) and exit non-zero without them. Traffic goes to 127.0.0.1 only, for a
bounded time.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def require_services() -> tuple[str, str]:
    database_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if not database_url or not database_url.startswith(("postgresql", "postgres")):
        sys.exit("DATABASE_URL must point at PostgreSQL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    if not redis_url:
        sys.exit("REDIS_URL must be set (e.g. redis://127.0.0.1:6379/0)")
    return database_url, redis_url


def scratch_database(database_url: str, name: str) -> str:
    """(Re)create database ``name`` on the same server; returns its URL."""
    import sqlalchemy as sa

    from marketplace.config import normalise_database_url

    url = sa.engine.make_url(normalise_database_url(database_url))
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """gunicorn with 4 sync workers serving ``app`` on 127.0.0.1 (a context manager)."""

    def __init__(self, app: str, env: dict, workers: int = 4):
        self.port = free_port()
        self.app, self.env, self.workers = app, env, workers

    def __enter__(self):
        import tempfile

        env = dict(os.environ, **self.env)
        # The app logs a JSON line per request: send it to a file, never to an unread pipe.
        self.log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "-w", str(self.workers), "-k", "sync", "-b",
             f"127.0.0.1:{self.port}", "--log-level", "warning", "--chdir", str(ROOT), self.app],
            env=env, stdout=subprocess.DEVNULL, stderr=self.log, start_new_session=True,
        )
        deadline = time.time() + 120  # a busy machine imports slowly
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2)
                return self
            except Exception:  # noqa: BLE001 - not up yet
                if self.proc.poll() is not None:
                    raise SystemExit(f"gunicorn died, see {self.log.name}")
                time.sleep(0.3)
        self.__exit__()  # never leave it running behind us
        raise SystemExit("gunicorn did not start in 120 s")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __exit__(self, *exc):
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=20)


def load(url: str, seconds: int = 5, connections: int = 16, headers: dict | None = None) -> dict:
    """Drive ``url`` for ``seconds``: rps, p50 and p99 in ms, non-2xx count."""
    headers = headers or {}
    urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30).read()  # warm up
    if shutil.which("wrk"):
        return _wrk(url, seconds, connections, headers)
    return _python_load(url, seconds, connections, headers)


def _wrk(url: str, seconds: int, connections: int, headers: dict) -> dict:
    extra = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", *extra, url],
        capture_output=True, text=True, check=True, timeout=seconds + 30).stdout

    def ms(label):
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)", out, re.M)
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p50_ms": ms("50"), "p99_ms": ms("99"), "non_2xx": int(bad.group(1)) if bad else 0,
            "tool": "wrk"}


def _python_load(url: str, seconds: int, connections: int, headers: dict) -> dict:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    latencies: list[float] = []
    errors = [0]
    stop = time.time() + seconds
    lock = threading.Lock()

    def worker():
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        mine = []
        while time.time() < stop:
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append((time.perf_counter() - started) * 1000)
            if response.status >= 400:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    return {"rps": len(latencies) / seconds, "p50_ms": latencies[len(latencies) // 2],
            "p99_ms": latencies[int(len(latencies) * 0.99)], "non_2xx": errors[0], "tool": "python"}


def line(name: str, figures: dict) -> str:
    return (f"target={name} rps={figures['rps']:.0f} p50_ms={figures['p50_ms']:.1f} "
            f"p99_ms={figures['p99_ms']:.1f} errors={figures['non_2xx']}")
