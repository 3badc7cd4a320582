"""Dates of a service as its cooperative's staff manage them: slots, ticket types,
attendee lists, cancellation and check-in at the door.

All functions run inside a territory scope and the caller's transaction; the caller
commits. Times are typed by staff in Italian local time and stored in UTC.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.models import Order, Service, Slot, Ticket, TicketType, User
from marketplace.models.base import utcnow
from marketplace.services import DomainError
from marketplace.services.booking import holding_condition, seats_taken

LOCAL_TZ = ZoneInfo("Europe/Rome")
MAX_RECURRENCE_DAYS = 26 * 7
MAX_PER_ORDER = 100


def local_to_utc(day: dt.date, time: dt.time) -> dt.datetime:
    """A wall-clock date and time in Italy as an aware UTC datetime."""
    return dt.datetime.combine(day, time, tzinfo=LOCAL_TZ).astimezone(dt.timezone.utc)


def local_today() -> dt.date:
    return utcnow().astimezone(LOCAL_TZ).date()


_DATE_SPLIT = re.compile(r"[,;\s]+")


def parse_date_list(text: str | None) -> list[dt.date]:
    """'25/12/2026, 01/01/2027' (also 2026-12-25) as dates. Raises DomainError naming the
    first entry it cannot read."""
    dates = []
    for part in _DATE_SPLIT.split((text or "").strip()):
        if not part:
            continue
        for fmt in ("%d/%m/%Y", "%Y-%m-%d", "%d.%m.%Y", "%d-%m-%Y"):
            try:
                dates.append(dt.datetime.strptime(part, fmt).date())
                break
            except ValueError:
                continue
        else:
            raise DomainError(_l("“%(value)s” is not a date: write dates like 25/12/2026, separated by commas.",
                                 value=part[:20]), field="exceptions")
    return dates


def weekly_dates(weekdays: list[int], start: dt.date, end: dt.date, skip: list[dt.date]) -> list[dt.date]:
    """Days from ``start`` to ``end`` (both included) falling on ``weekdays`` (Monday = 0),
    except those in ``skip``. Raises DomainError for a range that is reversed or too long."""
    if end < start:
        raise DomainError(_l("The last date must be on or after the first date."), field="to_date")
    if (end - start).days > MAX_RECURRENCE_DAYS:
        raise DomainError(_l("Create at most 26 weeks of dates at a time."), field="to_date")
    if not weekdays:
        raise DomainError(_l("Choose at least one day of the week."), field="weekdays")
    skipped, days, day = set(skip), [], start
    while day <= end:
        if day.weekday() in weekdays and day not in skipped:
            days.append(day)
        day += dt.timedelta(days=1)
    if not days:
        raise DomainError(_l("No date falls on the chosen days in this period."), field="weekdays")
    return days


def _check_ticket_type(data: dict, capacity: int) -> None:
    if not (data.get("name") or "").strip():
        raise DomainError(_l("Enter the name of the ticket."), field="name")
    if data.get("price_cents") is None or data["price_cents"] < 0:
        raise DomainError(_l("A price cannot be negative."), field="price")
    quota = data.get("quota")
    if quota is not None and not 1 <= quota <= capacity:
        raise DomainError(_l("The quota must be between 1 and the capacity of the date (%(n)d).", n=capacity),
                          field="quota")
    low, high = data.get("min_per_order", 0), data.get("max_per_order", 10)
    if low < 0 or high < 1 or low > high or high > MAX_PER_ORDER:
        raise DomainError(_l("The maximum per order must be at least 1, at most %(max)d, and not below the minimum.",
                             max=MAX_PER_ORDER), field="max_per_order")


def ticket_type_data(slot: Slot) -> list[dict]:
    """The ticket types of ``slot`` as ``create_slots`` takes them (to copy them)."""
    return [{"name": t.name, "price_cents": t.price_cents, "quota": t.quota,
             "min_per_order": t.min_per_order, "max_per_order": t.max_per_order} for t in slot.ticket_types]


def service_slot(service: Service, slot_id: int) -> Slot | None:
    """Slot ``slot_id`` of ``service`` in the territory in scope, or None."""
    slot = db.session.get(Slot, slot_id)
    return slot if slot is not None and slot.service_id == service.id else None


def create_slots(service: Service, times: list[tuple[dt.datetime, dt.datetime]], capacity: int,
                 ticket_types: list[dict], location_id: int | None = None, note: str = "",
                 date_field: str = "date") -> list[Slot]:
    """One slot per (start, end) pair in UTC, each with a copy of ``ticket_types``.

    Raises DomainError (with the form field it concerns) and adds nothing when a time is
    in the past or reversed, the capacity is below 1, the place is not the service's or a
    ticket type is invalid.
    """
    if capacity is None or capacity < 1:
        raise DomainError(_l("The capacity must be at least 1."), field="capacity")
    if location_id is not None and location_id not in {loc.id for loc in service.locations}:
        raise DomainError(_l("Choose one of the places of this service."), field="location_id")
    if not ticket_types:
        raise DomainError(_l("Add at least one ticket type."), field="price")
    for data in ticket_types:
        _check_ticket_type(data, capacity)
    now = utcnow()
    for start, end in times:
        if end <= start:
            raise DomainError(_l("The end time must be after the start time."), field="end_time")
        if start <= now:
            raise DomainError(_l("This date and time are in the past."), field=date_field)
    slots = []
    for start, end in times:
        slot = Slot(territory_id=service.territory_id, service_id=service.id, location_id=location_id,
                    starts_at=start, ends_at=end, capacity=capacity, status=Slot.OPEN, note=(note or "")[:200])
        for position, data in enumerate(ticket_types):
            slot.ticket_types.append(TicketType(territory_id=service.territory_id, position=position, **data))
        db.session.add(slot)
        slots.append(slot)
    db.session.flush()
    return slots


def add_ticket_type(slot: Slot, data: dict) -> TicketType:
    """Add a ticket type to an open slot. Raises DomainError for bad data or a cancelled slot."""
    if slot.status != Slot.OPEN:
        raise DomainError(_l("This date is cancelled."))
    _check_ticket_type(data, slot.capacity)
    position = max((t.position for t in slot.ticket_types), default=-1) + 1
    ticket_type = TicketType(territory_id=slot.territory_id, slot_id=slot.id, position=position, **data)
    slot.ticket_types.append(ticket_type)
    db.session.flush()
    return ticket_type


def upcoming(service: Service) -> list[tuple[Slot, int]]:
    """Slots of ``service`` not yet ended, soonest first, with their seats taken."""
    slots = db.session.execute(
        select(Slot).where(Slot.service_id == service.id, Slot.ends_at >= utcnow())
        .order_by(Slot.starts_at, Slot.id)
    ).scalars().all()
    return [(slot, seats_taken(slot.id)) for slot in slots]


def recent(service: Service, limit: int = 50) -> list[Slot]:
    """The service's slots to copy ticket types from, latest first."""
    return db.session.execute(
        select(Slot).where(Slot.service_id == service.id).order_by(Slot.starts_at.desc()).limit(limit)
    ).scalars().all()


def attendees(slot: Slot) -> list[Ticket]:
    """Valid tickets of the slot whose order is paid or still holding its seats."""
    return db.session.execute(
        select(Ticket).join(Order, Order.id == Ticket.order_id)
        .where(Ticket.slot_id == slot.id, Ticket.status == Ticket.VALID, holding_condition(utcnow()))
        .order_by(Order.created_at, Ticket.id)
    ).scalars().all()


def paid_people(slot: Slot) -> int:
    """Valid tickets of paid orders: the people a cancellation affects."""
    return int(db.session.execute(
        select(func.count(Ticket.id)).join(Order, Order.id == Ticket.order_id)
        .where(Ticket.slot_id == slot.id, Ticket.status == Ticket.VALID, Order.status == Order.PAID)
    ).scalar_one())


def cancel_slot(slot: Slot, reason: str) -> list[Order]:
    """Cancel the date with the ``reason`` staff give (shown to citizens): nobody can book
    it any more, every booking of it is cancelled and its waiting list ended; after commit a
    job refunds each paid booking in full and e-mails everyone. Returns the cancelled orders.
    Raises DomainError for a missing reason or a date already cancelled."""
    from marketplace.jobs import refund_cancelled_slot
    from marketplace.queue import enqueue
    from marketplace.services import cancellation

    reason = cancellation.validate_reason(reason)
    if slot.status == Slot.CANCELLED:
        raise DomainError(_l("This date is already cancelled."))
    slot.status = Slot.CANCELLED
    slot.cancelled_at = utcnow()
    slot.cancel_reason = reason
    orders = cancellation.cancel_bookings_of_slot(slot, reason)
    enqueue(refund_cancelled_slot, slot.territory_id, slot.id)
    return orders


def _csv_cell(value: str) -> str:
    # A cell starting like a formula would run in Excel (CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


# Values an XLSX cell keeps as they are; everything else is written as text.
_XLSX_NATIVE = (int, float, Decimal, dt.date, dt.time, dt.timedelta)


def xlsx_set(cell, value):
    """Write ``value`` into an openpyxl ``cell`` and return the cell. Numbers, dates and
    None stay what they are; anything else (text, a lazy string, a bool) is stored as a
    string cell (data_type "s", format "@"), so "=HYPERLINK(...)" or "=cmd|..." from a
    name is shown as typed and never runs as a formula (the XLSX twin of ``_csv_cell``).
    Characters XML cannot hold (control characters) are dropped instead of failing."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if value is None or (isinstance(value, _XLSX_NATIVE) and not isinstance(value, bool)):
        cell.value = value
        return cell
    cell.value = ILLEGAL_CHARACTERS_RE.sub("", str(value))
    cell.data_type = "s"  # openpyxl made "=..." a formula: it is text
    cell.number_format = "@"
    return cell


def xlsx_append(sheet, values=()) -> list:
    """Append a row of ``values`` to an openpyxl sheet through ``xlsx_set``; returns its
    cells (none for an empty row, which still leaves a blank line)."""
    values = list(values)
    sheet.append([None] * len(values) if values else [])
    if not values:
        return []
    row = sheet.max_row
    return [xlsx_set(sheet.cell(row=row, column=column), value) for column, value in enumerate(values, start=1)]


def attendees_csv(slot: Slot, header: list[str], with_age: bool = False) -> str:
    """The attendee list as Italian Excel opens it: UTF-8 with BOM, semicolons. With
    ``with_age`` the second column is the participant's age (``header`` names it)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    for ticket in attendees(slot):
        checked = ticket.checked_in_at.astimezone(LOCAL_TZ).strftime("%d/%m/%Y %H:%M") if ticket.checked_in_at else ""
        age = ["" if ticket.participant_age is None else str(ticket.participant_age)] if with_age else []
        writer.writerow([_csv_cell(v) for v in (ticket.participant_name, *age, ticket.ticket_type.name,
                                                 ticket.order.code, ticket.order.email, checked)])
    return "\ufeff" + out.getvalue()


def normalise_code(text: str | None) -> str:
    """A typed or pasted ticket code: any case, spaces and dashes ignored."""
    return re.sub(r"[\s\-]+", "", text or "").upper()


class AlreadyCheckedIn(DomainError):
    """The ticket was checked in before; ``ticket`` says when."""

    def __init__(self, message, ticket: Ticket):
        super().__init__(message, field="code")
        self.ticket = ticket


def check_in(slot: Slot, code: str, user: User) -> Ticket:
    """Mark the ticket with ``code`` as arrived at ``slot``. Raises AlreadyCheckedIn, or
    DomainError for a ticket unknown in this territory, of another slot, cancelled or unpaid."""
    code = normalise_code(code)
    if not code or len(code) > 12:
        raise DomainError(_l("No ticket has this code."), field="code")
    ticket = db.session.execute(select(Ticket).where(Ticket.code == code)).scalar_one_or_none()
    if ticket is None:
        raise DomainError(_l("No ticket has this code."), field="code")
    if ticket.slot_id != slot.id:
        raise DomainError(_l("This ticket is for another date or service."), field="code")
    if ticket.status != Ticket.VALID or ticket.order.status != Order.PAID:
        raise DomainError(_l("This ticket is not valid: its booking is cancelled or not paid."), field="code")
    if slot.status != Slot.OPEN:
        raise DomainError(_l("This date is cancelled."), field="code")
    if ticket.checked_in_at is not None:
        raise AlreadyCheckedIn(_l("This ticket was already checked in."), ticket)
    ticket.checked_in_at = utcnow()
    ticket.checked_in_by_id = user.id
    db.session.flush()
    return ticket
