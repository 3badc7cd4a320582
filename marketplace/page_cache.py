"""Shared-page cache: what every anonymous visitor of a territory sees is rendered once.

Public catalogue pages and API answers are the same for everyone who is not logged in, so
they are kept (in Redis, or in the process without it) for ``PAGE_CACHE_SECONDS`` under a key holding the
territory's *catalogue version*. Every change to the territory's public data bumps the
version after commit (``invalidate``), so the next visitor gets a fresh page at once.
Logged-in visitors, pending flash messages and non-200 answers are never cached.
"""
from __future__ import annotations

import functools
import logging
import threading
import time

from flask import current_app, g, request, session
from flask_babel import get_locale
from flask_login import current_user

from marketplace.extensions import after_commit
from marketplace.queue import redis_connection

log = logging.getLogger("marketplace.cache")


class LocalStore:
    """The cache of one process, when there is no Redis (a laptop, `make run`).

    Only right for a single process: with several workers use Redis, whose version
    counter every worker sees.
    """

    MAX_ENTRIES = 2000

    def __init__(self):
        self._lock = threading.Lock()
        self._data: dict[str, tuple[float, bytes]] = {}

    def get(self, key: str):
        entry = self._data.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def setex(self, key: str, seconds: int, value) -> None:
        with self._lock:
            if len(self._data) >= self.MAX_ENTRIES:
                self._data.clear()
            self._data[key] = (time.monotonic() + seconds, value if isinstance(value, bytes) else str(value).encode())

    def incr(self, key: str) -> int:
        with self._lock:
            current = int(self.get(key) or 0) + 1
            self._data[key] = (float("inf"), str(current).encode())
            return current


def _store():
    if current_app.config.get("REDIS_URL"):
        return redis_connection()
    store = current_app.extensions.get("page_cache_local")
    if store is None:
        store = current_app.extensions["page_cache_local"] = LocalStore()
    return store


def _enabled() -> bool:
    return bool(current_app.config.get("PAGE_CACHE_SECONDS"))


def _version_key(territory_id: int) -> str:
    return f"{current_app.config.get('QUEUE_PREFIX', '')}pagecache:v:{territory_id}"


def invalidate(territory_id: int | None) -> None:
    """After the current transaction commits, make the territory's cached pages stale."""
    if territory_id is None or not _enabled():
        return
    key = _version_key(territory_id)
    store = _store()

    def bump():
        try:
            store.incr(key)
        except Exception:  # noqa: BLE001 - pages then expire by their TTL
            log.exception("could not invalidate the page cache of territory %s", territory_id)

    after_commit(bump)


def _personal() -> bool:
    return bool(getattr(current_user, "is_authenticated", False)) or "_flashes" in session


def shared_page(view):
    """Serve ``view``'s answer from the cache for anonymous GETs in a territory."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        territory = g.get("territory")
        if territory is None or request.method != "GET" or not _enabled() or _personal():
            return view(*args, **kwargs)
        try:
            conn = _store()
            version = int(conn.get(_version_key(territory.id)) or 0)
            key = (f"{current_app.config.get('QUEUE_PREFIX', '')}page:{territory.id}:{version}:"
                   f"{get_locale()}:{request.host}:{request.full_path}")
            cached = conn.get(key)
        except Exception:  # noqa: BLE001 - without the cache, render as usual
            return view(*args, **kwargs)
        if cached is not None:
            content_type, _, body = cached.partition(b"\n")
            response = current_app.response_class(body, content_type=content_type.decode())
            response.headers["X-Cache"] = "hit"
            return response
        response = current_app.make_response(view(*args, **kwargs))
        if response.status_code == 200 and not response.direct_passthrough:
            try:
                conn.setex(key, current_app.config["PAGE_CACHE_SECONDS"],
                           response.content_type.encode() + b"\n" + response.get_data())
            except Exception:  # noqa: BLE001
                pass
        response.headers["X-Cache"] = "miss"
        return response

    return wrapper
