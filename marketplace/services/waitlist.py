"""Waiting lists of full dates: join, leave, and offers of freed seats by e-mail.

A citizen joins when a date cannot give them the seats they want. When seats free up,
``offer_freed_seats`` (run by a job, after the commit that freed them) holds them in an
order for the first in line whose quantity fits, until ``offer_expires_at``, and e-mails
the link to complete the booking. A lapsed offer passes the seats to the next in line.

Every function runs inside a territory scope and the caller's transaction; the caller
commits (the job functions in ``marketplace.jobs`` commit for themselves).
"""
from __future__ import annotations

import datetime as dt

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select

from marketplace.extensions import db
from marketplace.models import Order, Slot, Territory, Ticket, User, WaitlistEntry
from marketplace.models.base import utcnow
from marketplace.services import DomainError, booking

ACTIVE = (WaitlistEntry.WAITING, WaitlistEntry.OFFERED)


def offer_hours() -> int:
    return int(current_app.config.get("WAITLIST_OFFER_HOURS", 24))


def max_quantity(slot: Slot) -> int:
    """The most seats one entry may ask for: what one booking of one ticket type can hold."""
    most = max((t.max_per_order for t in slot.ticket_types), default=0)
    return max(0, min(most, slot.capacity))


def active_entry(slot_id: int, user_id: int) -> WaitlistEntry | None:
    """The user's waiting or offered entry for this slot, if any."""
    return db.session.execute(
        select(WaitlistEntry).where(WaitlistEntry.slot_id == slot_id, WaitlistEntry.user_id == user_id,
                                    WaitlistEntry.status.in_(ACTIVE))
        .order_by(WaitlistEntry.id.desc())
    ).scalars().first()


def join(slot: Slot, user: User, quantity) -> WaitlistEntry:
    """Put ``user`` on the waiting list of ``slot`` for ``quantity`` seats.

    Only when the slot cannot give them that many seats now (counted under the slot's row
    lock), once per user and slot. Raises DomainError otherwise. The caller commits."""
    try:
        quantity = int(quantity)
    except (TypeError, ValueError):
        raise DomainError(_l("Enter a whole number of seats."), field="quantity") from None
    locked = booking._lock_slot(slot.id)
    if locked is None:
        raise DomainError(_l("This date is not available."))
    if locked.status != Slot.OPEN or locked.starts_at <= utcnow():
        raise DomainError(_l("This date can no longer be booked."))
    most = max_quantity(locked)
    if quantity < 1 or quantity > most:
        raise DomainError(_l("Choose between %(min)d and %(max)d seats.", min=1, max=max(1, most)),
                          field="quantity")
    if active_entry(locked.id, user.id) is not None:
        raise DomainError(_l("You are already on the waiting list for this date."))
    if booking.seats_left(locked) >= quantity:
        raise DomainError(_l("There are seats for you: you can book them now."), field="quantity")
    entry = WaitlistEntry(territory_id=locked.territory_id, slot_id=locked.id, user_id=user.id,
                          email=(user.email or "").strip().lower(), quantity=quantity,
                          status=WaitlistEntry.WAITING)
    db.session.add(entry)
    db.session.flush()
    return entry


def leave(entry: WaitlistEntry) -> None:
    """Take the entry off the list. An offer not yet taken up is given back (its seats go
    to the next in line after commit). A booked entry stays booked."""
    if entry.status not in ACTIVE:
        return
    order = entry.order if entry.status == WaitlistEntry.OFFERED else None
    entry.status = WaitlistEntry.LEFT
    if order is not None and order.status in (Order.PENDING, Order.AWAITING_PAYMENT):
        booking.transition(order, Order.CANCELLED)
        for ticket in order.tickets:
            ticket.status = Ticket.CANCELLED
        seats_freed(entry.slot_id)


def position(entry: WaitlistEntry) -> int | None:
    """1 for the first in line; None when the entry is no longer waiting."""
    if entry.status != WaitlistEntry.WAITING:
        return None
    ahead = db.session.execute(
        select(func.count(WaitlistEntry.id)).where(
            WaitlistEntry.slot_id == entry.slot_id, WaitlistEntry.status == WaitlistEntry.WAITING,
            or_(WaitlistEntry.created_at < entry.created_at,
                and_(WaitlistEntry.created_at == entry.created_at, WaitlistEntry.id < entry.id)))
    ).scalar_one()
    return int(ahead) + 1


def for_slot(slot: Slot) -> list[WaitlistEntry]:
    """Every entry of the slot, in order of joining (staff view)."""
    return list(db.session.execute(
        select(WaitlistEntry).where(WaitlistEntry.slot_id == slot.id)
        .order_by(WaitlistEntry.created_at, WaitlistEntry.id)
    ).scalars())


def active_for_user(user_id: int) -> list[tuple[WaitlistEntry, int | None]]:
    """The user's waiting and offered entries for dates still to come, with positions."""
    entries = db.session.execute(
        select(WaitlistEntry).join(Slot, Slot.id == WaitlistEntry.slot_id)
        .where(WaitlistEntry.user_id == user_id, WaitlistEntry.status.in_(ACTIVE), Slot.status == Slot.OPEN,
               Slot.starts_at > utcnow())
        .order_by(Slot.starts_at)
    ).scalars().all()
    return [(entry, position(entry)) for entry in entries]


def someone_fits(slot_id: int, seats: int) -> bool:
    """Is anyone waiting for at most ``seats`` seats? (cheap: one EXISTS query)"""
    if seats <= 0:
        return False
    return db.session.execute(select(WaitlistEntry.id).where(
        WaitlistEntry.slot_id == slot_id, WaitlistEntry.status == WaitlistEntry.WAITING,
        WaitlistEntry.quantity <= seats).limit(1)).first() is not None


def seats_freed(slot_id: int) -> None:
    """Seats of the slot may have freed: after commit, offer them to the waiting list
    (a job in the slot's territory). Call inside the transaction that freed them."""
    from marketplace.jobs import offer_freed_seats_job
    from marketplace.queue import enqueue
    from tenants.scoping import current_territory_id

    territory_id = current_territory_id()
    if territory_id is None:
        slot = db.session.get(Slot, slot_id)
        territory_id = slot.territory_id if slot else None
    if territory_id is not None:
        enqueue(offer_freed_seats_job, int(territory_id), int(slot_id))


def order_status_changed(order: Order) -> None:
    """Hook of ``booking.transition``: an offered order that is paid makes its entry
    booked; one that expires or is cancelled makes it expired."""
    if order.id is None or order.status not in (Order.PAID, Order.EXPIRED, Order.CANCELLED):
        return
    if getattr(order, "made_here", False):
        return  # held by this very transaction and not an offer: no entry can point to it
    entry = db.session.execute(
        select(WaitlistEntry).where(WaitlistEntry.order_id == order.id,
                                    WaitlistEntry.status == WaitlistEntry.OFFERED)
    ).scalars().first()
    if entry is not None:
        entry.status = WaitlistEntry.BOOKED if order.status == Order.PAID else WaitlistEntry.EXPIRED


def expire_lapsed_offers(slot_id: int | None = None, now: dt.datetime | None = None) -> set[int]:
    """Offers past their deadline (or whose order no longer holds seats) become expired,
    their unpaid orders too. Returns the slot ids concerned."""
    now = now or utcnow()
    query = (select(WaitlistEntry).outerjoin(Order, Order.id == WaitlistEntry.order_id)
             .where(WaitlistEntry.status == WaitlistEntry.OFFERED,
                    or_(WaitlistEntry.offer_expires_at <= now, Order.id.is_(None),
                        ~booking.holding_condition(now))))
    if slot_id is not None:
        query = query.where(WaitlistEntry.slot_id == slot_id)
    slots: set[int] = set()
    for entry in db.session.execute(query).scalars().all():
        order = entry.order
        if order is not None and order.status == Order.PAID:
            entry.status = WaitlistEntry.BOOKED
            continue
        if order is not None and order.status in (Order.PENDING, Order.AWAITING_PAYMENT):
            booking.transition(order, Order.EXPIRED)  # the hook marks the entry expired
        entry.status = WaitlistEntry.EXPIRED
        slots.add(entry.slot_id)
    return slots


def _ticket_type_for(slot: Slot, quantity: int, now: dt.datetime):
    """The first ticket type by position that can hold ``quantity`` seats in one order."""
    for ticket_type in slot.ticket_types:
        if not ticket_type.min_per_order <= quantity <= ticket_type.max_per_order:
            continue
        if ticket_type.quota is not None and \
                ticket_type.quota - booking.seats_taken(slot.id, ticket_type.id, now=now) < quantity:
            continue
        return ticket_type
    return None


def offer_freed_seats(slot_id: int) -> list[WaitlistEntry]:
    """Offer the slot's free seats to the waiting list, first come first served.

    Under the slot's row lock: lapsed offers expire, then while seats are free the first
    waiting entry whose quantity fits gets them held in an order until its offer deadline
    (never past the start), and an e-mail with the link. Returns the new offers. Safe to
    run twice. The caller commits."""
    slot = booking._lock_slot(slot_id)
    if slot is None:
        return []
    now = utcnow()
    if slot.status != Slot.OPEN or slot.starts_at <= now:
        if slot.status != Slot.OPEN:
            for entry in db.session.execute(select(WaitlistEntry).where(
                    WaitlistEntry.slot_id == slot.id, WaitlistEntry.status == WaitlistEntry.WAITING)).scalars():
                entry.status = WaitlistEntry.LEFT
        return []
    expire_lapsed_offers(slot.id, now)
    left = slot.capacity - booking.seats_taken(slot.id, now=now)
    offers: list[WaitlistEntry] = []
    if left <= 0:
        return offers
    waiting = db.session.execute(
        select(WaitlistEntry).where(WaitlistEntry.slot_id == slot.id, WaitlistEntry.status == WaitlistEntry.WAITING)
        .order_by(WaitlistEntry.created_at, WaitlistEntry.id)
    ).scalars().all()
    deadline = min(now + dt.timedelta(hours=offer_hours()), slot.starts_at)
    for entry in waiting:
        if left <= 0:
            break
        if entry.quantity > left:
            continue
        ticket_type = _ticket_type_for(slot, entry.quantity, now)
        user = db.session.get(User, entry.user_id) if entry.user_id else None
        if ticket_type is None or user is None:
            continue
        try:
            order = booking.hold(slot.id, {ticket_type.id: entry.quantity}, user=user, email=entry.email)
        except booking.Busy:
            raise
        except DomainError:
            continue  # this entry cannot be served now; the next one may be
        order.hold_expires_at = deadline
        entry.status = WaitlistEntry.OFFERED
        entry.order_id = order.id
        order.made_here = False  # an offer now: its entry must follow it
        entry.offered_at = now
        entry.offer_expires_at = deadline
        left -= entry.quantity
        offers.append(entry)
        _offer_mail(entry, order, slot, user)
    db.session.flush()
    return offers


def _offer_mail(entry: WaitlistEntry, order: Order, slot: Slot, user: User) -> None:
    from marketplace.services.mail import external_url, send_mail

    territory = db.session.get(Territory, slot.territory_id)
    link = external_url("bookings.checkout", territory=territory.slug, code=order.code)
    send_mail(entry.email, "waitlist_offer", locale=user.locale, territory=territory,
              entry=entry, order=order, slot=slot, service=slot.service, link=link)


def cleanup(now: dt.datetime | None = None) -> set[int]:
    """Expire lapsed holds and offers of the territory in scope; return the ids of the
    slots whose waiting lists should be offered seats (open, future, someone waiting)."""
    now = now or utcnow()
    booking.expire_holds(now)
    expire_lapsed_offers(now=now)
    return set(db.session.execute(
        select(WaitlistEntry.slot_id).join(Slot, Slot.id == WaitlistEntry.slot_id)
        .where(WaitlistEntry.status == WaitlistEntry.WAITING, Slot.status == Slot.OPEN, Slot.starts_at > now)
        .distinct()
    ).scalars())
