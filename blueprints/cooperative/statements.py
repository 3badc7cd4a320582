"""Cooperative staff: what each funder owes the cooperative for delivered services paid with
its vouchers or welfare credits, month by month (to invoice it). Routes join the cooperative
blueprint (imported at the bottom of ``blueprints/cooperative/routes.py``)."""
from __future__ import annotations

from flask import Response, abort, render_template

from blueprints.common import get_or_404, private_download, staff_required
from blueprints.cooperative.routes import bp
from marketplace.models import Funder
from marketplace.services import DomainError, funder_reports


def _statement_args(funder_id: int, month: str):
    funder = get_or_404(Funder, funder_id)
    try:
        funder_reports.parse_month(month)
    except DomainError:
        abort(404)
    return funder


def _filename(cooperative, funder, month: str, suffix: str) -> str:
    return f"rendiconto-{cooperative.id}-finanziatore-{funder.id}-{month}.{suffix}"


@bp.route("/<int:coop_id>/statements")
@staff_required
def statements(cooperative):
    months = funder_reports.cooperative_statement_months(cooperative)
    response = Response(render_template("cooperative/statements.html", cooperative=cooperative, months=months))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/<int:coop_id>/statements/<int:funder_id>/<month>")
@staff_required
def statement(cooperative, funder_id: int, month: str):
    funder = _statement_args(funder_id, month)
    rows = funder_reports.cooperative_statement(cooperative, funder, month)
    response = Response(render_template(
        "cooperative/statement.html", cooperative=cooperative, funder=funder, month=month, rows=rows,
        total_cents=sum(r.amount_cents for r in rows), tickets=sum(r.tickets for r in rows)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/<int:coop_id>/statements/<int:funder_id>/<month>.csv")
@staff_required
def statement_csv(cooperative, funder_id: int, month: str):
    funder = _statement_args(funder_id, month)
    body = funder_reports.cooperative_statement_csv(cooperative, funder, month)
    return private_download(body, _filename(cooperative, funder, month, "csv"), "text/csv; charset=utf-8")


@bp.route("/<int:coop_id>/statements/<int:funder_id>/<month>.pdf")
@staff_required
def statement_pdf(cooperative, funder_id: int, month: str):
    funder = _statement_args(funder_id, month)
    body = funder_reports.cooperative_statement_pdf(cooperative, funder, month)
    return private_download(body, _filename(cooperative, funder, month, "pdf"), "application/pdf")
