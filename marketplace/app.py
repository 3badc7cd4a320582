"""create_app(config) — the one place that wires everything."""
from __future__ import annotations

import json
import logging
import time
import uuid

from flask import Flask, g, has_request_context, jsonify, render_template, request, session
from flask_babel import get_locale, gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from marketplace.config import ROOT, load_config, shared_storage_problem
from marketplace.extensions import MarketplaceJSONProvider, babel, csrf, db, limiter, login_manager, migrate


class MarketplaceFlask(Flask):
    json_provider_class = MarketplaceJSONProvider  # lazy strings as text (extensions.py)

    def url_for(self, endpoint, *args, **values):
        url = super().url_for(endpoint, *args, **values)
        # On a territory's own domain, /t/<slug>/x is served as /x: keep links there.
        from tenants.resolution import host_prefix
        from flask import has_request_context

        if has_request_context():
            prefix = host_prefix()
            if prefix:
                for head in ("", request.host_url.rstrip("/")):
                    if url.startswith(head + prefix + "/") or url == head + prefix:
                        url = head + (url[len(head) + len(prefix):] or "/")
                        break
        return url


def _allow_test_domains() -> None:
    # The demo's logins use the reserved .test domain; email-validator rejects it by default.
    import email_validator

    if "test" in email_validator.SPECIAL_USE_DOMAIN_NAMES:
        email_validator.SPECIAL_USE_DOMAIN_NAMES.remove("test")


def create_app(config_name: str | None = None, **overrides) -> Flask:
    app = MarketplaceFlask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    app.config.from_object(load_config(config_name))
    app.config.update(overrides)
    problem = shared_storage_problem(app.config["ENV_NAME"], app.config["RATELIMIT_STORAGE_URI"],
                                     int(app.config["WEB_CONCURRENCY"]))
    if problem:
        raise RuntimeError(problem)

    _allow_test_domains()
    _init_logging(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)
    limiter.init_app(app)
    _init_login(app)
    from marketplace import input_guard  # NUL bytes, JSON size/depth/numbers: 400/413 first
    input_guard.init_app(app)

    from marketplace import page_cache
    from tenants import resolution

    page_cache.init_app(app, SECURITY_HEADERS)  # inside HostDispatcher: sees /t/<slug>/ paths
    resolution.init_app(app)
    _init_edge(app)

    from marketplace import models  # noqa: F401  (register mappers)

    from marketplace import formatting

    formatting.register(app)
    _register_blueprints(app)
    _register_errors(app)
    _register_hooks(app)

    from marketplace.cli import register_cli

    register_cli(app)
    return app


def _init_edge(app: Flask) -> None:
    # Outside HostDispatcher: proxy headers, then the trusted-host check, then dispatch.
    from marketplace import edge

    edge.init_app(app)


class _RolesHere:
    """``my_roles`` in templates, asked only when a template uses it (e-mails do not)."""

    def __init__(self, roles_here):
        self._roles_here = roles_here

    def __contains__(self, role) -> bool:
        return role in self._roles_here()

    def __iter__(self):
        return iter(self._roles_here())


def _logged_user_id() -> int | None:
    """The signed-in user's id for the request log, without reloading a row a commit expired."""
    from sqlalchemy import inspect

    state = inspect(current_user._get_current_object(), raiseerr=False)  # None: anonymous
    return state.identity[0] if state is not None and state.identity else None


def _logged_path() -> str:
    """The path for the request log: token segments masked, never the query string."""
    from marketplace.edge import logged_path

    return logged_path()


def _select_locale() -> str:
    languages = ("it", "en")
    if not has_request_context():
        return "it"  # jobs and commands: Italian unless they force another locale
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    if current_user and getattr(current_user, "is_authenticated", False):
        if current_user.locale in languages:
            return current_user.locale
    territory = g.get("territory")
    if territory is not None and territory.default_language in languages:
        return territory.default_language
    return "it"


def _init_login(app: Flask) -> None:
    from marketplace.services import sessions

    login_manager.init_app(app)
    login_manager.login_view = "account.login"
    login_manager.login_message = None
    login_manager.session_protection = "basic"
    # The identity in both cookies is a server-side session's key (services/sessions.py):
    # a revoked, expired or idle session loads no user.
    login_manager.user_loader(sessions.resume)
    sessions.init_app(app)

    @login_manager.unauthorized_handler
    def unauthorized():
        from flask import redirect, url_for

        if request.blueprint == "api" or request.accept_mimetypes.best == "application/json":
            return jsonify(error="authentication required"), 401
        from tenants.resolution import public_path

        return redirect(url_for("account.login", next=public_path()))


def _register_blueprints(app: Flask) -> None:
    from blueprints.account.routes import bp as account_bp
    from blueprints.admin.routes import bp as admin_bp
    from blueprints.cooperative.routes import bp as cooperative_bp
    from blueprints.coordinator.routes import bp as coordinator_bp
    from blueprints.public.routes import bp as public_bp
    from blueprints.public.platform import bp as platform_bp
    from blueprints.public.hsds import bp as hsds_bp
    from blueprints.api import register_api
    from payments.webhooks import bp as payment_webhooks_bp

    app.register_blueprint(platform_bp)
    app.register_blueprint(account_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(public_bp, url_prefix="/t/<territory>")
    from blueprints.public.bookings import bp as bookings_bp

    app.register_blueprint(bookings_bp, url_prefix="/t/<territory>")
    from blueprints.cooperative.requests import bp as coop_requests_bp
    from blueprints.public.requests import bp as requests_bp

    app.register_blueprint(requests_bp, url_prefix="/t/<territory>")
    app.register_blueprint(coop_requests_bp, url_prefix="/t/<territory>/cooperative")
    import blueprints.coordinator.iesi  # noqa: F401 - its routes are on the coordinator blueprint
    import blueprints.coordinator.reports  # noqa: F401 - its routes are on the coordinator blueprint

    app.register_blueprint(coordinator_bp, url_prefix="/t/<territory>/coordinator")
    app.register_blueprint(cooperative_bp, url_prefix="/t/<territory>/cooperative")
    from blueprints.helpdesk.routes import bp as helpdesk_bp

    app.register_blueprint(helpdesk_bp, url_prefix="/t/<territory>/helpdesk")
    app.register_blueprint(hsds_bp, url_prefix="/t/<territory>/hsds")
    from blueprints.funder.routes import bp as funder_bp
    from blueprints.public.funding import bp as public_funding_bp

    app.register_blueprint(funder_bp, url_prefix="/t/<territory>/funders")
    app.register_blueprint(public_funding_bp, url_prefix="/t/<territory>")
    from blueprints.public.surveys import bp as public_surveys_bp

    app.register_blueprint(public_surveys_bp, url_prefix="/t/<territory>")
    app.register_blueprint(payment_webhooks_bp)  # /payments/stripe/webhook
    register_api(app)  # /api/v1 (flask-smorest), its OpenAPI document and docs


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def _register_errors(app: Flask) -> None:
    titles = {
        400: lambda: _("The request could not be understood"),
        403: lambda: _("You do not have access to this page"),
        404: lambda: _("Page not found"),
        405: lambda: _("Method not allowed"),
        413: lambda: _("The upload is too large"),
        429: lambda: _("Too many attempts"),
        500: lambda: _("Something went wrong"),
    }

    def render_error(code: int, description: str | None = None):
        if _wants_json():
            return jsonify(error=str(titles.get(code, titles[500])()), status=code), code
        suspended = g.get("suspended_territory")
        return (
            render_template(
                "errors/error.html",
                code=code,
                title=titles.get(code, titles[500])(),
                description=description,
                suspended=suspended,
            ),
            code,
        )

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return render_error(400, _("Your session has expired or the form was tampered with. "
                                   "Please go back, reload the page and try again."))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code in titles:
            response = app.make_response(render_error(exc.code))
            # Keep what the exception says beyond its body (Allow on 405, Retry-After, ...).
            for name, value in exc.get_headers():
                if name.lower() != "content-type":
                    response.headers[name] = value
            return response
        return exc

    @app.errorhandler(Exception)
    def server_error(exc):
        app.logger.exception("unhandled error", exc_info=exc)
        db.session.rollback()
        return render_error(500)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(getattr(record, "fields", {}))
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def _init_logging(app: Flask) -> None:
    logger = logging.getLogger("marketplace.request")
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.WARNING if app.testing else logging.INFO)


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "geolocation=(), microphone=(), camera=(self)",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; font-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'self'; form-action 'self'"
    ),
}


def _csp_with(extra: dict[str, list[str]]) -> str:
    """The platform's Content-Security-Policy with more sources for some directives."""
    directives = {}
    for part in SECURITY_HEADERS["Content-Security-Policy"].split(";"):
        name, *values = part.split()
        directives[name] = values
    for name, sources in extra.items():
        directives.setdefault(name, ["'self'"]).extend(s for s in sources if s)
    return "; ".join(" ".join([name, *values]) for name, values in directives.items())


def _register_hooks(app: Flask) -> None:
    request_log = logging.getLogger("marketplace.request")

    @app.before_request
    def start_timer():
        g.request_started = time.perf_counter()
        g.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex

    @app.after_request
    def finish(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        extra = g.get("csp_extra")
        if extra:  # a page that needs a third party (Stripe.js on the checkout page)
            response.headers["Content-Security-Policy"] = _csp_with(extra)
        if not app.debug and request.is_secure:
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        response.headers["X-Request-ID"] = g.get("request_id", "")
        started = g.get("request_started")
        territory = g.get("territory")
        request_log.info(
            "request",
            extra={
                "fields": {
                    "request_id": g.get("request_id"),
                    "method": request.method,
                    "path": _logged_path(),
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1)
                    if started
                    else None,
                    "territory": (g.get("territory_slug") or territory.slug) if territory is not None else None,
                    "user_id": _logged_user_id(),
                }
            },
        )
        return response

    @app.context_processor
    def template_globals():
        from marketplace.services.authz import roles_here
        from tenants.resolution import public_path

        return {
            "current_territory": g.get("territory"),
            "current_path": public_path(),
            "current_locale": str(get_locale()),
            "my_roles": _RolesHere(roles_here),
        }
