"""Helpers every blueprint uses: access checks, loading in scope, redirects, form errors."""
from __future__ import annotations

import functools
from urllib.parse import quote, urlsplit

from flask import Response, abort, g, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from marketplace import storage
from marketplace.extensions import db
from tenants.resolution import public_path
from marketplace.services import DomainError
from marketplace.services.authz import (
    FUNDER_REVIEW, funder_access, is_coordinator, is_help_desk, may_manage_funder, staff_cooperative_ids,
)


def login_required_here(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("account.login", next=public_path()))
        return view(*args, **kwargs)

    return wrapper


def admin_required(view):
    """Platform operators only: anonymous -> login, others -> 403."""

    @functools.wraps(view)
    @login_required_here
    def wrapper(*args, **kwargs):
        if not current_user.is_platform_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def coordinator_required(view):
    """Coordinators of the territory in the URL (or platform operators)."""

    @functools.wraps(view)
    @login_required_here
    def wrapper(*args, **kwargs):
        if g.get("territory") is None:
            abort(404)
        if not (is_coordinator() or current_user.is_platform_admin):
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def help_desk_required(view):
    """Help-desk operators or coordinators of the territory in the URL."""

    @functools.wraps(view)
    @login_required_here
    def wrapper(*args, **kwargs):
        if g.get("territory") is None:
            abort(404)
        if not is_help_desk():
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def staff_required(view):
    """Staff of the cooperative ``coop_id`` in this territory; 404 if it is not here."""

    @functools.wraps(view)
    @login_required_here
    def wrapper(*args, coop_id: int, **kwargs):
        from marketplace.models import Cooperative

        cooperative = get_or_404(Cooperative, coop_id)
        if cooperative.id not in staff_cooperative_ids():
            abort(403)
        g.cooperative = cooperative
        return view(*args, cooperative=cooperative, **kwargs)

    return wrapper


def funder_required(view=None, *, level: str = FUNDER_REVIEW):
    """Officers of the funder ``funder_id`` in this territory, or its coordinators (and
    platform operators) as far as the funder delegated to them: ``level`` is the least of
    ``authz.FUNDER_LEVELS`` the view needs (by default everything an officer does). 404 if
    the funder is not here, 403 without the level. Passes ``funder``, sets ``g.funder`` and
    ``g.funder_access`` (what the user holds, for the templates' links).

    Use bare (``@funder_required``) or with a level (``@funder_required(level=FUNDER_READ)``)."""
    if view is None:
        return functools.partial(funder_required, level=level)

    @functools.wraps(view)
    @login_required_here
    def wrapper(*args, funder_id: int, **kwargs):
        from marketplace.models import Funder

        funder = get_or_404(Funder, funder_id)
        if not may_manage_funder(funder.id, level=level):
            abort(403)
        g.funder = funder
        g.funder_access = funder_access(funder.id)
        return view(*args, funder=funder, **kwargs)

    return wrapper


def get_or_404(model, object_id):
    """Load by primary key within the territory in scope; another territory's row is 404."""
    if not isinstance(object_id, int) or not 0 < object_id < 2**31:
        abort(404)  # beyond the database's integer range: no such row
    obj = db.session.get(model, object_id)
    if obj is None:
        abort(404)
    return obj


def safe_next(target: str | None, fallback: str) -> str:
    """Only same-site relative paths are followed after login or a language switch."""
    if not target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return fallback
    if "\\" in target:
        return fallback
    return target


def private_download(data: bytes | str, filename: str | None, content_type: str | None = None) -> Response:
    """A private file as a download, for whoever the view has checked may have it.

    ``content_type`` None: a stored document, typed by its bytes (PDF, PNG, JPEG; anything
    else application/octet-stream), never by the row or the sender. The file name takes the
    extension of that type (``storage.download_name``: an old row's "isee.html" holding a PDF
    downloads as "isee.pdf"). Always an attachment with an ASCII ``filename`` and an RFC 5987
    ``filename*``, ``X-Content-Type-Options: nosniff`` and ``Cache-Control: no-store, private``
    (documents and reports are personal data: no browser or proxy keeps a copy)."""
    if content_type is None:
        content_type = (storage.detect_type(data) or (storage.OCTET_STREAM, "bin"))[0]
    name = storage.download_name(filename, content_type)
    response = Response(data, mimetype=content_type)
    # display_name made it ASCII without quotes or separators: safe inside the quotes.
    response.headers["Content-Disposition"] = f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store, private"
    return response


def form_error(form, exc: DomainError, default_field: str | None = None) -> None:
    """Attach a service's DomainError to the form field it concerns (or the form)."""
    field = getattr(form, exc.field or default_field or "", None)
    if field is not None and hasattr(field, "errors"):
        field.errors = list(field.errors) + [exc.message]
    else:
        form.form_errors.append(exc.message)


class ActionForm(FlaskForm):
    """A button-only form: the CSRF token is its whole content."""


MAX_PAGE = 100_000


def page_arg(name: str = "page") -> int:
    """The ``?page=`` number, always within 1..MAX_PAGE: absent, negative or not an ASCII
    number (``x``, ``²``, ``-1``) is page 1; beyond MAX_PAGE (``10**30``) is MAX_PAGE, which
    the views show as their last page (they clamp to it). Never an OFFSET the database rejects."""
    digits = (request.args.get(name) or "").strip().lstrip("+")
    if not digits.isascii() or not digits.isdigit():
        return 1
    digits = digits.lstrip("0") or "0"
    return MAX_PAGE if len(digits) > len(str(MAX_PAGE)) else min(max(int(digits), 1), MAX_PAGE)
