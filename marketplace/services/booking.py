"""Selling seats: hold (lock, then recount), confirm, expire. Every seat is sold once.

All functions run inside a territory scope and the caller's transaction; the caller
commits. ``hold`` takes a row lock on the slot (``SELECT ... FOR UPDATE``) and counts the
seats taken *inside* that lock, so two buyers of the last seat cannot both get it.
"""
from __future__ import annotations

import datetime as dt

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.exc import OperationalError

from marketplace.extensions import db
from marketplace.models import Order, Slot, Ticket, TicketType, User
from marketplace.models.base import utcnow
from marketplace.services import DomainError

# Test-only switch: the concurrency test's negative control turns the lock off to show
# that the test can fail. Never change it elsewhere.
LOCKING = True


class SlotFull(DomainError):
    """Not enough seats left."""


class Busy(DomainError):
    """The slot is locked by other buyers for too long: try again."""


def hold_seconds() -> int:
    return int(current_app.config.get("BOOKING_HOLD_SECONDS", 15 * 60))


def holding_condition(now: dt.datetime):
    """Orders whose tickets occupy seats: paid, or still within their hold."""
    return or_(
        Order.status == Order.PAID,
        and_(Order.status.in_((Order.PENDING, Order.AWAITING_PAYMENT)), Order.hold_expires_at > now),
    )


def seats_taken(slot_id: int, ticket_type_id: int | None = None, now: dt.datetime | None = None) -> int:
    """Seats of the slot (or of one ticket type) that are sold or held right now.
    Expired holds are not counted, whether or not a clean-up job has run."""
    now = now or utcnow()
    query = (
        select(func.count(Ticket.id))
        .join(Order, Order.id == Ticket.order_id)
        .where(Ticket.slot_id == slot_id, Ticket.status == Ticket.VALID, holding_condition(now))
    )
    if ticket_type_id is not None:
        query = query.where(Ticket.ticket_type_id == ticket_type_id)
    return int(db.session.execute(query).scalar_one())


def seats_left(slot: Slot) -> int:
    return max(0, slot.capacity - seats_taken(slot.id))


def _lock_slot(slot_id: int) -> Slot | None:
    bind = db.session.get_bind()
    query = select(Slot).where(Slot.id == slot_id)
    if LOCKING:
        if bind.dialect.name == "postgresql":
            # Wait a little for other buyers, then say "try again" rather than hang.
            timeout = int(current_app.config.get("BOOKING_LOCK_TIMEOUT_MS", 3000))
            db.session.execute(text(f"SET LOCAL lock_timeout = '{timeout}ms'"))
        query = query.with_for_update()
    try:
        return db.session.execute(query.execution_options(populate_existing=True)).scalar_one_or_none()
    except OperationalError as exc:
        db.session.rollback()
        raise Busy(_l("Many people are booking this slot right now. Please try again.")) from exc


def hold(slot_id: int, quantities: dict[int, int], user: User | None = None, email: str = "",
         participants: list | None = None, booked_by: User | None = None) -> Order:
    """Hold seats for ``hold_seconds()``: a PENDING order with its tickets.

    ``participants`` gives the tickets, in order, their participant: a name, or a
    ``(name, age)`` pair (age None when not asked; else 0..120).

    ``quantities`` maps ticket type ids of this slot to numbers of seats. Raises SlotFull
    when not enough seats are left (counted under the slot's row lock), DomainError for
    bad input. The caller commits.
    """
    quantities = {int(k): int(v) for k, v in quantities.items() if int(v)}
    if any(n < 0 for n in quantities.values()):
        raise DomainError(_l("Quantities cannot be negative."), field="quantities")
    wanted = sum(quantities.values())
    if wanted <= 0:
        raise DomainError(_l("Choose at least one ticket."), field="quantities")
    slot = _lock_slot(slot_id)
    if slot is None:
        raise DomainError(_l("This date is not available."))
    now = utcnow()
    if slot.status != Slot.OPEN or slot.starts_at <= now:
        raise DomainError(_l("This date can no longer be booked."))
    types = {t.id: t for t in slot.ticket_types}
    if set(quantities) - set(types):
        raise DomainError(_l("Unknown ticket type."), field="quantities")
    for type_id, n in quantities.items():
        ticket_type = types[type_id]
        if n < ticket_type.min_per_order or n > ticket_type.max_per_order:
            raise DomainError(_l("%(name)s: choose between %(min)d and %(max)d tickets.",
                                 name=ticket_type.name, min=ticket_type.min_per_order,
                                 max=ticket_type.max_per_order), field="quantities")
    # Recount inside the lock: what other buyers committed before we got it is counted.
    left = slot.capacity - seats_taken(slot.id, now=now)
    if wanted > left:
        raise SlotFull(_l("Sorry, only %(n)d seats are left.", n=max(0, left)) if left > 0
                       else _l("Sorry, this date is full."))
    for type_id, n in quantities.items():
        ticket_type = types[type_id]
        if ticket_type.quota is not None:
            type_left = ticket_type.quota - seats_taken(slot.id, type_id, now=now)
            if n > type_left:
                raise SlotFull(_l("Sorry, only %(n)d “%(name)s” tickets are left.",
                                  n=max(0, type_left), name=ticket_type.name))
    names = []
    for entry in participants or []:
        name, age = (entry, None) if isinstance(entry, str) else (entry[0], entry[1])
        if age is not None and not 0 <= int(age) <= 120:
            raise DomainError(_l("The age must be between 0 and 120."), field="participants")
        names.append(((name or "").strip()[:120], None if age is None else int(age)))
    order = Order(
        territory_id=slot.territory_id, user_id=user.id if user else None,
        email=(email or (user.email if user else "")).strip().lower(), status=Order.PENDING,
        hold_expires_at=now + dt.timedelta(seconds=hold_seconds()),
        booked_by_id=booked_by.id if booked_by else None,
    )
    # Not a column: tells the waiting-list hook this order was just held here (no query needed).
    order.made_here = True
    db.session.add(order)
    total = 0
    for type_id in sorted(quantities):
        ticket_type = types[type_id]
        for _ in range(quantities[type_id]):
            name, age = names.pop(0) if names else ("", None)
            order.tickets.append(Ticket(
                territory_id=slot.territory_id, slot_id=slot.id, ticket_type_id=type_id,
                price_cents=ticket_type.price_cents, participant_name=name, participant_age=age,
            ))
            total += ticket_type.price_cents
    order.total_cents = total
    db.session.flush()
    return order


def transition(order: Order, status: str) -> bool:
    """The one place an order changes status. Returns False if it already has it (no-op);
    raises DomainError for a move the life cycle does not allow."""
    if order.status == status:
        return False
    if status not in Order.TRANSITIONS[order.status]:
        raise DomainError(_l("This booking cannot go from %(old)s to %(new)s.", old=order.status, new=status))
    order.status = status
    if status == Order.PAID:
        order.paid_at = utcnow()
        order.hold_expires_at = None
    elif status == Order.CANCELLED:
        order.cancelled_at = utcnow()
    from marketplace.services import funding, waitlist  # noqa: PLC0415 - both build on this module
    funding.order_status_changed(order)
    waitlist.order_status_changed(order)
    return True


def confirm_free(order: Order) -> None:
    """A booking with nothing to pay is confirmed at once (if its hold is still valid)."""
    if order.total_cents != 0:
        raise DomainError(_l("This booking must be paid."))
    if order.status == Order.PENDING and order.hold_expires_at and order.hold_expires_at <= utcnow():
        transition(order, Order.EXPIRED)
        raise DomainError(_l("Your reservation expired. Please choose your seats again."))
    transition(order, Order.PAID)


def expire_holds(now: dt.datetime | None = None) -> int:
    """Mark unpaid orders past their hold as expired (their seats are already free)."""
    now = now or utcnow()
    orders = db.session.execute(
        select(Order).where(Order.status.in_((Order.PENDING, Order.AWAITING_PAYMENT)),
                            Order.hold_expires_at <= now).with_for_update(skip_locked=True)
    ).scalars().all()
    for order in orders:
        transition(order, Order.EXPIRED)
    return len(orders)


def lock_order(order: Order) -> Order:
    """Take the order's row lock and re-read it: a citizen cancelling while staff cancel the
    date (or two clicks at once) see each other's result instead of both acting."""
    return db.session.execute(
        select(Order).where(Order.id == order.id).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def cancel_free(order: Order) -> None:
    """Cancel a booking that cost nothing (or was never paid): its seats return to sale.
    Paid bookings are cancelled with their refunds by the checkout service."""
    order = lock_order(order)
    if order.status in (Order.CANCELLED, Order.EXPIRED):
        return
    if order.status == Order.PAID and order.total_cents > 0:
        raise DomainError(_l("This booking was paid: ask the cooperative to cancel it and refund you."))
    if order.tickets and order.tickets[0].slot.starts_at <= utcnow():
        raise DomainError(_l("This date has already started and can no longer be cancelled."))
    transition(order, Order.CANCELLED)
    for ticket in order.tickets:
        ticket.status = Ticket.CANCELLED
    _seats_freed(order)


def _seats_freed(order: Order) -> None:
    """After commit, the waiting lists of the order's slots get the seats it gave back."""
    from marketplace.services import waitlist  # noqa: PLC0415 - waitlist builds on this module

    for slot_id in sorted({t.slot_id for t in order.tickets}):
        waitlist.seats_freed(slot_id)
