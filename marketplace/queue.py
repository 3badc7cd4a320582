"""Background jobs: RQ on Redis when configured, inline otherwise — always after commit."""
from __future__ import annotations

import logging

from flask import current_app

from marketplace.extensions import after_commit, db

log = logging.getLogger("marketplace.jobs")
QUEUES = ("default", "emails", "reports")


def redis_connection(app=None):
    from redis import Redis

    app = app or current_app
    url = app.config.get("REDIS_URL")
    if not url:
        return None
    conn = app.extensions.get("redis")
    if conn is None:
        conn = Redis.from_url(url)
        app.extensions["redis"] = conn
    return conn


def queue_name(name: str, app=None) -> str:
    app = app or current_app
    return f"{app.config.get('QUEUE_PREFIX', '')}{name}"


def get_queue(name: str = "default", app=None):
    from rq import Queue

    app = app or current_app
    return Queue(queue_name(name, app), connection=redis_connection(app))


def enqueue(func, *args, queue: str = "default", job_timeout: int | None = None) -> None:
    """Schedule ``func(*args)`` to run once the current transaction has committed.

    ``args`` must be plain values (ids), never ORM objects. Inline mode runs the job
    in this process right after commit; a failing inline job is logged, never raised:
    the committed change stands, as it would with a worker. ``job_timeout`` (seconds)
    lets a long job (a big import) outlive RQ's default of 180 s.
    """
    app = current_app._get_current_object()

    def dispatch():
        if app.config.get("JOBS_INLINE", True) or not app.config.get("REDIS_URL"):
            run_inline(func, *args)
        elif job_timeout:
            get_queue(queue, app).enqueue(func, *args, job_timeout=job_timeout)
        else:
            get_queue(queue, app).enqueue(func, *args)

    after_commit(dispatch)


def run_inline(func, *args) -> None:
    try:
        func(*args)
    except Exception:  # noqa: BLE001 - a job failure must not break the caller
        db.session.rollback()
        log.exception("inline job %s failed", getattr(func, "__name__", func))
