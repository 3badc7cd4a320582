"""The edge check on what a request carries, before any view, hook or query sees it.

One check for every request (``init_app``): a NUL byte (``\\x00``, also sent as ``%00``) in
the path, the query string, a form field's name or value, an uploaded file's name, or a
JSON body's keys and strings at any depth is refused with 400. PostgreSQL cannot store
NUL in text and raises on it; nothing legitimate sends one. A multipart upload's *content*
is not looked at: documents and images are binary.

JSON bodies (the push API, provider webhooks) are parsed here once with ``parse_json``:
at most ``API_MAX_BODY_BYTES`` (413 beyond), at most ``JSON_MAX_DEPTH`` levels of nesting,
integers within 64 bits and finite floats only (400 otherwise), so the parsers that read
the same body afterwards (webargs, the webhook) never meet what could crash them.

Refusals are ``BadInput`` (400) or ``InputTooLarge`` (413), answered with the platform's
localised error page, or ``{"status", "error", "message"}`` on /api/.
"""
from __future__ import annotations

import json
import math

from flask import Flask, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

NUL = "\x00"
INT64 = 2**63


class BadInput(BadRequest):
    """400 with a localised ``description`` saying what is wrong with the request, and where
    (``path``, ``query``, ``form``, ``files`` or ``json``: the JSON answer's ``errors`` key)."""

    def __init__(self, description: str, location: str = "json"):
        super().__init__(description)
        self.location = location


class InputTooLarge(RequestEntityTooLarge):
    """413 with a localised ``description``."""

    location = "json"


class _Refused(Exception):
    """Raised from inside json.loads hooks (not a ValueError: that means malformed JSON)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _nul_message() -> str:
    return _("The request contains a NUL character (\\x00), which is not allowed. Remove it and try again.")


def _refuse_constant(name: str):
    raise _Refused(_("Numbers must be finite: %(value)s is not accepted.", value=name))


def _parse_int(text: str) -> int:
    digits = text.lstrip("-")
    value = int(text) if len(digits) <= 20 else None
    if value is None or not -INT64 <= value < INT64:
        raise _Refused(_("The number %(value)s is too large.", value=text[:30] + ("…" if len(text) > 30 else "")))
    return value


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(_("The number %(value)s is too large.", value=text[:30] + ("…" if len(text) > 30 else "")))
    return value


def parse_json(raw: bytes | str, max_depth: int | None = None):
    """The JSON document in ``raw``, checked: raises ``BadInput`` when it is not UTF-8 JSON,
    nests deeper than ``max_depth`` (default ``JSON_MAX_DEPTH``), holds an integer beyond
    64 bits, a non-finite float (NaN, Infinity, 1e999) or a NUL character in a key or string.

    Never lets a RecursionError out: ``[[[[...]]]]`` 100,000 deep is a 400 like any other."""
    if max_depth is None:
        max_depth = current_app.config.get("JSON_MAX_DEPTH", 20)
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        data = json.loads(text, parse_int=_parse_int, parse_float=_parse_float,
                          parse_constant=_refuse_constant)
    except _Refused as exc:
        raise BadInput(exc.message) from None
    except RecursionError:
        raise BadInput(_("The JSON document is nested too deeply (at most %(n)d levels).", n=max_depth)) from None
    except (ValueError, UnicodeDecodeError):
        raise BadInput(_("The body is not valid JSON.")) from None
    # Walk without recursion: depth and NUL in every key and string.
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if NUL in value:
                raise BadInput(_nul_message())
        elif isinstance(value, (list, dict)):
            if depth > max_depth:
                raise BadInput(_("The JSON document is nested too deeply (at most %(n)d levels).", n=max_depth))
            if isinstance(value, dict):
                if any(NUL in key for key in value):
                    raise BadInput(_nul_message())
                stack.extend((v, depth + 1) for v in value.values())
            else:
                stack.extend((v, depth + 1) for v in value)
    return data


def _has_nul(multidict) -> bool:
    return any(NUL in key or NUL in value for key, value in multidict.items(multi=True))


def check_url(endpoint=None, values=None) -> None:
    """Refuse a NUL byte in the path or the query string (``BadInput``). Runs first among
    the URL value preprocessors: the territory's look-up by slug is a query."""
    if NUL in request.path:
        raise BadInput(_nul_message(), "path")
    if _has_nul(request.args):
        raise BadInput(_nul_message(), "query")


def check_body() -> None:
    """Refuse a body that ``parse_json`` or the NUL rule forbids (``BadInput``/``InputTooLarge``).
    Runs first among the before_request hooks (ahead of CSRF, rate limits and login) but after
    the URL value preprocessors, which may raise a route's upload limit before the body is read."""
    limit = current_app.config.get("API_MAX_BODY_BYTES", 1024 * 1024)
    if request.is_json or request.path.startswith("/api/"):
        if request.content_length is not None and request.content_length > limit:
            raise InputTooLarge(_("The body is too large: send at most %(n)d bytes.", n=limit))
    if request.is_json:
        raw = request.get_data(cache=True)
        if len(raw) > limit:  # a body sent without Content-Length
            raise InputTooLarge(_("The body is too large: send at most %(n)d bytes.", n=limit))
        if raw.strip():
            parse_json(raw)
        return
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.mimetype in (
            "application/x-www-form-urlencoded", "multipart/form-data"):
        if _has_nul(request.form):
            raise BadInput(_nul_message(), "form")
        for name, upload in request.files.items(multi=True):
            if NUL in name or NUL in (upload.filename or ""):
                raise BadInput(_nul_message(), "files")


def _answer(exc):
    if request.path.startswith("/api/") or request.path == "/healthz":
        title = _("The request could not be understood") if exc.code == 400 else _("The upload is too large")
        return jsonify(status=exc.code, error=title, message=exc.description,
                       errors={exc.location: [exc.description]}), exc.code
    title = _("The request could not be understood") if exc.code == 400 else _("The upload is too large")
    return render_template("errors/error.html", code=exc.code, title=title, description=exc.description,
                           suspended=None), exc.code


def init_app(app: Flask) -> None:
    """Check every request first: its URL ahead of the URL value preprocessors, its body ahead
    of every before_request hook (CSRF, rate limits, login)."""
    app.url_value_preprocessors.setdefault(None, []).insert(0, check_url)
    app.before_request_funcs.setdefault(None, []).insert(0, check_body)
    app.register_error_handler(BadInput, _answer)
    app.register_error_handler(InputTooLarge, _answer)
