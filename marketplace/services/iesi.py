"""Impact evaluation along the public-value dimensions of the EU JRC's IESI framework:
access, satisfaction, relevance, fairness and cost, for one territory and period.

Every figure is aggregated in the database from delivery records, survey answers, service
requests and waiting lists; nothing about a person leaves this module. A figure computed
from fewer than 5 beneficiaries (or answers) is given as "<5" (``funder_reports.suppress``).

Definitions (shown on the page too):
- reach per 1,000 residents: distinct beneficiaries living in a municipality / its
  population x 1,000 (where the population is known);
- waiting time: days from a citizen's request for a service to the first delivery of that
  service to a beneficiary linked to the same account, median over requests;
- relevance: demand (requests and waiting-list places) next to supply (deliveries and hours)
  by vertical and municipality; unmet demand: waiting-list places never served;
- fairness: hours and beneficiaries by income band and by municipality, and the
  concentration index of hours over income bands (from -1: all to the poorest, to +1: all
  to the richest; 0: in proportion to the people served);
- cost: cost per hour and per beneficiary, and the share paid by public funds (municipal
  vouchers and contracts, foundation grants);
- outcomes before/after: for beneficiaries with an indicator recorded at least twice, the
  first and the last value.
"""
from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field

from sqlalchemy import and_, distinct, func, select

from marketplace.extensions import db
from marketplace.models import (
    Beneficiary, DeliveryRecord, Municipality, OutcomeIndicator, OutcomeValue, Service, ServiceRequest,
    SurveyResponse, WaitlistEntry,
)
from marketplace.models.delivery import INCOME_BANDS
from marketplace.services.funder_reports import SMALL_CELL, suppress
from tenants.scoping import TenantScopeError, current_territory_id, unscoped

PUBLIC_SOURCES = ("municipal_voucher", "municipal_contract", "foundation_grant")


@dataclass
class Row:
    label: str
    cells: dict


@dataclass
class Impact:
    date_from: dt.date
    date_to: dt.date
    beneficiaries: int = 0
    access: list[Row] = field(default_factory=list)
    waiting_days_median: str = "—"
    waiting_requests: int = 0
    satisfaction: dict = field(default_factory=dict)
    relevance: list[Row] = field(default_factory=list)
    unmet_waitlist: str = "0"
    fairness_income: list[Row] = field(default_factory=list)
    fairness_municipality: list[Row] = field(default_factory=list)
    concentration_index: str = "—"
    cost: dict = field(default_factory=dict)
    outcomes: list[Row] = field(default_factory=list)


def _period(date_from: dt.date, date_to: dt.date):
    return and_(DeliveryRecord.delivered_on >= date_from, DeliveryRecord.delivered_on <= date_to)


def _hours(minutes) -> str:
    return f"{(minutes or 0) / 60:.1f}"


def impact(date_from: dt.date, date_to: dt.date) -> Impact:
    """The five dimensions for the territory in scope and the period (dates included)."""
    result = Impact(date_from, date_to)
    period = _period(date_from, date_to)
    result.beneficiaries = int(db.session.execute(
        select(func.count(distinct(DeliveryRecord.beneficiary_id))).where(period)).scalar_one())
    _access(result, period, date_from, date_to)
    _satisfaction(result, date_from, date_to)
    _relevance(result, period, date_from, date_to)
    _fairness(result, period)
    _cost(result, period)
    _outcomes(result, period)
    return result


def _access(result: Impact, period, date_from, date_to) -> None:
    rows = db.session.execute(
        select(Municipality.name, Municipality.population, func.count(distinct(DeliveryRecord.beneficiary_id)))
        .join(Beneficiary, Beneficiary.id == DeliveryRecord.beneficiary_id)
        .join(Municipality, Municipality.id == Beneficiary.municipality_id)
        .where(period).group_by(Municipality.id, Municipality.name, Municipality.population)
        .order_by(Municipality.name)).all()
    for name, population, people in rows:
        small = people < SMALL_CELL
        reach = "<5" if small else (f"{people * 1000 / population:.1f}" if population else "—")
        result.access.append(Row(name, {"beneficiaries": suppress(people), "population": population or "—",
                                        "per_1000": reach}))
    # Waiting time: requests of the period whose account's beneficiary later got that service.
    first_delivery = (
        select(func.min(DeliveryRecord.delivered_on))
        .join(Beneficiary, Beneficiary.id == DeliveryRecord.beneficiary_id)
        .where(DeliveryRecord.service_id == ServiceRequest.service_id, Beneficiary.user_id == ServiceRequest.user_id,
               DeliveryRecord.delivered_on >= func.date(ServiceRequest.created_at))
        .correlate(ServiceRequest).scalar_subquery())
    pairs = db.session.execute(
        select(ServiceRequest.created_at, first_delivery)
        .where(func.date(ServiceRequest.created_at) >= date_from, func.date(ServiceRequest.created_at) <= date_to,
               ServiceRequest.user_id.is_not(None))).all()
    waits = [(_as_date(delivered) - created.date()).days for created, delivered in pairs if delivered is not None]
    result.waiting_requests = len(waits)
    if len(waits) >= SMALL_CELL:
        result.waiting_days_median = f"{statistics.median(waits):.0f}"
    elif waits:
        result.waiting_days_median = "<5"


def _as_date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def _satisfaction(result: Impact, date_from, date_to) -> None:
    where = and_(SurveyResponse.answered_on >= date_from, SurveyResponse.answered_on <= date_to)
    count, quality, punctuality, kindness, usefulness, promoters, detractors = db.session.execute(
        select(func.count(SurveyResponse.id), func.avg(SurveyResponse.quality), func.avg(SurveyResponse.punctuality),
               func.avg(SurveyResponse.kindness), func.avg(SurveyResponse.usefulness),
               func.count(SurveyResponse.id).filter(SurveyResponse.recommend >= 9),
               func.count(SurveyResponse.id).filter(SurveyResponse.recommend <= 6)).where(where)).one()
    if count < SMALL_CELL:
        result.satisfaction = {"answers": suppress(count), "quality": "<5", "punctuality": "<5", "kindness": "<5",
                               "usefulness": "<5", "nps": "<5"}
        return
    result.satisfaction = {"answers": str(count), "quality": f"{quality:.1f}", "punctuality": f"{punctuality:.1f}",
                           "kindness": f"{kindness:.1f}", "usefulness": f"{usefulness:.1f}",
                           "nps": str(round((promoters - detractors) * 100 / count))}


def _relevance(result: Impact, period, date_from, date_to) -> None:
    supply = {(v, m): (n, minutes) for v, m, n, minutes in db.session.execute(
        select(Service.vertical, DeliveryRecord.municipality_id, func.count(DeliveryRecord.id),
               func.coalesce(func.sum(DeliveryRecord.duration_minutes), 0))
        .join(Service, Service.id == DeliveryRecord.service_id).where(period)
        .group_by(Service.vertical, DeliveryRecord.municipality_id))}
    requested = {(v, m): n for v, m, n in db.session.execute(
        select(Service.vertical, ServiceRequest.municipality_id, func.count(ServiceRequest.id))
        .join(Service, Service.id == ServiceRequest.service_id)
        .where(func.date(ServiceRequest.created_at) >= date_from, func.date(ServiceRequest.created_at) <= date_to)
        .group_by(Service.vertical, ServiceRequest.municipality_id))}
    waiting = _waitlist_by_vertical(date_from, date_to)
    names = dict(db.session.execute(select(Municipality.id, Municipality.name)).all())
    from marketplace.models.catalogue import VERTICALS

    for key in sorted(set(supply) | set(requested), key=lambda k: (k[0], names.get(k[1], ""))):
        vertical, municipality_id = key
        deliveries, minutes = supply.get(key, (0, 0))
        result.relevance.append(Row(f"{VERTICALS.get(vertical, vertical)} · {names.get(municipality_id, '—')}", {
            "requests": requested.get(key, 0), "deliveries": deliveries, "hours": _hours(minutes)}))
    for vertical, places in sorted(waiting.items()):
        result.relevance.append(Row(f"{VERTICALS.get(vertical, vertical)} · —", {
            "requests": 0, "deliveries": 0, "hours": "0.0", "waitlist": places}))
    result.unmet_waitlist = str(sum(waiting.values()))


def _waitlist_by_vertical(date_from, date_to) -> dict[str, int]:
    """Waiting-list places never served (still waiting, or the offer lapsed) of dates in
    the period, by vertical."""
    from marketplace.models import Slot

    start = dt.datetime.combine(date_from, dt.time(), tzinfo=dt.timezone.utc)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)
    return dict(db.session.execute(
        select(Service.vertical, func.coalesce(func.sum(WaitlistEntry.quantity), 0))
        .join(Slot, Slot.id == WaitlistEntry.slot_id).join(Service, Service.id == Slot.service_id)
        .where(WaitlistEntry.status.in_((WaitlistEntry.WAITING, WaitlistEntry.EXPIRED)),
               Slot.starts_at >= start, Slot.starts_at < end)
        .group_by(Service.vertical)).all())


def _fairness(result: Impact, period) -> None:
    by_band = {band: (people, minutes) for band, people, minutes in db.session.execute(
        select(Beneficiary.income_band, func.count(distinct(DeliveryRecord.beneficiary_id)),
               func.coalesce(func.sum(DeliveryRecord.duration_minutes), 0))
        .join(Beneficiary, Beneficiary.id == DeliveryRecord.beneficiary_id).where(period)
        .group_by(Beneficiary.income_band))}
    for band in (*INCOME_BANDS, None):
        if band not in by_band:
            continue
        people, minutes = by_band[band]
        small = people < SMALL_CELL
        result.fairness_income.append(Row(band or "", {
            "beneficiaries": suppress(people), "hours": "<5" if small else _hours(minutes),
            "hours_each": "<5" if small else f"{minutes / 60 / people:.1f}"}))
    result.concentration_index = concentration_index(
        [(by_band[b][0], by_band[b][1]) for b in INCOME_BANDS if b in by_band])
    for name, people, minutes in db.session.execute(
            select(Municipality.name, func.count(distinct(DeliveryRecord.beneficiary_id)),
                   func.coalesce(func.sum(DeliveryRecord.duration_minutes), 0))
            .join(Beneficiary, Beneficiary.id == DeliveryRecord.beneficiary_id)
            .join(Municipality, Municipality.id == Beneficiary.municipality_id)
            .where(period).group_by(Municipality.name).order_by(Municipality.name)):
        small = people < SMALL_CELL
        result.fairness_municipality.append(Row(name, {
            "beneficiaries": suppress(people), "hours": "<5" if small else _hours(minutes),
            "hours_each": "<5" if small else f"{minutes / 60 / people:.1f}"}))


def concentration_index(groups: list[tuple[int, int]]) -> str:
    """Concentration index of a quantity (hours) over groups ordered from the poorest to the
    richest, each (people, quantity): sum over groups of share of people x (mean quantity of
    the group / overall mean) x (2 x fractional rank - 1), the rank being the middle of the
    group's place in the cumulative population. "—" with fewer than 5 people in all, or
    when a group has fewer than 5 (a band could then be told apart)."""
    people_total = sum(p for p, _q in groups)
    quantity_total = sum(q for _p, q in groups)
    if people_total < SMALL_CELL or quantity_total <= 0 or any(p < SMALL_CELL for p, _q in groups):
        return "—"
    mean = quantity_total / people_total
    index, below = 0.0, 0
    for people, quantity in groups:
        share = people / people_total
        rank = (below + people / 2) / people_total
        index += share * ((quantity / people) / mean) * (2 * rank - 1)
        below += people
    return f"{index:+.3f}"


def _cost(result: Impact, period) -> None:
    cost, minutes, people, public = db.session.execute(
        select(func.coalesce(func.sum(DeliveryRecord.cost_cents), 0),
               func.coalesce(func.sum(DeliveryRecord.duration_minutes), 0),
               func.count(distinct(DeliveryRecord.beneficiary_id)),
               func.coalesce(func.sum(DeliveryRecord.cost_cents).filter(
                   DeliveryRecord.funding_source.in_(PUBLIC_SOURCES)), 0)).where(period)).one()
    result.cost = {
        "total_cents": int(cost), "hours": _hours(minutes),
        "per_hour_cents": int(cost * 60 / minutes) if minutes else None,
        "per_beneficiary_cents": None if people < SMALL_CELL else int(cost / people),
        "per_beneficiary_suppressed": people < SMALL_CELL,
        "public_share": f"{public * 100 / cost:.0f}%" if cost else "—",
    }


def _outcomes(result: Impact, period) -> None:
    """First and last value of each indicator for beneficiaries measured at least twice in
    the period; averages per indicator, shown when at least 5 beneficiaries qualify."""
    territory_id = current_territory_id()
    if territory_id is None:
        raise TenantScopeError("impact figures need a territory in scope")
    ranked = (
        select(OutcomeValue.indicator_id.label("indicator_id"), DeliveryRecord.beneficiary_id.label("beneficiary_id"),
               OutcomeValue.value.label("value"),
               func.row_number().over(partition_by=(OutcomeValue.indicator_id, DeliveryRecord.beneficiary_id),
                                      order_by=(DeliveryRecord.delivered_on, DeliveryRecord.id)).label("first"),
               func.row_number().over(partition_by=(OutcomeValue.indicator_id, DeliveryRecord.beneficiary_id),
                                      order_by=(DeliveryRecord.delivered_on.desc(), DeliveryRecord.id.desc())).label("last"),
               func.count().over(partition_by=(OutcomeValue.indicator_id, DeliveryRecord.beneficiary_id)).label("n"))
        .join(DeliveryRecord, DeliveryRecord.id == OutcomeValue.record_id)
        # A window over a subquery is Core SQL: the territory is filtered here, explicitly.
        .where(period, DeliveryRecord.territory_id == territory_id, OutcomeValue.territory_id == territory_id)
        .subquery())
    with unscoped():
        rows = db.session.execute(
            select(ranked.c.indicator_id, func.count(distinct(ranked.c.beneficiary_id)),
                   func.avg(ranked.c.value).filter(ranked.c.first == 1),
                   func.avg(ranked.c.value).filter(ranked.c.last == 1))
            .where(ranked.c.n >= 2, (ranked.c.first == 1) | (ranked.c.last == 1))
            .group_by(ranked.c.indicator_id)).all()
    indicators = {i.id: i for i in db.session.execute(select(OutcomeIndicator)).scalars()}
    for indicator_id, people, before, after in sorted(rows, key=lambda r: indicators[r[0]].name):
        indicator = indicators[indicator_id]
        small = people < SMALL_CELL
        scale = 100 if indicator.kind == OutcomeIndicator.YES_NO else 1
        fmt = "{:.0f}%" if indicator.kind == OutcomeIndicator.YES_NO else "{:.1f}"
        result.outcomes.append(Row(indicator.name, {
            "beneficiaries": suppress(people), "unit": indicator.unit,
            "before": "<5" if small else fmt.format(float(before) * scale),
            "after": "<5" if small else fmt.format(float(after) * scale),
            "change": "<5" if small else f"{(float(after) - float(before)) * scale:+.1f}"}))
