"""Funders' area: the dashboard of a funder's money at work, its CSV / XLSX exports and the
period statement (PDF): aggregates, open to coordinators the funder delegated "read" to. Routes registered on ``blueprints.funder.routes.bp``; every figure is
computed now by ``marketplace.services.funder_reports`` (no cache)."""
from __future__ import annotations

from flask import Response, render_template, request

from blueprints.common import funder_required, private_download
from blueprints.funder.routes import bp
from marketplace.services import DomainError, funder_reports
from marketplace.services.authz import FUNDER_READ
from marketplace.services.funders import FUNDER_KIND_LABELS

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _period():
    """The period asked in the query string (``from`` / ``to``), or a DomainError."""
    return funder_reports.parse_period(request.args.get("from"), request.args.get("to"))


def _refused(funder, exc: DomainError):
    """The dashboard page with the period form and what is wrong with it: 422."""
    errors = {exc.field or "from": exc.message}
    return render_template("funder/dashboard.html", funder=funder, report=None, kinds=FUNDER_KIND_LABELS,
                           errors=errors, typed_from=request.args.get("from", ""),
                           typed_to=request.args.get("to", "")), 422


def _download(body, mimetype: str, filename: str) -> Response:
    return private_download(body, filename, mimetype)


def _name(funder, date_from, date_to, suffix: str) -> str:
    return f"finanziatore-{funder.id}-{date_from:%Y%m%d}-{date_to:%Y%m%d}.{suffix}"


@bp.route("/<int:funder_id>/dashboard")
@funder_required(level=FUNDER_READ)
def dashboard(funder):
    try:
        date_from, date_to = _period()
    except DomainError as exc:
        return _refused(funder, exc)
    report = funder_reports.dashboard(funder, date_from, date_to)
    response = Response(render_template(
        "funder/dashboard.html", funder=funder, report=report, kinds=FUNDER_KIND_LABELS, errors={},
        typed_from=date_from.isoformat(), typed_to=date_to.isoformat()))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/<int:funder_id>/dashboard.csv")
@funder_required(level=FUNDER_READ)
def dashboard_csv(funder):
    try:
        date_from, date_to = _period()
    except DomainError as exc:
        return _refused(funder, exc)
    body = funder_reports.dashboard_csv(funder, date_from, date_to)
    response = _download(body, "text/csv", _name(funder, date_from, date_to, "csv"))
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    return response


@bp.route("/<int:funder_id>/dashboard.xlsx")
@funder_required(level=FUNDER_READ)
def dashboard_xlsx(funder):
    try:
        date_from, date_to = _period()
    except DomainError as exc:
        return _refused(funder, exc)
    body = funder_reports.dashboard_xlsx(funder, date_from, date_to)
    return _download(body, XLSX, _name(funder, date_from, date_to, "xlsx"))


@bp.route("/<int:funder_id>/statement.pdf")
@funder_required(level=FUNDER_READ)
def statement_pdf(funder):
    try:
        date_from, date_to = _period()
    except DomainError as exc:
        return _refused(funder, exc)
    body = funder_reports.period_statement_pdf(funder, date_from, date_to)
    return _download(body, "application/pdf", _name(funder, date_from, date_to, "pdf").replace(
        "finanziatore-", "rendiconto-"))
