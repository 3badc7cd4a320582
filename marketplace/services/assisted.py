"""Assisted booking: staff of a help desk or a cooperative book on a citizen's behalf.

Every function runs inside a territory scope and the caller's transaction; the caller
commits. Seats go through ``booking.hold`` (lock, then recount) and money through
``checkout.pay_at_desk`` (the ledger); e-mails are queued with ``send_mail`` and leave
only if the transaction commits.
"""
from __future__ import annotations

import datetime as dt
import re

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.models import AccountToken, Cooperative, Order, Service, Slot, User
from marketplace.models.base import utcnow
from marketplace.services import DomainError, booking, checkout
from marketplace.services.accounts import _issue, find_user_by_email, normalise_email
from marketplace.services.mail import external_url, send_mail

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_RE = re.compile(r"^\+\d{6,15}$")

PAY_AT_DESK = "desk"
PAY_BY_LINK = "link"


def normalise_phone(raw: str) -> str:
    """A phone number as ``+<country code><number>``: spaces, dots, dashes, slashes and
    brackets dropped, ``00`` read as ``+``, Italian numbers without a prefix get ``+39``.
    Returns "" when what is left is not a phone number."""
    text = re.sub(r"[\s.\-/()]", "", raw or "")
    if text.startswith("00"):
        text = "+" + text[2:]
    if text and not text.startswith("+"):
        text = "+39" + text
    return text if PHONE_RE.match(text) else ""


def _stored_phone():
    """The stored phone with the usual separators removed, for an exact SQL comparison."""
    column = User.phone
    for char in (" ", ".", "-", "/", "(", ")"):
        column = func.replace(column, char, "")
    return column


def find_citizens(contact: str) -> list[User]:
    """Accounts whose e-mail (case-insensitive) or phone (normalised) is exactly ``contact``.
    Several people may share a phone (a family): all are returned, at most ten."""
    contact = (contact or "").strip()
    if not contact:
        return []
    if "@" in contact:
        user = find_user_by_email(contact)
        return [user] if user is not None and user.deleted_at is None else []
    phone = normalise_phone(contact)
    if not phone:
        return []
    variants = {phone, "00" + phone[1:]}
    if phone.startswith("+39"):
        variants.add(phone[3:])  # stored the Italian way, without a prefix
    return list(db.session.execute(
        select(User).where(_stored_phone().in_(variants), User.deleted_at.is_(None))
        .order_by(User.full_name, User.id).limit(10)
    ).scalars())


def create_citizen(full_name: str, email: str = "", phone: str = "", locale: str = "it",
                   territory=None) -> User:
    """An account for a citizen who is not online. It has no usable password; with an
    e-mail address the citizen is sent a link to choose one. With a phone only, the
    account gets a unique placeholder address under ``User.NO_EMAIL_DOMAIN`` (the e-mail
    column is required and unique) and nothing is ever e-mailed to it. Raises DomainError
    for bad input or when the e-mail or phone already belongs to an account."""
    full_name = (full_name or "").strip()
    email = normalise_email(email)
    raw_phone = (phone or "").strip()
    phone = normalise_phone(raw_phone)
    if not full_name:
        raise DomainError(_l("Enter the citizen's name."), field="full_name")
    if len(full_name) > 120:
        raise DomainError(_l("The name is too long."), field="full_name")
    if email and (not EMAIL_RE.match(email) or email.endswith(".invalid") or len(email) > 254):
        raise DomainError(_l("Enter a valid e-mail address, like nome@esempio.it."), field="email")
    if raw_phone and not phone:
        raise DomainError(_l("Enter a valid phone number, like 333 123 4567."), field="phone")
    if not email and not phone:
        raise DomainError(_l("Enter an e-mail address or a phone number."), field="email")
    if locale not in ("it", "en"):
        locale = "it"
    if email and find_citizens(email):
        raise DomainError(_l("An account with this e-mail address already exists: search for it."),
                          field="email")
    if not email and find_citizens(phone):
        # With an e-mail a shared phone is fine (a family); without one the phone is the only key.
        raise DomainError(_l("An account with this phone number already exists: search for it."),
                          field="phone")
    user = User(email=email or f"tel{phone[1:]}@{User.NO_EMAIL_DOMAIN}", full_name=full_name,
                phone=phone, locale=locale, password_hash="")
    db.session.add(user)
    db.session.flush()
    if email:
        # A reset token is what "choose a password" needs; valid as long as a confirmation.
        raw = _issue(user, AccountToken.RESET, current_app.config["TOKEN_TTL_CONFIRM"])
        values = {"token": raw}
        if territory is not None:
            values["territory"] = territory.slug
        send_mail(user.email, "assisted_welcome", locale=user.locale, territory=territory, user=user,
                  link=external_url("account.reset_password", **values),
                  hours=current_app.config["TOKEN_TTL_CONFIRM"] // 3600)
    return user


def bookable_services(cooperative: Cooperative | None = None) -> list[Service]:
    """Published services of accredited cooperatives (of ``cooperative`` only, if given)."""
    query = (select(Service).join(Cooperative, Cooperative.id == Service.cooperative_id)
             .where(Service.status == Service.PUBLISHED, Cooperative.status == Cooperative.ACCREDITED)
             .order_by(Service.title))
    if cooperative is not None:
        query = query.where(Service.cooperative_id == cooperative.id)
    return list(db.session.execute(query).scalars())


def upcoming_slots(services: list[Service], limit: int = 300) -> list[Slot]:
    """Open future dates of these services, soonest first."""
    if not services:
        return []
    return list(db.session.execute(
        select(Slot).where(Slot.service_id.in_([s.id for s in services]), Slot.status == Slot.OPEN,
                           Slot.starts_at > utcnow())
        .order_by(Slot.starts_at, Slot.id).limit(limit)
    ).scalars())


def check_bookable(slot: Slot, cooperative: Cooperative | None = None) -> Service:
    """The slot's service if staff may book it: published, its cooperative accredited and,
    for cooperative staff, their own. Raises DomainError otherwise."""
    service = db.session.get(Service, slot.service_id)
    if (service is None or not service.is_published or not service.cooperative.is_accredited
            or (cooperative is not None and service.cooperative_id != cooperative.id)):
        raise DomainError(_l("This date is not available."))
    return service


def book_for(slot: Slot, quantities: dict[int, int], citizen: User, staff: User, channel: str,
             consent: bool, participants: list[str] | None = None, payment: str = PAY_AT_DESK,
             cooperative: Cooperative | None = None, territory=None, voucher_code: str = "") -> Order:
    """Book ``slot`` for ``citizen`` on their behalf, by ``staff`` through ``channel``.

    Requires the citizen's recorded consent. Free: confirmed at once. Paid: ``payment``
    "desk" means the money was taken at the desk (paid now); "link" keeps the seats held
    for ``ASSISTED_HOLD_HOURS`` (never past the start) and e-mails the citizen the link to
    pay online. A printed ``voucher_code`` is given to the citizen and pays first (all of
    it, or what it can: the desk or the link takes the rest). The confirmation e-mail goes
    to the citizen if they have an address.
    Raises DomainError (nothing held) for missing consent, bad input or a full date."""
    if channel not in (Order.HELP_DESK, Order.COOPERATIVE):
        raise DomainError(_l("Unknown booking channel."))
    if not consent:
        raise DomainError(_l("Confirm that the citizen agreed to this booking."), field="consent")
    service = check_bookable(slot, cooperative)
    prices = {t.id: t.price_cents for t in slot.ticket_types}
    paid = any(int(n) > 0 and prices.get(int(k), 0) > 0 for k, n in quantities.items())
    if paid and payment not in (PAY_AT_DESK, PAY_BY_LINK):
        raise DomainError(_l("Choose how the citizen pays."), field="payment")
    if paid and payment == PAY_BY_LINK and not citizen.has_email:
        raise DomainError(_l("This citizen has no e-mail address: take the payment at the desk."),
                          field="payment")
    order = booking.hold(slot.id, quantities, user=citizen, email=citizen.email if citizen.has_email else "",
                         participants=participants, booked_by=staff)
    if not citizen.has_email:
        order.email = ""  # never the placeholder address: nothing is sent for this booking
    order.channel = channel
    order.consent_at = utcnow()
    if order.total_cents > 0 and voucher_code:
        from marketplace.services import funding

        try:
            voucher = funding.claim_voucher(voucher_code, citizen)
            funding.reserve(order, citizen, [voucher.id], use_credit=False, notify=False)
        except DomainError as exc:
            raise DomainError(exc.message, field="voucher_code") from exc
    if order.total_cents == 0:
        booking.confirm_free(order)
        confirmation_mail(order, territory)
    elif order.status == Order.PAID:  # the voucher paid it all
        confirmation_mail(order, territory)
    elif payment == PAY_AT_DESK:
        checkout.pay_at_desk(order, staff)
        confirmation_mail(order, territory)
    else:
        hours = int(current_app.config.get("ASSISTED_HOLD_HOURS", 24))
        order.hold_expires_at = min(utcnow() + dt.timedelta(hours=hours), slot.starts_at)
        send_mail(order.email, "assisted_payment_link", locale=citizen.locale, territory=territory,
                  order=order, slot=slot, service=service, staff=staff,
                  link=external_url("bookings.checkout", code=order.code))
    db.session.flush()
    return order


def confirmation_mail(order: Order, territory=None) -> None:
    """The usual booking confirmation (ticket codes, calendar file, QR codes), to the
    citizen in their language, if they have an e-mail address. Queued in the transaction."""
    from marketplace.services import tickets

    tickets.send_confirmation(order)


def bookings_by(staff: User, channel: str, cooperative: Cooperative | None = None,
                limit: int = 100) -> list[Order]:
    """Orders ``staff`` booked on citizens' behalf through ``channel``, most recent first."""
    query = select(Order).where(Order.booked_by_id == staff.id, Order.channel == channel)
    if cooperative is not None:
        from marketplace.models import Ticket

        query = query.where(Order.id.in_(
            select(Ticket.order_id).join(Slot, Slot.id == Ticket.slot_id)
            .join(Service, Service.id == Slot.service_id).where(Service.cooperative_id == cooperative.id)))
    return list(db.session.execute(query.order_by(Order.created_at.desc(), Order.id.desc()).limit(limit))
                .scalars())


def may_see(order: Order, staff: User, channel: str, cooperative: Cooperative | None = None) -> bool:
    """Staff see the assisted bookings they made; help-desk colleagues those made at the
    help desk; cooperative colleagues those made by their cooperative for its services."""
    if order.booked_by_id is None:
        return False
    if order.booked_by_id == staff.id:
        return True
    if order.channel != channel:
        return False
    if cooperative is None:
        return True
    return any(t.slot.service.cooperative_id == cooperative.id for t in order.tickets)


__all__ = ["PAY_AT_DESK", "PAY_BY_LINK", "book_for", "bookable_services", "bookings_by", "check_bookable",
           "confirmation_mail", "create_citizen", "find_citizens", "may_see", "normalise_phone",
           "upcoming_slots"]
