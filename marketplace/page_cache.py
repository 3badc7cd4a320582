"""Shared-page cache: what every anonymous visitor of a territory sees is rendered once.

Public catalogue pages and API answers are the same for everyone who is not logged in, so
they are kept (in Redis, or in the process without it) for ``PAGE_CACHE_SECONDS``. Each
page records the territory's *version* it was rendered at; every change to the
territory's public data bumps the version after commit (``invalidate``), so the next
visitor gets a fresh page at once. Logged-in visitors, pending flash messages, answers
that would set a cookie and non-200 answers are never cached.

Visitors who send no cookie at all (first visits, crawlers, API clients) are answered by
``PageCacheMiddleware`` before Flask runs: one round trip to the store.
"""
from __future__ import annotations

import functools
import logging
import re
import threading
import time

from flask import Flask, current_app, g, request, session
from flask_babel import get_locale
from flask_login import current_user

from marketplace.extensions import after_commit
from marketplace.queue import redis_connection

log = logging.getLogger("marketplace.cache")
request_log = logging.getLogger("marketplace.request")

# Which territory a cacheable path belongs to (after HostDispatcher's rewrite).
TERRITORY_PATH = re.compile(r"^/(?:t|api/v1/territories)/([a-z0-9-]+)(?:/|$)")


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

    def mget(self, keys):
        return [self.get(key) for key in keys]

    def setex(self, key: str, seconds: int, value) -> None:
        with self._lock:
            if len(self._data) >= self.MAX_ENTRIES:
                self._data.clear()
            data = value if isinstance(value, bytes) else str(value).encode()
            self._data[key] = (time.monotonic() + seconds, data)

    def incr(self, key: str) -> int:
        with self._lock:
            current = int(self.get(key) or 0) + 1
            self._data[key] = (float("inf"), str(current).encode())
            return current


def _store(app: Flask):
    if app.config.get("REDIS_URL"):
        return redis_connection(app)
    store = app.extensions.get("page_cache_local")
    if store is None:
        store = app.extensions["page_cache_local"] = LocalStore()
    return store


def _version_key(app: Flask, slug: str) -> str:
    return f"{app.config.get('QUEUE_PREFIX', '')}pagecache:v:{slug}"


def _page_key(app: Flask, slug: str, audience: str, environ) -> str:
    query = environ.get("QUERY_STRING", "")
    return (f"{app.config.get('QUEUE_PREFIX', '')}page:{slug}:{audience}:"
            f"{environ.get('HTTP_HOST', '')}:{environ.get('PATH_INFO', '')}?{query}")


def _as_bytes(value) -> bytes:
    if value is None:
        return b"0"
    return value if isinstance(value, bytes) else str(value).encode()


def invalidate(territory_id: int | None) -> None:
    """After the current transaction commits, make the territory's cached pages stale."""
    app = current_app._get_current_object()
    if territory_id is None or not app.config.get("PAGE_CACHE_SECONDS"):
        return
    from marketplace.extensions import db
    from marketplace.models import Territory

    territory = db.session.get(Territory, territory_id)
    if territory is None:
        return
    key = _version_key(app, territory.slug)

    def bump():
        try:
            _store(app).incr(key)
        except Exception:  # noqa: BLE001 - pages then expire by their TTL
            log.exception("could not invalidate the page cache of territory %s", territory_id)

    after_commit(bump)


def _personal() -> bool:
    return bool(getattr(current_user, "is_authenticated", False)) or "_flashes" in session


def shared_page(view):
    """Serve ``view``'s answer from the cache for anonymous GETs in a territory."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        app = current_app._get_current_object()
        territory = g.get("territory")
        if (territory is None or request.method != "GET" or not app.config.get("PAGE_CACHE_SECONDS")
                or _personal()):
            return view(*args, **kwargs)
        # Without any cookie the locale is the territory's default: the middleware can
        # answer such visitors without knowing it.
        audience = "anon" if not request.cookies else f"lang-{get_locale()}"
        key = _page_key(app, territory.slug, audience, request.environ)
        try:
            store = _store(app)
            version, cached = store.mget([_version_key(app, territory.slug), key])
        except Exception:  # noqa: BLE001 - without the cache, render as usual
            return view(*args, **kwargs)
        version = _as_bytes(version)
        if cached is not None:
            page_version, _, rest = cached.partition(b"\n")
            if page_version == version:
                content_type, _, body = rest.partition(b"\n")
                response = app.response_class(body, content_type=content_type.decode())
                response.headers["X-Cache"] = "hit"
                return response
        response = app.make_response(view(*args, **kwargs))
        if response.status_code == 200 and not response.direct_passthrough and not session.modified:
            try:
                store.setex(key, app.config["PAGE_CACHE_SECONDS"],
                            version + b"\n" + response.content_type.encode() + b"\n" + response.get_data())
            except Exception:  # noqa: BLE001
                pass
        response.headers["X-Cache"] = "miss"
        return response

    return wrapper


class PageCacheMiddleware:
    """Answers cookie-less GETs of cached territory pages without entering Flask."""

    def __init__(self, wsgi_app, app: Flask, headers: dict):
        self.wsgi_app, self.app, self.headers = wsgi_app, app, headers

    def __call__(self, environ, start_response):
        if (environ.get("REQUEST_METHOD") == "GET" and not environ.get("HTTP_COOKIE")
                and self.app.config.get("PAGE_CACHE_SECONDS")):
            match = TERRITORY_PATH.match(environ.get("PATH_INFO", ""))
            if match:
                served = self._serve(match.group(1), environ, start_response)
                if served is not None:
                    return served
        return self.wsgi_app(environ, start_response)

    def _serve(self, slug: str, environ, start_response):
        started = time.perf_counter()
        try:
            version, cached = _store(self.app).mget(
                [_version_key(self.app, slug), _page_key(self.app, slug, "anon", environ)])
        except Exception:  # noqa: BLE001
            return None
        if cached is None:
            return None
        page_version, _, rest = cached.partition(b"\n")
        if page_version != _as_bytes(version):
            return None
        content_type, _, body = rest.partition(b"\n")
        headers = [("Content-Type", content_type.decode()), ("Content-Length", str(len(body))),
                   ("X-Cache", "hit"), *self.headers.items()]
        start_response("200 OK", headers)
        request_log.info("request", extra={"fields": {
            "method": "GET", "path": environ.get("PATH_INFO"), "status": 200, "cache": "hit",
            "duration_ms": round((time.perf_counter() - started) * 1000, 2), "territory": slug}})
        return [body]


def init_app(app: Flask, security_headers: dict) -> None:
    app.wsgi_app = PageCacheMiddleware(app.wsgi_app, app, security_headers)
