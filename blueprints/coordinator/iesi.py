"""Coordinators: the impact view of the territory along the IESI public-value dimensions
(access, satisfaction, relevance, fairness, cost) with each indicator explained."""
from __future__ import annotations

from flask import render_template, request

from blueprints.common import coordinator_required
from blueprints.coordinator.routes import bp
from marketplace.services import DomainError, iesi
from marketplace.services.funder_reports import default_period, parse_period


@bp.route("/impact")
@coordinator_required
def impact():
    error = None
    try:
        date_from, date_to = parse_period(request.args.get("from"), request.args.get("to"))
    except DomainError as exc:
        error = exc
        date_from, date_to = default_period()
    result = iesi.impact(date_from, date_to)
    return render_template("coordinator/impact.html", result=result, error=error,
                           raw_from=request.args.get("from", date_from.isoformat()),
                           raw_to=request.args.get("to", date_to.isoformat())), 422 if error else 200
