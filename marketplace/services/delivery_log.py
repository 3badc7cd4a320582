"""A cooperative's delivery log: the records of a month (filtered, totalled, paged) and the
attendance of a slot turned into delivery records, through the same ``deliveries.validate``
and ``deliveries.save`` as every other way in.

Runs inside a territory scope and the caller's transaction; the caller commits.
"""
from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from marketplace.extensions import db
from marketplace.models import (
    Beneficiary, Cooperative, DeliveryRecord, Funder, ServiceLocation, Slot, Ticket, Voucher, WelfareCredit,
)
from marketplace.models.base import utcnow
from marketplace.models.booking import Order, Payment
from marketplace.services import DomainError, deliveries
from marketplace.services.deliveries import LOCAL_TZ

PAGE_SIZE = 50


def this_month() -> str:
    return dt.datetime.now(LOCAL_TZ).strftime("%Y-%m")


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """``YYYY-MM`` -> (first day, first day of the next month). Raises DomainError."""
    if not re.fullmatch(r"\d{4}-\d{2}", month or ""):
        raise DomainError(_l("No such month."))
    year, number = int(month[:4]), int(month[5:])
    if not 2000 <= year <= 2100 or not 1 <= number <= 12:
        raise DomainError(_l("No such month."))
    return dt.date(year, number, 1), dt.date(year + number // 12, number % 12 + 1, 1)


@dataclass
class LogPage:
    rows: list[DeliveryRecord]
    records: int
    minutes: int
    cost_cents: int
    page: int
    pages: int


def records(cooperative: Cooperative, month: str, service_id: int | None = None, page: int = 1,
            per_page: int = PAGE_SIZE) -> LogPage:
    """The cooperative's records delivered in ``month`` (optionally of one service), newest
    first, with totals over all of them (not only the page)."""
    start, end = month_bounds(month)
    where = [DeliveryRecord.cooperative_id == cooperative.id, DeliveryRecord.delivered_on >= start,
             DeliveryRecord.delivered_on < end]
    if service_id is not None:
        where.append(DeliveryRecord.service_id == service_id)
    count, minutes, cost = db.session.execute(select(
        func.count(DeliveryRecord.id), func.coalesce(func.sum(DeliveryRecord.duration_minutes), 0),
        func.coalesce(func.sum(DeliveryRecord.cost_cents), 0)).where(*where)).one()
    pages = max(1, math.ceil(count / per_page))
    page = min(max(1, page), pages)
    rows = db.session.execute(
        select(DeliveryRecord).where(*where)
        .options(selectinload(DeliveryRecord.service), selectinload(DeliveryRecord.beneficiary),
                 selectinload(DeliveryRecord.municipality))
        .order_by(DeliveryRecord.delivered_on.desc(), DeliveryRecord.starts_at.desc(), DeliveryRecord.id.desc())
        .limit(per_page).offset((page - 1) * per_page)).scalars().all()
    return LogPage(list(rows), count, int(minutes), int(cost), page, pages)


# ---------------------------------------------------------------------------- from check-in

def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:40] or "self"


def beneficiary_ref(order: Order, ticket: Ticket) -> str:
    """The same family member is one beneficiary across bookings: the account plus the
    participant's name (or 'self')."""
    owner = f"U{order.user_id}" if order.user_id else f"O{order.code}"
    return f"{owner}-{_slug(ticket.participant_name or '')}"[:64]


def _funding(order: Order) -> tuple[str, str]:
    """(funding source, funder name) from how the order was paid: a voucher first, then a
    welfare credit, else the citizen."""
    paid = [p for p in order.payments if p.status == Payment.CONFIRMED]
    for provider, source, model, attr in (("voucher", "municipal_voucher", Voucher, "voucher_id"),
                                          ("welfare_credit", "employer_credit", WelfareCredit, "credit_id")):
        for payment in paid:
            if payment.provider == provider and getattr(payment, attr):
                holder = db.session.get(model, getattr(payment, attr))
                funder = db.session.get(Funder, holder.funder_id) if holder is not None else None
                return source, funder.name if funder is not None else ""
    return "citizen", ""


def slot_started(slot: Slot) -> bool:
    return slot.starts_at <= utcnow()


@dataclass
class AttendanceResult:
    recorded: int = 0
    already: int = 0
    refused: list[tuple[str, str, str]] | None = None   # (ticket code, column, reason)


def unrecorded_tickets(slot: Slot) -> list[Ticket]:
    """The slot's checked-in tickets that have no delivery record yet."""
    recorded = select(DeliveryRecord.ticket_id).where(DeliveryRecord.ticket_id.isnot(None),
                                                      DeliveryRecord.slot_id == slot.id)
    return list(db.session.execute(
        select(Ticket).where(Ticket.slot_id == slot.id, Ticket.checked_in_at.isnot(None),
                             Ticket.status == Ticket.VALID, Ticket.id.not_in(recorded))
        .options(selectinload(Ticket.order).selectinload(Order.payments))
        .order_by(Ticket.id)).scalars())


def attendance_counts(slot: Slot) -> tuple[int, int]:
    """(checked-in tickets, of which already recorded as deliveries)."""
    checked = db.session.execute(select(func.count(Ticket.id)).where(
        Ticket.slot_id == slot.id, Ticket.checked_in_at.isnot(None), Ticket.status == Ticket.VALID)).scalar_one()
    recorded = db.session.execute(select(func.count(DeliveryRecord.id)).where(
        DeliveryRecord.slot_id == slot.id, DeliveryRecord.ticket_id.isnot(None))).scalar_one()
    return checked, recorded


def record_attendance(cooperative: Cooperative, slot: Slot, user) -> AttendanceResult:
    """Every checked-in ticket of ``slot`` without a record becomes one delivery record
    (source CHECKIN, external id ``T-<ticket code>``), validated like any other row.
    Raises DomainError for a slot that has not started yet."""
    if not slot_started(slot):
        raise DomainError(_l("Attendance can be recorded once the date has started."))
    result = AttendanceResult(refused=[])
    _checked, result.already = attendance_counts(slot)
    tickets = unrecorded_tickets(slot)
    if not tickets:
        return result
    lookup = deliveries.Lookup.load(cooperative)
    start = slot.starts_at.astimezone(LOCAL_TZ)
    minutes = max(1, min(deliveries.MAX_MINUTES, int((slot.ends_at - slot.starts_at).total_seconds() // 60)))
    location, municipality = "", ""
    place = db.session.get(ServiceLocation, slot.location_id) if slot.location_id else None
    if place is not None:
        location = ", ".join(part for part in (place.name, place.address) if part)
        municipality = place.municipality.istat_code or place.municipality.name
    for ticket in tickets:
        order = ticket.order
        source, funder = _funding(order)
        ref = beneficiary_ref(order, ticket)
        raw = {
            "external_id": f"T-{ticket.code}", "service_id": str(slot.service_id), "beneficiary_ref": ref,
            "date": start.date().isoformat(), "start_time": start.strftime("%H:%M"),
            "duration_minutes": str(minutes), "at_home": "no", "location": location,
            "municipality": municipality, "activity_type": "", "operator": "",
            "funding_source": source, "funder": funder,
            "cost_eur": f"{ticket.price_cents // 100}.{ticket.price_cents % 100:02d}", "notes": "",
        }
        clean, errors = deliveries.validate(raw, lookup)
        if clean is None:
            result.refused.extend((ticket.code, column, reason) for column, reason in errors)
            continue
        record, created = deliveries.save(clean, lookup, DeliveryRecord.CHECKIN, created_by=user,
                                          slot_id=slot.id, ticket_id=ticket.id)
        if not created:
            result.already += 1
            continue
        result.recorded += 1
        beneficiary = db.session.get(Beneficiary, record.beneficiary_id)
        if beneficiary.user_id is None and order.user_id:
            beneficiary.user_id = order.user_id
        if not beneficiary.display_name and ticket.participant_name:
            beneficiary.display_name = ticket.participant_name[:120]
    db.session.flush()
    return result


def today() -> dt.date:
    return dt.datetime.now(LOCAL_TZ).date()
