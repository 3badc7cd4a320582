"""Test set-up: SQLite by default; PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set.

With CI=true both services are required: an unreachable one fails the run, never skips.
Each test starts from empty tables (truncated after every test), so order never matters.
"""
from __future__ import annotations

import os
import re
import tempfile
import uuid

import pytest
from flask.testing import FlaskClient

os.environ.setdefault("MARKETPLACE_ENV", "testing")

from sqlalchemy import create_engine, text  # noqa: E402

RUN_ID = uuid.uuid4().hex[:8]
DATABASE_URL = os.environ.get("DATABASE_URL")
REDIS_URL = os.environ.get("REDIS_URL")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _check_services() -> None:
    problems = []
    if IN_CI and not DATABASE_URL:
        problems.append("CI=true but DATABASE_URL is not set")
    if IN_CI and not REDIS_URL:
        problems.append("CI=true but REDIS_URL is not set")
    if DATABASE_URL:
        from marketplace.config import normalise_database_url

        try:
            engine = create_engine(normalise_database_url(DATABASE_URL))
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
        except Exception as exc:  # noqa: BLE001
            problems.append(f"DATABASE_URL unreachable: {exc}")
    if REDIS_URL:
        from redis import Redis

        try:
            Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
        except Exception as exc:  # noqa: BLE001
            problems.append(f"REDIS_URL unreachable: {exc}")
    if problems:
        pytest.exit("; ".join(problems), returncode=3)


def pytest_sessionstart(session):
    _check_services()


@pytest.fixture(scope="session")
def database_uri():
    from marketplace.config import normalise_database_url

    if DATABASE_URL:
        return normalise_database_url(DATABASE_URL)
    path = os.path.join(tempfile.mkdtemp(prefix="marketplace-test-"), "test.db")
    return f"sqlite:///{path}"


def make_app(database_uri: str, **overrides):
    from marketplace.app import create_app

    config = dict(
        SQLALCHEMY_DATABASE_URI=database_uri,
        REDIS_URL=REDIS_URL,
        JOBS_INLINE=not REDIS_URL,
        QUEUE_PREFIX=f"test-{RUN_ID}-",
        RATELIMIT_STORAGE_URI=REDIS_URL or "memory://",
        RATELIMIT_KEY_PREFIX=f"test-{RUN_ID}-{uuid.uuid4().hex[:6]}",
        BASE_URL="http://localhost",
        UPLOAD_DIR=tempfile.mkdtemp(prefix="marketplace-uploads-"),
    )
    config.update(overrides)
    app = create_app("testing", **config)
    app.test_client_class = FreshContextClient
    _EXTRA_APPS.append(app)
    return app


# Apps a test makes for itself (race tests with their own pools, other settings): their
# idle pooled connections are closed after each test, so that the suite stays well under
# PostgreSQL's max_connections however many such apps it makes.
_EXTRA_APPS: list = []


def _close_extra_pools() -> None:
    from marketplace.extensions import db

    while _EXTRA_APPS:
        extra = _EXTRA_APPS.pop()
        with extra.app_context():
            for engine in db.engines.values():
                engine.dispose()


class FreshContextClient(FlaskClient):
    """Each request gets its own app context (own ``g`` and DB session), as in production,
    even while a test holds an app context to arrange or check data."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture(scope="session")
def app(database_uri):
    app = make_app(database_uri)
    _EXTRA_APPS.remove(app)  # the suite's own app keeps its pool
    with app.app_context():
        from flask_migrate import upgrade

        from marketplace.extensions import db

        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade()  # the real migrations, not create_all
        db.session.remove()
    yield app


def _truncate(app) -> None:
    from marketplace.extensions import db

    with app.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if db.engine.dialect.name == "postgresql":
                conn.execute(text("TRUNCATE %s RESTART IDENTITY CASCADE" % ", ".join(
                    f'"{t}"' for t in tables)))
            else:
                for table in tables:
                    conn.execute(text(f'DELETE FROM "{table}"'))
        cache = app.extensions.get("territory_domains")
        if cache is not None:
            cache.invalidate()
        rows = app.extensions.get("territory_rows")
        if rows is not None:
            rows.forget()
    if REDIS_URL:
        # Cached pages, search answers and queued jobs of this run: ids restart at 1 in the
        # next test, so nothing may survive it.
        from redis import Redis

        conn = Redis.from_url(REDIS_URL)
        keys = list(conn.scan_iter(match=f"test-{RUN_ID}-*", count=1000))
        if keys:
            conn.delete(*keys)


@pytest.fixture(autouse=True)
def _clean(request):
    yield
    _close_extra_pools()
    if "app" in request.fixturenames:
        app = request.getfixturevalue("app")
        _truncate(app)
        from marketplace.extensions import limiter

        with app.app_context():
            try:
                limiter.reset()
            except Exception:  # noqa: BLE001 - storage without reset support
                pass


@pytest.fixture
def db(app):
    """The session, inside an app context, for arranging and checking data."""
    from marketplace.extensions import db as _db

    with app.app_context():
        yield _db
        _db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make(app):
    from tests import factories

    return factories.Factory(app)


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client, url: str = "/account/login") -> str:
    response = client.get(url)
    match = CSRF_RE.search(response.get_data(as_text=True))
    assert match, f"no CSRF token on {url} ({response.status_code})"
    return match.group(1)


def post(client, url: str, data: dict | None = None, token_from: str = "/account/login", **kwargs):
    """POST a form the way a browser does: with the CSRF token from a page of the site."""
    payload = dict(data or {})
    payload.setdefault("csrf_token", csrf_token(client, token_from))
    return client.post(url, data=payload, **kwargs)


def login(client, email: str, password: str = "a-strong-password-1"):
    response = post(client, "/account/login", {"email": email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return response


@pytest.fixture
def run_jobs(app):
    """Drain the RQ queues with a burst worker when Redis is configured (inline: nothing)."""

    def drain():
        if not app.config.get("REDIS_URL") or app.config.get("JOBS_INLINE"):
            return 0
        from rq import SimpleWorker

        from marketplace.queue import QUEUES, get_queue, redis_connection

        with app.app_context():
            worker = SimpleWorker([get_queue(q, app) for q in QUEUES],
                                  connection=redis_connection(app))
            worker.work(burst=True, with_scheduler=False)
            return worker.successful_job_count

    return drain
