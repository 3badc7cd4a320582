"""Host / path -> Territory, once, at the edge of every request.

A territory is reached at ``/t/<slug>/...`` (always) or on one of its own domains,
where :class:`HostDispatcher` rewrites ``/x`` to ``/t/<slug>/x`` before routing and
``url_for`` drops the prefix again so links stay on the territory's domain.
The ``territory`` URL value is turned into ``g.territory`` and the query scope by one
URL value preprocessor; nothing deeper parses the URL.
"""
from __future__ import annotations

import threading
import time

from flask import Flask, abort, g, has_request_context, request
from sqlalchemy import select

from tenants import scoping

# Paths that stay platform-wide even on a territory's own domain.
PLATFORM_PATHS = ("/static/", "/healthz", "/api/", "/admin")


class DomainCache:
    """hostname -> slug map, reloaded at most every ``ttl`` seconds (per process)."""

    def __init__(self, app: Flask):
        self.app = app
        self._lock = threading.Lock()
        self._loaded_at = float("-inf")
        self._map: dict[str, str] = {}

    def lookup(self, hostname: str) -> str | None:
        ttl = self.app.config.get("TERRITORY_CACHE_SECONDS", 10)
        if time.monotonic() - self._loaded_at > ttl:
            self.reload()
        return self._map.get(hostname)

    def hostname_for(self, slug: str) -> str | None:
        """The territory's first mapped domain (the oldest), or None when it has none."""
        self.lookup("")  # reload when stale
        return next((host for host, s in self._map.items() if s == slug), None)

    def reload(self) -> None:
        from marketplace.extensions import db
        from marketplace.models import Domain, Territory

        with self._lock, self.app.app_context():
            try:
                rows = db.session.execute(
                    select(Domain.hostname, Territory.slug).join(Territory).order_by(Domain.id)
                ).all()
            except Exception:  # noqa: BLE001 - keep serving; /healthz reports the database
                self.app.logger.exception("could not load territory domains")
                rows = None
            finally:
                db.session.remove()
            if rows is not None:
                self._map = {host: slug for host, slug in rows}
            # Retry a failed load on the next request rather than after the TTL.
            self._loaded_at = time.monotonic() if rows is not None else float("-inf")

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")


def _hostname(environ) -> str:
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME") or ""
    if host.startswith("["):  # IPv6 literal
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0].lower() if ":" in host else host.lower()


class HostDispatcher:
    """WSGI middleware: a territory's own domain serves that territory's pages at /."""

    def __init__(self, wsgi_app, cache: DomainCache):
        self.wsgi_app = wsgi_app
        self.cache = cache

    def __call__(self, environ, start_response):
        slug = self.cache.lookup(_hostname(environ))
        path = environ.get("PATH_INFO") or "/"
        if slug and not path.startswith(PLATFORM_PATHS) and not path.startswith("/t/"):
            environ["PATH_INFO"] = f"/t/{slug}{path}"
            environ["marketplace.host_territory"] = slug
        return self.wsgi_app(environ, start_response)


class TerritoryCache:
    """slug -> Territory row, kept per process for ``TERRITORY_CACHE_SECONDS``.

    Every territory page needs its territory; reading it once per process and attaching a
    copy to each request's session (``merge(load=False)``, no query) saves a round trip
    per request. A change (suspension, new texts) reaches other processes within the TTL.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._rows: dict[str, tuple[float, object]] = {}

    def get(self, slug: str):
        from flask import current_app

        from marketplace.extensions import db
        from marketplace.models import Territory

        ttl = current_app.config.get("TERRITORY_CACHE_SECONDS", 10)
        entry = self._rows.get(slug) if ttl else None
        if entry is not None and time.monotonic() - entry[0] < ttl:
            return db.session.merge(entry[1], load=False)
        territory = db.session.execute(
            select(Territory).where(Territory.slug == slug)
        ).scalar_one_or_none()
        if territory is not None and ttl:
            from sqlalchemy.orm import make_transient_to_detached

            copy = Territory(**{c.key: getattr(territory, c.key) for c in Territory.__table__.columns})
            make_transient_to_detached(copy)
            with self._lock:
                self._rows[slug] = (time.monotonic(), copy)
        return territory

    def forget(self) -> None:
        with self._lock:
            self._rows.clear()


def territory_by_slug(slug: str):
    """The territory with this slug (suspended ones too), or None; cached per process."""
    from flask import current_app

    return current_app.extensions["territory_rows"].get(slug)


def _load_territory(endpoint, values) -> None:
    if not values or "territory" not in values:
        return
    slug = values.pop("territory")
    territory = territory_by_slug(slug)
    if territory is None:
        abort(404)
    if not territory.is_active:
        g.suspended_territory = territory
        abort(404)
    g.territory = territory
    g.territory_slug = territory.slug  # read after a commit has expired the row: no query
    g._territory_scope_tokens = scoping.enter_territory(territory.id)


def _add_territory(endpoint, values) -> None:
    territory = g.get("territory")
    if territory is None or "territory" in values:
        return
    from flask import current_app

    if current_app.url_map.is_endpoint_expecting(endpoint, "territory"):
        values["territory"] = g.get("territory_slug") or territory.slug


def _leave(exc=None) -> None:
    tokens = g.pop("_territory_scope_tokens", None)
    if tokens is not None:
        scoping.leave_territory(tokens)


def host_prefix() -> str | None:
    """``/t/<slug>`` when this request came in on a territory's own domain."""
    if not has_request_context():
        return None
    slug = request.environ.get("marketplace.host_territory")
    return f"/t/{slug}" if slug else None


def public_path() -> str:
    """This request's path and query as the visitor typed it (no /t/<slug> on its own domain)."""
    if not has_request_context():
        return "/"
    path = request.full_path.rstrip("?")
    prefix = host_prefix()
    if prefix and path.startswith(prefix):
        path = path[len(prefix):] or "/"
    return path


def init_app(app: Flask) -> None:
    cache = DomainCache(app)
    app.extensions["territory_domains"] = cache
    app.extensions["territory_rows"] = TerritoryCache()
    app.wsgi_app = HostDispatcher(app.wsgi_app, cache)
    app.url_value_preprocessor(_load_territory)
    app.url_defaults(_add_territory)
    app.teardown_request(_leave)
