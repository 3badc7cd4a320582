"""The territory dashboard: what was booked and delivered in a period, to how many people, at
what cost, paid by whom, with what satisfaction; for coordinators (the whole territory) and
for a cooperative's staff (the cooperative filter fixed to theirs).

Every figure is computed now with SQL aggregates (COUNT / SUM / COUNT DISTINCT ... GROUP BY
in the database): no delivery record is loaded into Python, so the cost stays flat at a
million rows. Everything runs inside a territory scope (queries are also filtered by the
scope's territory explicitly) and only reads.

What each figure counts (a period is two dates, both included):

- deliveries, hours, unique beneficiaries, cost, funding mix, cost per hour / beneficiary,
  monthly trend and the table by municipality: delivery records with ``delivered_on`` in the
  period. Filters: vertical (of the record's service), cooperative, municipality (of the
  delivery), funding source.
- bookings, cancellations, fill rate, no-shows, waiting-list demand: slots starting (UTC)
  in the period. Filters: vertical (slot's service), cooperative (service's cooperative).
  Municipality and funding source do not apply (a booking has neither).
- satisfaction and NPS: survey responses answered in the period. Filters: vertical
  (response's service), cooperative. Municipality and funding source do not apply (answers
  are anonymous and carry neither).

Small cells: every figure computed from fewer than 5 beneficiaries (or 5 survey answers) is
``"<5"`` (``funder_reports.suppress``); in the table by municipality the whole row of a cell
with fewer than 5 beneficiaries is suppressed (hours and money could point at a person).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import and_, case, distinct, func, literal_column, select

from marketplace.extensions import db
from marketplace.models import (
    Cooperative, DeliveryRecord, Municipality, Order, Service, Slot, SurveyResponse, Ticket, WaitlistEntry,
)
from marketplace.models.base import utcnow
from marketplace.models.catalogue import VERTICALS
from marketplace.models.delivery import FUNDING_SOURCES
from marketplace.services import DomainError
from marketplace.services.deliveries import FUNDING_SOURCE_LABELS
from marketplace.services.funder_reports import (
    SMALL_CELL, _bounds, euros, local_today, months_between, parse_period, suppress,
)
from marketplace.services.slots import _csv_cell
from tenants.scoping import TenantScopeError, current_territory_id
from marketplace.validation import parse_id

SUPPRESSED = f"<{SMALL_CELL}"


# --- periods and filters ---------------------------------------------------------------

def default_period(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The last 12 months: from the first day of the month eleven months ago to today."""
    today = today or local_today()
    year, month = today.year, today.month - 11
    if month < 1:
        year, month = year - 1, month + 12
    return dt.date(year, month, 1), today


@dataclass
class Filters:
    """What the dashboard is limited to (None: everything of the territory)."""

    date_from: dt.date
    date_to: dt.date
    vertical: str | None = None
    cooperative_id: int | None = None
    municipality_id: int | None = None
    funding_source: str | None = None

    def as_args(self) -> dict[str, str]:
        """The filters as query-string arguments (for links to the CSV)."""
        args = {"from": self.date_from.isoformat(), "to": self.date_to.isoformat()}
        for name, value in (("vertical", self.vertical), ("cooperative", self.cooperative_id),
                            ("municipality", self.municipality_id), ("funding_source", self.funding_source)):
            if value not in (None, ""):
                args[name] = str(value)
        return args


def parse_filters(args, cooperative_id: int | None = None) -> Filters:
    """Filters typed in the form (a query string: ``from``, ``to``, ``vertical``,
    ``cooperative``, ``municipality``, ``funding_source``; empty means the default / all).
    ``cooperative_id`` fixes the cooperative (staff pages) whatever the query says.
    Raises DomainError with the field of the first value that is not acceptable."""
    default_from, default_to = default_period()
    date_from, date_to = parse_period(args.get("from") or default_from.isoformat(),
                                      args.get("to") or default_to.isoformat())
    filters = Filters(date_from, date_to)
    vertical = (args.get("vertical") or "").strip()
    if vertical:
        if vertical not in VERTICALS:
            raise DomainError(_l("Choose an area from the list."), field="vertical")
        filters.vertical = vertical
    source = (args.get("funding_source") or "").strip()
    if source:
        if source not in FUNDING_SOURCES:
            raise DomainError(_l("Choose a funding source from the list."), field="funding_source")
        filters.funding_source = source
    filters.municipality_id = _id_of(Municipality, args.get("municipality"), "municipality",
                                     _l("Choose a municipality from the list."))
    if cooperative_id is not None:
        filters.cooperative_id = cooperative_id
    else:
        filters.cooperative_id = _id_of(Cooperative, args.get("cooperative"), "cooperative",
                                        _l("Choose a cooperative from the list."))
    return filters


def _id_of(model, text, name: str, message) -> int | None:
    """The id of a row of ``model`` in this territory, from a form value (empty: None)."""
    text = (text or "").strip()
    if not text:
        return None
    row_id = parse_id(text)
    if row_id is None:
        raise DomainError(message, field=name)
    found = db.session.execute(select(model.id).where(model.id == row_id)).scalar_one_or_none()
    if found is None:
        raise DomainError(message, field=name)
    return found


def filter_choices() -> dict[str, list[tuple[str, str]]]:
    """The options of the filter form: (value, label) per field, in this territory."""
    return {
        "vertical": [(key, str(label)) for key, label in VERTICALS.items()],
        "cooperative": [(str(i), name) for i, name in db.session.execute(
            select(Cooperative.id, Cooperative.name).order_by(Cooperative.name, Cooperative.id)).all()],
        "municipality": [(str(i), name) for i, name in db.session.execute(
            select(Municipality.id, Municipality.name).order_by(Municipality.name, Municipality.id)).all()],
        "funding_source": [(key, str(FUNDING_SOURCE_LABELS[key])) for key in FUNDING_SOURCES],
    }


# --- the figures -----------------------------------------------------------------------

@dataclass
class FundingLine:
    source: str
    label: str
    deliveries: int
    cost_cents: int
    share: Decimal          # % of the period's cost, one decimal


@dataclass
class MonthLine:
    month: str              # YYYY-MM
    deliveries: int
    hours: Decimal
    beneficiaries: str      # suppressed
    cost_cents: int


@dataclass
class MunicipalityLine:
    """One municipality (or "not given"); every cell is a string, "<5" for a small cell."""

    name: str
    population: int | None
    deliveries: str
    hours: str
    beneficiaries: str
    per_thousand: str       # beneficiaries per 1,000 residents ("" without a population)
    cost_cents: int | None  # None when suppressed


@dataclass
class Dashboard:
    """The territory's figures for a period and filters. Counts of people are suppressed strings."""

    filters: Filters
    generated_at: dt.datetime
    # deliveries
    deliveries: int = 0
    hours: Decimal = Decimal("0.0")
    beneficiaries: str = SUPPRESSED
    cost_cents: int = 0
    cost_per_hour_cents: int | None = None
    cost_per_beneficiary_cents: int | None = None   # None: suppressed or nothing to divide by
    cost_per_beneficiary_suppressed: bool = False
    funding: list[FundingLine] = field(default_factory=list)
    months: list[MonthLine] = field(default_factory=list)
    municipalities: list[MunicipalityLine] = field(default_factory=list)
    # bookings
    bookings: int = 0
    cancellations: int = 0
    seats_sold: int = 0
    capacity: int = 0
    fill_rate: Decimal | None = None     # %, one decimal; None without capacity
    no_shows: int = 0
    waitlist_unserved: int = 0
    # satisfaction
    responses: str = SUPPRESSED
    satisfaction: str = SUPPRESSED       # average of the four 1-5 dimensions, one decimal
    nps: str = SUPPRESSED                # % promoters (9-10) minus % detractors (0-6), integer


def _one_decimal(value) -> Decimal:
    return Decimal(value).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _hours(minutes) -> Decimal:
    return _one_decimal(Decimal(int(minutes or 0)) / 60)


def _divide_cents(cents: int, by) -> int:
    return int((Decimal(cents) / Decimal(by)).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def _territory_id() -> int:
    territory_id = current_territory_id()
    if territory_id is None:
        raise TenantScopeError("the impact dashboard needs a territory scope")
    return territory_id


def _delivery_conditions(f: Filters, territory_id: int) -> list:
    conditions = [DeliveryRecord.territory_id == territory_id,
                  DeliveryRecord.delivered_on >= f.date_from, DeliveryRecord.delivered_on <= f.date_to]
    if f.vertical:
        conditions.append(DeliveryRecord.service_id.in_(select(Service.id).where(Service.vertical == f.vertical)))
    if f.cooperative_id:
        conditions.append(DeliveryRecord.cooperative_id == f.cooperative_id)
    if f.municipality_id:
        conditions.append(DeliveryRecord.municipality_id == f.municipality_id)
    if f.funding_source:
        conditions.append(DeliveryRecord.funding_source == f.funding_source)
    return conditions


def _slot_conditions(f: Filters, territory_id: int) -> list:
    start, end = _bounds(f.date_from, f.date_to)
    conditions = [Slot.territory_id == territory_id, Slot.starts_at >= start, Slot.starts_at < end]
    if f.vertical:
        conditions.append(Service.vertical == f.vertical)
    if f.cooperative_id:
        conditions.append(Service.cooperative_id == f.cooperative_id)
    return conditions


def _month_of_date(column):
    """``YYYY-MM`` of a date column, computed by the database."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.to_char(column, literal_column("'YYYY-MM'"))
    return func.substr(column, literal_column("1"), literal_column("7"))  # SQLite: dates as ISO text


def dashboard(date_from: dt.date, date_to: dt.date, vertical: str | None = None, cooperative_id: int | None = None,
              municipality_id: int | None = None, funding_source: str | None = None) -> Dashboard:
    """The figures of the territory in scope for the period (dates included) and filters
    (see the module's docstring for what each filter touches). Read only."""
    f = Filters(date_from, date_to, vertical, cooperative_id, municipality_id, funding_source)
    territory_id = _territory_id()
    result = Dashboard(filters=f, generated_at=utcnow())
    _delivery_figures(result, f, territory_id)
    _booking_figures(result, f, territory_id)
    _survey_figures(result, f, territory_id)
    return result


def _delivery_figures(result: Dashboard, f: Filters, territory_id: int) -> None:
    where = _delivery_conditions(f, territory_id)
    n, minutes, cost, people = db.session.execute(
        select(func.count(DeliveryRecord.id), func.coalesce(func.sum(DeliveryRecord.duration_minutes), 0),
               func.coalesce(func.sum(DeliveryRecord.cost_cents), 0),
               func.count(distinct(DeliveryRecord.beneficiary_id)))
        .where(*where)
    ).one()
    n, minutes, cost, people = int(n), int(minutes or 0), int(cost or 0), int(people)
    result.deliveries, result.hours, result.cost_cents = n, _hours(minutes), cost
    result.beneficiaries = suppress(people)
    if minutes:
        result.cost_per_hour_cents = _divide_cents(cost * 60, minutes)
    if people < SMALL_CELL:
        result.cost_per_beneficiary_suppressed = True
    else:
        result.cost_per_beneficiary_cents = _divide_cents(cost, people)

    total = func.sum(DeliveryRecord.cost_cents)
    rows = db.session.execute(
        select(DeliveryRecord.funding_source, func.count(DeliveryRecord.id), total)
        .where(*where).group_by(DeliveryRecord.funding_source)
    ).all()
    by_source = {source: (int(count), int(amount or 0)) for source, count, amount in rows}
    order = [s for s in FUNDING_SOURCES if s in by_source] + sorted(s for s in by_source if s not in FUNDING_SOURCES)
    for source in order:
        count, amount = by_source[source]
        share = _one_decimal(Decimal(amount) * 100 / cost) if cost else Decimal("0.0")
        result.funding.append(FundingLine(source, str(FUNDING_SOURCE_LABELS.get(source, source)), count, amount,
                                          share))

    month = _month_of_date(DeliveryRecord.delivered_on)
    per_month = {m: (int(c), int(mins or 0), int(p), int(amount or 0)) for m, c, mins, p, amount in db.session.execute(
        select(month, func.count(DeliveryRecord.id), func.sum(DeliveryRecord.duration_minutes),
               func.count(distinct(DeliveryRecord.beneficiary_id)), func.sum(DeliveryRecord.cost_cents))
        .where(*where).group_by(month)
    ).all()}
    for m in months_between(f.date_from, f.date_to):
        c, mins, p, amount = per_month.get(m, (0, 0, 0, 0))
        result.months.append(MonthLine(m, c, _hours(mins), suppress(p), amount))

    rows = db.session.execute(
        select(DeliveryRecord.municipality_id, func.count(DeliveryRecord.id), func.sum(DeliveryRecord.duration_minutes),
               func.count(distinct(DeliveryRecord.beneficiary_id)), func.sum(DeliveryRecord.cost_cents))
        .where(*where).group_by(DeliveryRecord.municipality_id)
    ).all()
    towns = {i: (name, population) for i, name, population in db.session.execute(
        select(Municipality.id, Municipality.name, Municipality.population)
        .where(Municipality.territory_id == territory_id,
               Municipality.id.in_([r[0] for r in rows if r[0] is not None]))
    ).all()} if rows else {}
    lines = []
    for town_id, c, mins, p, amount in rows:
        name, population = towns.get(town_id, (str(_("Municipality not given")), None))
        p = int(p)
        if p < SMALL_CELL:
            lines.append(MunicipalityLine(name, population, SUPPRESSED, SUPPRESSED, SUPPRESSED,
                                          SUPPRESSED if population else "", None))
            continue
        per_thousand = str(_one_decimal(Decimal(p) * 1000 / population)) if population else ""
        lines.append(MunicipalityLine(name, population, str(int(c)), str(_hours(mins)), str(p), per_thousand,
                                      int(amount or 0)))
    result.municipalities = sorted(lines, key=lambda line: (line.name.lower(), line.name))


def _booking_figures(result: Dashboard, f: Filters, territory_id: int) -> None:
    now = utcnow()
    in_period = _slot_conditions(f, territory_id)

    def tickets_select(*columns):
        return (select(*columns).select_from(Ticket)
                .join(Order, Order.id == Ticket.order_id)
                .join(Slot, Slot.id == Ticket.slot_id)
                .join(Service, Service.id == Slot.service_id)
                .where(*in_period))

    paid = Order.status == Order.PAID
    cancelled = Order.status == Order.CANCELLED
    seat = and_(paid, Ticket.status == Ticket.VALID, Slot.status != Slot.CANCELLED)
    bookings, cancellations, seats, no_shows = db.session.execute(tickets_select(
        func.count(distinct(case((paid, Ticket.order_id)))),
        func.count(distinct(case((cancelled, Ticket.order_id)))),
        func.coalesce(func.sum(case((seat, 1), else_=0)), 0),
        func.coalesce(func.sum(case((and_(seat, Slot.ends_at < now, Ticket.checked_in_at.is_(None)), 1),
                                    else_=0)), 0),
    )).one()
    result.bookings, result.cancellations = int(bookings), int(cancellations)
    result.seats_sold, result.no_shows = int(seats), int(no_shows)
    result.capacity = int(db.session.execute(
        select(func.coalesce(func.sum(Slot.capacity), 0)).select_from(Slot)
        .join(Service, Service.id == Slot.service_id)
        .where(*in_period, Slot.status != Slot.CANCELLED)
    ).scalar_one() or 0)
    if result.capacity:
        result.fill_rate = _one_decimal(Decimal(result.seats_sold) * 100 / result.capacity)
    result.waitlist_unserved = int(db.session.execute(
        select(func.count(WaitlistEntry.id)).select_from(WaitlistEntry)
        .join(Slot, Slot.id == WaitlistEntry.slot_id)
        .join(Service, Service.id == Slot.service_id)
        .where(*in_period, WaitlistEntry.status.in_((WaitlistEntry.WAITING, WaitlistEntry.EXPIRED)))
    ).scalar_one())


def _survey_figures(result: Dashboard, f: Filters, territory_id: int) -> None:
    conditions = [SurveyResponse.territory_id == territory_id,
                  SurveyResponse.answered_on >= f.date_from, SurveyResponse.answered_on <= f.date_to]
    if f.vertical:
        conditions.append(SurveyResponse.service_id.in_(select(Service.id).where(Service.vertical == f.vertical)))
    if f.cooperative_id:
        conditions.append(SurveyResponse.cooperative_id == f.cooperative_id)
    stars = (SurveyResponse.quality + SurveyResponse.punctuality + SurveyResponse.kindness
             + SurveyResponse.usefulness)
    n, star_sum, promoters, detractors = db.session.execute(
        select(func.count(SurveyResponse.id), func.coalesce(func.sum(stars), 0),
               func.coalesce(func.sum(case((SurveyResponse.recommend >= 9, 1), else_=0)), 0),
               func.coalesce(func.sum(case((SurveyResponse.recommend <= 6, 1), else_=0)), 0))
        .where(*conditions)
    ).one()
    n = int(n)
    result.responses = suppress(n)
    if n >= SMALL_CELL:
        result.satisfaction = str(_one_decimal(Decimal(int(star_sum)) / (4 * n)))
        nps = (Decimal(int(promoters)) - Decimal(int(detractors))) * 100 / n
        result.nps = str(int(nps.quantize(Decimal("1"), rounding=ROUND_HALF_UP)))


# --- CSV -------------------------------------------------------------------------------

def _money(cents: int | None) -> str:
    return SUPPRESSED if cents is None else euros(cents)


def _percent(value: Decimal | None) -> str:
    return "" if value is None else str(value).replace(".", ",")


def tables(report: Dashboard, filter_labels: list[tuple[str, str]] | None = None) -> list[tuple[str, list, list]]:
    """The dashboard as (title, header, rows) of strings, as the CSV shows it."""
    f = report.filters
    summary = [[_("Period"), f"{f.date_from:%d/%m/%Y} – {f.date_to:%d/%m/%Y}"]]
    summary += [[label, value] for label, value in (filter_labels or [])]
    per_beneficiary = (SUPPRESSED if report.cost_per_beneficiary_suppressed
                       else _money(report.cost_per_beneficiary_cents) if report.cost_per_beneficiary_cents is not None
                       else "")
    summary += [
        [_("Bookings"), str(report.bookings)],
        [_("Unique beneficiaries"), report.beneficiaries],
        [_("Deliveries"), str(report.deliveries)],
        [_("Hours delivered"), _percent(report.hours)],
        [_("Fill rate of slots (%)"), _percent(report.fill_rate)],
        [_("Cancellations"), str(report.cancellations)],
        [_("No-shows"), str(report.no_shows)],
        [_("Waiting-list demand not served"), str(report.waitlist_unserved)],
        [_("Survey answers"), report.responses],
        [_("Average satisfaction (1-5)"), report.satisfaction.replace(".", ",")],
        [_("Net promoter score"), report.nps],
        [_("Cost of deliveries (EUR)"), euros(report.cost_cents)],
        [_("Cost per hour (EUR)"), _money(report.cost_per_hour_cents) if report.cost_per_hour_cents is not None
         else ""],
        [_("Cost per beneficiary (EUR)"), per_beneficiary],
    ]
    return [
        (_("Summary"), [_("Figure"), _("Value")], summary),
        (_("Funding mix"), [_("Funding source"), _("Deliveries"), _("Cost (EUR)"), _("Share (%)")],
         [[line.label, str(line.deliveries), euros(line.cost_cents), _percent(line.share)]
          for line in report.funding]),
        (_("Monthly trend"), [_("Month"), _("Deliveries"), _("Hours"), _("Unique beneficiaries"), _("Cost (EUR)")],
         [[m.month, str(m.deliveries), _percent(m.hours), m.beneficiaries, euros(m.cost_cents)]
          for m in report.months]),
        (_("By municipality"), [_("Municipality"), _("Residents"), _("Deliveries"), _("Hours"),
                                _("Unique beneficiaries"), _("Beneficiaries per 1,000 residents"), _("Cost (EUR)")],
         [[m.name, str(m.population) if m.population else "", m.deliveries, m.hours.replace(".", ","),
           m.beneficiaries, m.per_thousand.replace(".", ","), _money(m.cost_cents)] for m in report.municipalities]),
    ]


def dashboard_csv(report: Dashboard, filter_labels: list[tuple[str, str]] | None = None) -> str:
    """The aggregates as Italian Excel opens them: UTF-8 with BOM, semicolons, one table after
    another; every text cell formula-safe; suppressed cells stay "<5"."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    for title, header, rows in tables(report, filter_labels):
        writer.writerow([_csv_cell(str(title))])
        writer.writerow([_csv_cell(str(h)) for h in header])
        for row in rows:
            writer.writerow([_csv_cell(str(v)) if not _is_number(v) else v for v in row])
        writer.writerow([])
    return "\ufeff" + out.getvalue()


def _is_number(value) -> bool:
    """Amounts like ``-12,50`` are numbers, not formulas: they keep their sign."""
    text = str(value)
    return bool(text) and text.lstrip("-").replace(",", "", 1).isdigit()


def filter_labels(f: Filters) -> list[tuple[str, str]]:
    """The filters in use, as (label, value) lines for the CSV's summary."""
    lines = []
    if f.vertical:
        lines.append((_("Area"), str(VERTICALS[f.vertical])))
    if f.cooperative_id:
        name = db.session.execute(select(Cooperative.name).where(Cooperative.id == f.cooperative_id)).scalar_one()
        lines.append((_("Cooperative"), name))
    if f.municipality_id:
        name = db.session.execute(select(Municipality.name).where(Municipality.id == f.municipality_id)).scalar_one()
        lines.append((_("Municipality"), name))
    if f.funding_source:
        lines.append((_("Funding source"), str(FUNDING_SOURCE_LABELS[f.funding_source])))
    return lines


def report_for(f: Filters) -> Dashboard:
    return dashboard(f.date_from, f.date_to, vertical=f.vertical, cooperative_id=f.cooperative_id,
                     municipality_id=f.municipality_id, funding_source=f.funding_source)
