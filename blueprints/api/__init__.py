"""Versioned JSON API (flask-smorest + marshmallow): ``/api/v1``, its OpenAPI document at
``/api/v1/openapi.json`` and a ReDoc reference at ``/api/v1/docs`` (ReDoc vendored under
``static/vendor/redoc``: the CSP allows scripts from our own origin only)."""
from __future__ import annotations

from flask import Flask, current_app, make_response, render_template, url_for
from flask_babel import gettext as _
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from blueprints.api.schemas import ErrorSchema


def _title(code: int, default: str) -> str:
    titles = {
        400: lambda: _("The request could not be understood"),
        403: lambda: _("Access denied"),
        404: lambda: _("Page not found"),
        405: lambda: _("Method not allowed"),
        422: lambda: _("Some values are not valid."),
        500: lambda: _("Something went wrong"),
    }
    return titles[code]() if code in titles else default


def json_error(error: HTTPException):
    """``{"status": 422, "error": "...", "errors": {"query": {"page": [...]}}}``: the shape
    of the platform's other JSON errors (``status``, ``error``) plus webargs' field errors."""
    payload = {"status": error.code, "error": _title(error.code, error.name)}
    data = getattr(error, "data", None) or {}
    if "message" in data:
        payload["message"] = data["message"]
    errors = data.get("errors") or data.get("messages")
    if errors:
        payload["errors"] = errors
    return payload, error.code, data.get("headers") or {}


class MarketplaceApi(Api):
    """flask-smorest's Api documenting and using the platform's JSON error shape."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self):
        # flask-smorest would handle every HTTPException of the app as JSON; only the API's
        # own blueprint does (blueprints.api.routes), the HTML pages keep their error pages.
        pass

    def handle_http_exception(self, error: HTTPException):
        return json_error(error)


def docs():
    """The API reference: ReDoc reading /api/v1/openapi.json, everything from our origin.

    Its CSP is the platform's plus ``worker-src blob:``: ReDoc's search runs in a worker that
    its own bundle (served from 'self') creates from a blob. The app's after_request keeps it."""
    from marketplace.app import SECURITY_HEADERS

    response = make_response(render_template(
        "api/docs.html", title=f"{current_app.config['API_TITLE']} {current_app.config['API_VERSION']}",
        spec_url=url_for("api-docs.openapi_json"), redoc_url=current_app.config["OPENAPI_REDOC_URL"]))
    response.headers["Content-Security-Policy"] = (
        SECURITY_HEADERS["Content-Security-Policy"] + "; worker-src 'self' blob:")
    return response


def register_api(app: Flask) -> MarketplaceApi:
    """Create this app's Api and register the v1 blueprint (CSRF-exempt: read-only)."""
    from blueprints.api.routes import SlugConverter, bp, slug_param_schema
    from marketplace.extensions import csrf

    app.url_map.converters["slug"] = SlugConverter
    api = MarketplaceApi(app)
    api.register_converter(SlugConverter, slug_param_schema)
    api.register_blueprint(bp)
    csrf.exempt(bp)
    from blueprints.api import deliveries

    deliveries.register(api)  # POST /api/v1/territories/<slug>/deliveries (bearer token)
    if "api-docs.openapi_redoc" in app.view_functions:  # OPENAPI_REDOC_PATH/URL configured
        app.view_functions["api-docs.openapi_redoc"] = docs
    return api
