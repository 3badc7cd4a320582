"""The request edge: which proxies we believe, which hosts we answer, what may be cached.

Wired by ``create_app`` (``init_app``) around everything else, so the WSGI stack is::

    ProxyFix (PROXY_HOPS > 0)  ->  TrustedHostMiddleware  ->  NoStoreForCookies
        ->  HostDispatcher  ->  PageCacheMiddleware  ->  Flask

and an ``after_request`` hook marks every signed-in visitor's answer ``no-store``.

ProxyFix runs first so the host check, the territory-domain dispatch, the page cache and
Flask-Limiter's key (``request.remote_addr``) all see the client's forwarded host, scheme
and address, and only as many hops as are configured; with ``PROXY_HOPS=0`` forwarded
headers are ignored. The host check runs before anything reads ``HTTP_HOST``, so no page,
cached page or redirect is ever produced for a host we do not serve.
"""
from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from flask import Flask, current_app, g, request, session
from flask_login import AnonymousUserMixin
from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.routing.exceptions import RoutingException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.sansio.utils import host_is_trusted
from werkzeug.wrappers import Response

# Answered on any host: a load balancer probes it by the container's address.
ANY_HOST_PATHS = ("/healthz",)
DEVELOPMENT_HOSTS = ("127.0.0.1", "localhost")
# URL variables that are bearer secrets: whoever has the URL can act (reset a password,
# confirm an address, accept an invitation, answer a survey, join an employer's credit).
# Order and request codes are not: their pages need the owner's login.
SECRET_URL_VARIABLES = frozenset({"token", "invite_code"})
MASK = "***"


def trusted_hosts(app: Flask) -> tuple[str, ...]:
    """The configured host names (TRUSTED_HOSTS), BASE_URL's host, and in development and
    testing 127.0.0.1 and localhost when TRUSTED_HOSTS is unset. Mapped territory domains
    are trusted on top of these (looked up per request, see ``TrustedHostMiddleware``)."""
    configured = app.config.get("TRUSTED_HOST_NAMES") or ""
    if isinstance(configured, str):
        configured = configured.split(",")
    hosts = [h.strip().lower() for h in configured if h and h.strip()]
    if not hosts and app.config.get("ENV_NAME") in ("development", "testing"):
        hosts.extend(DEVELOPMENT_HOSTS)
    base_host = urlsplit(app.config.get("BASE_URL") or "").hostname
    if base_host:
        hosts.append(base_host.lower())
    return tuple(dict.fromkeys(hosts))


class TrustedHostMiddleware:
    """WSGI middleware: a request whose Host is not ours gets the platform's 400 page.

    Without it, anything built from the request's host (redirects, ``_external`` links)
    would point wherever the sender of the request likes.
    """

    def __init__(self, wsgi_app, app: Flask, domains):
        self.wsgi_app, self.app, self.domains = wsgi_app, app, domains
        self.hosts = trusted_hosts(app)

    def is_trusted(self, environ) -> bool:
        from tenants.resolution import _hostname

        host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME") or ""
        if host_is_trusted(host, self.hosts):
            return True
        # A mapped territory domain (the same cache HostDispatcher uses); only valid names.
        return host_is_trusted(host, [host]) and self.domains.lookup(_hostname(environ)) is not None

    def __call__(self, environ, start_response):
        if self.is_trusted(environ) or (environ.get("PATH_INFO") or "").startswith(ANY_HOST_PATHS):
            return self.wsgi_app(environ, start_response)
        return self.reject(environ, start_response)

    def reject(self, environ, start_response):
        """The localised 400 page (JSON on /api/), through the app's own error handler."""
        app = self.app
        try:
            with app.request_context(environ):
                response = app.make_response(app.handle_user_exception(
                    BadRequest("This host name is not served here.")))
                response = app.process_response(response)
        except Exception:  # noqa: BLE001 - a refusal must never become a 500
            app.logger.exception("could not render the untrusted-host page")
            response = Response("Bad Request", status=400, mimetype="text/plain")
        return response(environ, start_response)


class NoStoreForCookies:
    """WSGI middleware: an answer that sets the session or remember-me cookie is never
    stored by a cache (it would hand one visitor's cookie to the next).

    Flask writes the session cookie after the ``after_request`` hooks, so this looks at the
    headers actually sent.
    """

    def __init__(self, wsgi_app, app: Flask):
        self.wsgi_app = wsgi_app
        self.cookie_names = tuple(
            f"{name}=" for name in (app.config.get("SESSION_COOKIE_NAME") or "session",
                                    app.config.get("REMEMBER_COOKIE_NAME") or "remember_token"))

    def __call__(self, environ, start_response):
        def start(status, headers, exc_info=None):
            if any(k.lower() == "set-cookie" and v.startswith(self.cookie_names) for k, v in headers):
                headers = [(k, v) for k, v in headers if k.lower() != "cache-control"]
                headers.append(("Cache-Control", "no-store"))
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


def _signed_in() -> bool:
    """Whether a user is signed in, without a query: the row may be expired by a commit."""
    user = g.get("_login_user")  # what Flask-Login loaded for this request, if anything
    if user is not None:
        return not isinstance(user, AnonymousUserMixin)
    return "_user_id" in session


def _no_store_when_logged_in(response):
    # A signed-in visitor's pages hold personal data: no browser or proxy keeps a copy.
    # Static files, and answers a view marked ``public`` (a published service's image),
    # are the same for everyone and stay cacheable; a stricter header is kept as it is.
    if request.endpoint == "static" or not _signed_in():
        return response
    cache = response.cache_control
    if not (cache.public or cache.no_store):
        response.headers["Cache-Control"] = "no-store"
        response.headers.pop("Expires", None)
    return response


def init_app(app: Flask) -> None:
    """Wrap the app's WSGI stack; call after ``tenants.resolution.init_app``."""
    app.after_request(_no_store_when_logged_in)
    app.wsgi_app = NoStoreForCookies(app.wsgi_app, app)
    app.wsgi_app = TrustedHostMiddleware(app.wsgi_app, app, app.extensions["territory_domains"])
    hops = int(app.config.get("PROXY_HOPS") or 0)
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


# ---------------------------------------------------------------------------- secrets in URLs

def _secret_values(path: str, app: Flask) -> set[str]:
    """The values of secret URL variables in ``path``, found from the URL map's rules."""
    adapter = app.url_map.bind("localhost")
    for method in ("GET", "POST"):
        try:
            _endpoint, args = adapter.match(path, method=method)
        except (HTTPException, RoutingException):
            continue
        return {str(v) for k, v in args.items() if k in SECRET_URL_VARIABLES}
    return set()


def _mask_segments(path: str, secrets: set[str]) -> str:
    if not secrets:
        return path
    return "/".join(MASK if unquote(part) in secrets else part for part in path.split("/"))


def masked_path(path: str, app: Flask | None = None) -> str:
    """``path`` with its token segments replaced by ``***`` (``/account/reset/***``)."""
    return _mask_segments(path, _secret_values(path, app or current_app))


def logged_path() -> str:
    """This request's path for the request log: token segments masked, no query string."""
    args = request.view_args
    if request.url_rule is not None and args is not None:
        return _mask_segments(request.path, {str(v) for k, v in args.items() if k in SECRET_URL_VARIABLES})
    return masked_path(request.path)


URL_RE = re.compile(r"""https?://[^\s<>"')\]]+""")


def redact_links(text: str, app: Flask | None = None) -> str:
    """``text`` with the token of every token-bearing link replaced by ``***``.

    A link is matched against the URL map by its path, whatever its host (masking a
    look-alike link elsewhere is harmless); on a mapped territory domain as that
    territory's ``/t/<slug>`` pages, below BASE_URL's path as the app's own. A token also
    written out as text (an employer's invitation code) is masked there too.
    """
    app = app or current_app._get_current_object()
    base_path = urlsplit(app.config.get("BASE_URL") or "").path.rstrip("/")
    domains = app.extensions.get("territory_domains")
    from tenants.resolution import PLATFORM_PATHS

    def redact(match: re.Match) -> str:
        url = match.group(0)
        parts = urlsplit(url)
        path = parts.path or "/"
        route = path[len(base_path):] if base_path and path.startswith(base_path + "/") else path
        slug = domains.lookup((parts.hostname or "").lower()) if domains is not None else None
        if slug and not route.startswith(PLATFORM_PATHS) and not route.startswith("/t/"):
            route = f"/t/{slug}{route}"
        secrets = _secret_values(route, app)
        if not secrets:
            return url
        found.update(secrets)
        masked = parts._replace(path=_mask_segments(path, secrets), query="", fragment="")
        return masked.geturl()

    found: set[str] = set()
    text = URL_RE.sub(redact, text)
    for secret in sorted(found, key=len, reverse=True):
        if len(secret) >= 6:  # never a short value that could be an ordinary word
            text = text.replace(secret, MASK)
    return text
