"""Cooperative staff: what citizens said of the cooperative's services in the satisfaction
surveys, overall and per service, for a period. Figures from fewer than 5 answers are "<5";
comments only for groups of 5 or more, by month. Routes join the cooperative blueprint
(imported at the bottom of ``blueprints/cooperative/routes.py``)."""
from __future__ import annotations

from flask import Response, render_template, request
from flask_babel import format_date, format_decimal

from blueprints.common import staff_required
from blueprints.cooperative.routes import bp
from marketplace.services import DomainError, surveys


@bp.route("/<int:coop_id>/satisfaction")
@staff_required
def satisfaction(cooperative):
    raw_from, raw_to = request.args.get("from", ""), request.args.get("to", "")
    error, status = None, 200
    try:
        date_from, date_to = surveys.parse_period(raw_from, raw_to)
    except DomainError as exc:
        error, status = exc, 422
        date_from = date_to = None
    overall = per_service = None
    if error is None:
        overall = surveys.satisfaction(cooperative_id=cooperative.id, date_from=date_from, date_to=date_to)
        per_service = surveys.satisfaction_by_service(cooperative.id, date_from, date_to)
    sent, answered = surveys.invitation_counts(cooperative.id)
    response = Response(render_template(
        "cooperative/satisfaction.html", cooperative=cooperative, overall=overall, per_service=per_service,
        error=error, raw_from=raw_from, raw_to=raw_to, sent=sent, answered=answered,
        dimensions=surveys.DIMENSIONS, labels=surveys.DIMENSION_LABELS,
        month=lambda day: format_date(day, "MMMM yyyy"), decimal=lambda value: format_decimal(value, "0.0")),
        status=status)
    response.headers["Cache-Control"] = "no-store"
    return response
