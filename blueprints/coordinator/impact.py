"""Coordinators: the territory dashboard (bookings, deliveries, hours, beneficiaries, fill
rate, satisfaction, cost and funding mix, monthly trend, municipalities) and its CSV.
Routes join the coordinator blueprint (imported at the bottom of
``blueprints/coordinator/routes.py``); figures come from ``marketplace.services.impact``."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask import Response, render_template, request
from flask_babel import format_decimal

from blueprints.common import coordinator_required, private_download
from blueprints.coordinator.routes import bp
from marketplace.services import DomainError, impact


def number(value) -> str:
    """A figure with one decimal in the reader's locale (17.4 / 17,4); "<5" and "" unchanged."""
    if value is None or value == "":
        return ""
    try:
        return format_decimal(Decimal(str(value)), format="#,##0.0")
    except InvalidOperation:
        return str(value)


def render_dashboard(template: str, endpoint: str, url_args: dict, cooperative=None):
    """The dashboard page for the filters in the query string; 422 with the message next
    to the field when a filter is not acceptable."""
    choices = impact.filter_choices()
    typed = {name: request.args.get(name, "") for name in
             ("from", "to", "vertical", "cooperative", "municipality", "funding_source")}
    try:
        filters = impact.parse_filters(request.args, cooperative_id=cooperative.id if cooperative else None)
    except DomainError as exc:
        return render_template(template, report=None, errors={exc.field or "from": exc.message}, typed=typed,
                               choices=choices, endpoint=endpoint, url_args=url_args,
                               cooperative=cooperative, number=number), 422
    report = impact.report_for(filters)
    csv_args = filters.as_args()
    if cooperative is not None:
        csv_args.pop("cooperative", None)  # fixed by the URL
    typed.update({"from": filters.date_from.isoformat(), "to": filters.date_to.isoformat()})
    response = Response(render_template(template, report=report, errors={}, typed=typed, choices=choices,
                                        endpoint=endpoint, url_args=url_args, cooperative=cooperative,
                                        csv_args=csv_args, number=number))
    response.headers["Cache-Control"] = "no-store"
    return response


def render_csv(template: str, endpoint: str, url_args: dict, filename: str, cooperative=None):
    """The dashboard's aggregates as CSV (a bad filter: the page with the message, 422)."""
    try:
        filters = impact.parse_filters(request.args, cooperative_id=cooperative.id if cooperative else None)
    except DomainError:
        return render_dashboard(template, endpoint, url_args, cooperative)
    body = impact.dashboard_csv(impact.report_for(filters), impact.filter_labels(filters))
    name = f"{filename}-{filters.date_from:%Y%m%d}-{filters.date_to:%Y%m%d}.csv"
    return private_download(body, name, "text/csv; charset=utf-8")


@bp.route("/territory")
@coordinator_required
def territory_dashboard():
    return render_dashboard("coordinator/territory_dashboard.html", "coordinator.territory_dashboard", {})


@bp.route("/territory.csv")
@coordinator_required
def territory_dashboard_csv():
    return render_csv("coordinator/territory_dashboard.html", "coordinator.territory_dashboard", {}, "territorio")
