"""What a citizen gets after booking: QR codes of the ticket codes, the .ics calendar file,
the confirmation e-mail (queued where an order becomes paid) and its attachments.

Everything is built from current data when asked for (the e-mail's attachments at
delivery time), so a cancelled booking's calendar file says it is cancelled.
"""
from __future__ import annotations

import datetime as dt
import io
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import segno
from flask import current_app
from markupsafe import Markup, escape

from marketplace.extensions import db
from marketplace.models import Order, Ticket
from marketplace.models.base import utcnow
from marketplace.validation import parse_id

LOCAL_TZ = ZoneInfo("Europe/Rome")
PRODID = "-//Welfare marketplace//Bookings//IT"


# -- QR codes ----------------------------------------------------------------------------

def _qr(code: str):
    # Error level M survives a creased print-out or a scratched phone screen.
    return segno.make(code, error="m", micro=False)


def qr_svg(code: str, label: str | None = None) -> Markup:
    """The ticket code as an inline SVG QR code, with an accessible name (``label`` or the
    code itself) for screen readers."""
    name = escape(label or code)
    svg = _qr(code).svg_inline(scale=5, border=2, title=str(name), svgclass="ticket-qr")
    return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{name}" ', 1))


def qr_png(code: str, scale: int = 8) -> bytes:
    """The ticket code as a PNG QR code (an e-mail attachment)."""
    out = io.BytesIO()
    _qr(code).save(out, kind="png", scale=scale, border=2)
    return out.getvalue()


# -- Where and when ------------------------------------------------------------------------

def slot_location(slot):
    """The slot's place: its own location, else the service's first one (or None)."""
    from marketplace.models.catalogue import ServiceLocation

    if slot.location_id:
        location = db.session.get(ServiceLocation, slot.location_id)
        if location is not None:
            return location
    locations = slot.service.locations if slot.service is not None else []
    return locations[0] if locations else None


def location_text(location) -> str:
    """'Name, address, 20100 Municipality' with the parts that are known."""
    if location is None:
        return ""
    town = " ".join(p for p in (location.postal_code, location.municipality.name if location.municipality else "") if p)
    return ", ".join(p for p in (location.name, location.address, town) if p)


def valid_tickets(order: Order) -> list[Ticket]:
    return [t for t in order.tickets if t.status == Ticket.VALID]


def order_slots(order: Order) -> list:
    """The distinct slots of the order's tickets, in time order."""
    seen = {}
    for ticket in order.tickets:
        seen.setdefault(ticket.slot_id, ticket.slot)
    return sorted(seen.values(), key=lambda s: (s.starts_at, s.id))


def _territory(order: Order):
    from marketplace.models import Territory

    return db.session.get(Territory, order.territory_id)


def booking_url(order: Order) -> str:
    from marketplace.services.mail import external_url

    return external_url("bookings.detail", territory=_territory(order).slug, code=order.code)


# -- Calendar ------------------------------------------------------------------------------

def _uid_host() -> str:
    # From the configured base URL, not the request: the same event has the same UID
    # whether it came by e-mail (a job) or was downloaded on a territory's own domain.
    return urlsplit(current_app.config.get("BASE_URL") or "http://localhost").hostname or "localhost"


def order_calendar(order: Order) -> bytes:
    """An iCalendar file with one VEVENT per slot of the order. A cancelled order's events
    say STATUS:CANCELLED with a higher SEQUENCE, so calendars that imported them update
    (a booking not paid yet is TENTATIVE). Times are Europe/Rome with its VTIMEZONE."""
    from icalendar import Calendar, Event

    cancelled = order.status in (Order.CANCELLED, Order.EXPIRED)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    url = booking_url(order)
    stamp = (order.cancelled_at if cancelled and order.cancelled_at else order.paid_at or order.created_at or utcnow())
    for slot in order_slots(order):
        tickets = [t for t in order.tickets if t.slot_id == slot.id]
        codes = [t for t in tickets if t.status == Ticket.VALID] or tickets
        event = Event()
        event.add("uid", f"{order.code}-{slot.id}@{_uid_host()}")
        event.add("dtstamp", stamp.astimezone(dt.timezone.utc))
        event.add("dtstart", slot.starts_at.astimezone(LOCAL_TZ))
        event.add("dtend", slot.ends_at.astimezone(LOCAL_TZ))
        event.add("summary", slot.service.title)
        place = location_text(slot_location(slot))
        if place:
            event.add("location", place)
        lines = [f"{order.code}"]
        for ticket in codes:
            who = f" ({ticket.participant_name})" if ticket.participant_name else ""
            lines.append(f"{ticket.code} · {ticket.ticket_type.name}{who}")
        lines.append(url)
        event.add("description", "\n".join(lines))
        event.add("url", url)
        off = cancelled or slot.status == "cancelled"
        event.add("status", "CANCELLED" if off else ("CONFIRMED" if order.status == Order.PAID else "TENTATIVE"))
        event.add("sequence", 1 if off else 0)
        cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()


def calendar_filename(order: Order) -> str:
    return f"prenotazione-{order.code}.ics"


# -- Confirmation e-mail -------------------------------------------------------------------

def send_confirmation(order: Order) -> None:
    """Queue the booking confirmation (ticket codes, links, .ics and QR attachments) in the
    caller's transaction: nothing is sent if it rolls back, and it is sent after commit.
    Call it once, where the order becomes paid."""
    from marketplace.models import User
    from marketplace.services.mail import external_url, send_mail

    slots = order_slots(order)
    if not slots or not order.email:
        return
    territory = _territory(order)
    user = db.session.get(User, order.user_id) if order.user_id else None
    send_mail(order.email, "booking_confirmed", locale=(user.locale if user else None), territory=territory,
              attachments=f"order:{order.id}", order=order, slot=slots[0], service=slots[0].service,
              tickets=valid_tickets(order), location=location_text(slot_location(slots[0])),
              link=booking_url(order),
              tickets_link=external_url("bookings.tickets", territory=territory.slug, code=order.code),
              calendar_link=external_url("bookings.calendar", territory=territory.slug, code=order.code))


def attachments_for(spec: str) -> list[tuple[str, str, str, bytes]]:
    """The attachments an outbox message names, built now: (filename, maintype, subtype,
    content). ``order:<id>``: the order's .ics and one QR PNG per valid ticket. Unknown or
    vanished references give none (the e-mail still goes out)."""
    kind, _, ident = (spec or "").partition(":")
    order_id = parse_id(ident)
    if kind != "order" or order_id is None:
        return []
    from tenants.scoping import territory_scope, unscoped

    with unscoped():
        territory_id = db.session.execute(
            db.select(Order.territory_id).where(Order.id == order_id)).scalar_one_or_none()
    if territory_id is None:
        return []
    with territory_scope(territory_id):
        order = db.session.get(Order, order_id)
        if order is None:
            return []
        files = [(calendar_filename(order), "text", "calendar", order_calendar(order))]
        for ticket in valid_tickets(order):
            files.append((f"biglietto-{ticket.code}.png", "image", "png", qr_png(ticket.code)))
        return files
