"""Assisted booking: staff of a help desk or a cooperative book on a citizen's behalf.

Every function runs inside a territory scope and the caller's transaction; the caller
commits. Seats go through ``booking.hold`` (lock, then recount) and money through
``checkout.pay_at_desk`` (the ledger); e-mails are queued with ``send_mail`` and leave
only if the transaction commits.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.models import (
    AccountToken, Application, Beneficiary, Cooperative, DeskRegistration, Employee, Membership, Order,
    Service, ServiceRequest, Slot, User, Voucher, WaitlistEntry,
)
from marketplace.models.base import utcnow
from marketplace.services import DomainError, booking, checkout
from marketplace.services.accounts import _issue, find_user_by_email, normalise_email
from marketplace.services.mail import external_url, send_mail
from tenants.scoping import current_territory_id, unscoped

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


@dataclass(frozen=True)
class DeskCitizen:
    """A citizen as a desk of this territory sees them. For an account related to the
    territory by its own records (see ``_related_here``): the account's name, e-mail and
    phone. For a citizen known here only because a desk registered them: what the citizen
    gave the desk (a ``DeskRegistration``), never the account's own data."""

    id: int
    full_name: str
    email: str  # "" when there is none
    phone: str

    @property
    def has_email(self) -> bool:
        return bool(self.email) and not self.email.endswith(".invalid")

    @property
    def display_name(self) -> str:
        return self.full_name or (self.email if self.has_email else self.phone) or str(_l("(no name)"))


def _accounts_matching(contact: str) -> list[User]:
    """Accounts whose e-mail (case-insensitive) or phone (normalised) is exactly ``contact``,
    at most ten; whether a desk may see them is for ``find_citizens`` to say."""
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


def _hidden_everywhere(users: list[User]) -> set[int]:
    """Accounts no desk is ever shown: platform operators and whoever holds a role
    (coordinator, staff, help desk, funder officer) in another territory."""
    hidden = {u.id for u in users if u.is_platform_admin}
    ids = [u.id for u in users if u.id not in hidden]
    here = current_territory_id()
    if ids:
        with unscoped():  # memberships of other territories, filtered explicitly
            hidden |= set(db.session.execute(select(Membership.user_id).where(
                Membership.user_id.in_(ids), Membership.territory_id != here)).scalars())
    return hidden


def _related_here(ids: set[int]) -> set[int]:
    """Of ``ids``, the accounts with a record of their own in the territory in scope: a role,
    a booking they made themselves, a waiting list, a request, an application, a voucher,
    an employee record, a beneficiary record. Bookings a desk made for them do not count:
    those show what the desk was given (``DeskRegistration``)."""
    if not ids:
        return set()
    found: set[int] = set()
    for column, extra in (
        (Membership.user_id, None), (Order.user_id, Order.booked_by_id.is_(None)),
        (WaitlistEntry.user_id, None), (ServiceRequest.user_id, None), (Application.user_id, None),
        (Voucher.holder_id, None), (Employee.user_id, None), (Beneficiary.user_id, None),
    ):
        rest = sorted(ids - found)
        if not rest:
            break
        query = select(column).where(column.in_(rest))
        if extra is not None:
            query = query.where(extra)
        found |= set(db.session.execute(query.distinct()).scalars())
    return found


def _registrations_matching(contact: str) -> list[DeskRegistration]:
    contact = (contact or "").strip()
    if "@" in contact:
        query = select(DeskRegistration).where(DeskRegistration.email == normalise_email(contact))
    else:
        phone = normalise_phone(contact)
        if not phone:
            return []
        query = select(DeskRegistration).where(DeskRegistration.phone == phone)
    return list(db.session.execute(query.order_by(DeskRegistration.full_name, DeskRegistration.id).limit(10))
                .scalars())


def find_citizens(contact: str) -> list[DeskCitizen]:
    """The citizens of the territory in scope whose e-mail or phone is exactly ``contact``, as
    a desk may see them (several may share a phone: a family; at most ten).

    An account is found with its own data only if it has a record of its own in this
    territory (``_related_here``), and with what the desk was given if a desk of this
    territory registered it (``DeskRegistration``). Any other account — one that only
    exists elsewhere, a platform operator, anyone holding a role in another territory —
    is not found, exactly as if there were none."""
    accounts = _accounts_matching(contact)
    hidden = _hidden_everywhere(accounts)
    related = _related_here({u.id for u in accounts} - hidden)
    shown = {u.id: DeskCitizen(u.id, u.full_name, u.email if u.has_email else "", u.phone)
             for u in accounts if u.id in related}
    for registration in _registrations_matching(contact):
        if registration.user_id not in shown:
            shown[registration.user_id] = _from_registration(registration)
    live = set(db.session.execute(select(User.id).where(User.id.in_(sorted(shown)), User.deleted_at.is_(None)))
               .scalars()) if shown else set()
    return sorted((c for c in shown.values() if c.id in live), key=lambda c: (c.full_name, c.id))[:10]


def _from_registration(registration: DeskRegistration) -> DeskCitizen:
    return DeskCitizen(registration.user_id, registration.full_name, registration.email, registration.phone)


def as_seen_by_desk(user: User | None) -> DeskCitizen | None:
    """``user`` as a desk of this territory may see them (see ``find_citizens``), or None
    when the desk may not see them at all."""
    if user is None or user.deleted_at is not None:
        return None
    if user.id not in _hidden_everywhere([user]) and _related_here({user.id}):
        return DeskCitizen(user.id, user.full_name, user.email if user.has_email else "", user.phone)
    registration = db.session.execute(select(DeskRegistration).where(DeskRegistration.user_id == user.id)
                                      ).scalar_one_or_none()
    return _from_registration(registration) if registration is not None else None


def lookup_fingerprint(contact: str) -> tuple[str, str]:
    """What the audit log keeps of a searched e-mail or phone: a masked form a person can
    read (``m•••@e•••.org``, ``+39•••••67``) and a keyed hash (HMAC-SHA256 with the app's
    secret, normalised value) that can be matched against a known value, never reversed."""
    contact = (contact or "").strip()
    if "@" in contact:
        value = normalise_email(contact)
        local, _sep, domain = value.partition("@")
        name, _dot, tld = domain.rpartition(".")
        masked = f"{local[:1]}•••@{(name or tld)[:1]}•••" + (f".{tld}" if name else "")
    else:
        value = normalise_phone(contact) or re.sub(r"\s", "", contact)
        masked = (value[:3] + "•" * max(0, len(value) - 5) + value[-2:]) if len(value) > 5 else "•" * len(value)
    key = str(current_app.config.get("SECRET_KEY") or "").encode()
    digest = hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
    return masked[:80], digest


def audit_lookup(staff: User, contact: str, found: int, cooperative: Cooperative | None = None) -> None:
    """Write a citizen look-up to the audit log: who, when, the searched value masked and
    hashed (never in clear) and how many citizens were shown. The caller commits."""
    from marketplace.services import audit

    masked, digest = lookup_fingerprint(contact)
    audit.log(staff, "looked_up", f"citizen-lookup:{masked}",
              cooperative_id=cooperative.id if cooperative is not None else None,
              detail=f"{'found' if found else 'not found'} ({found}); hmac-sha256:{digest}")


def create_citizen(full_name: str, email: str = "", phone: str = "", locale: str = "it",
                   territory=None, staff: User | None = None) -> DeskCitizen:
    """Register a citizen who is not online at this territory's desk, and return them as
    the desk sees them. Raises DomainError for bad input or when a desk of this territory
    can already find the e-mail or phone (then: search for it).

    Without an account for the address: a new account, with no usable password; with an
    e-mail address the citizen is sent a link to choose one. With a phone only, the account
    gets a unique placeholder address under ``User.NO_EMAIL_DOMAIN`` and nothing is ever
    e-mailed to it. When the address already has an account the desk may not see, the
    desk books on that account all the same, but sees only what it typed here; the account
    holder is told by e-mail. The desk's answer is the same either way, so registering
    never tells whether an address has an account."""
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
    address = email or f"tel{phone[1:]}@{User.NO_EMAIL_DOMAIN}"
    user = find_user_by_email(address)
    if user is not None and user.deleted_at is not None:
        raise DomainError(_l("This address cannot be used: ask the citizen for another one."), field="email")
    if user is None:
        user = User(email=address, full_name=full_name, phone=phone, locale=locale, password_hash="")
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
    elif user.has_email:
        # Their account, their data: the holder learns that this desk now books for them.
        send_mail(user.email, "assisted_registered", locale=user.locale or locale, territory=territory,
                  typed_name=full_name)
    already = db.session.execute(select(DeskRegistration.id).where(DeskRegistration.user_id == user.id)).first()
    if already is not None:  # registered here before under other details: the desk finds it by those
        raise DomainError(_l("An account with this e-mail address already exists: search for it."),
                          field="email" if email else "phone")
    registration = DeskRegistration(user_id=user.id, full_name=full_name, email=email, phone=phone,
                                    registered_by_id=getattr(staff, "id", None))
    db.session.add(registration)
    db.session.flush()
    return _from_registration(registration)


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


__all__ = ["DeskCitizen", "PAY_AT_DESK", "PAY_BY_LINK", "as_seen_by_desk", "audit_lookup", "book_for", "bookable_services", "bookings_by", "check_bookable",
           "confirmation_mail", "create_citizen", "find_citizens", "may_see", "normalise_phone",
           "upcoming_slots"]
