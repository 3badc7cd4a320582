"""Staff cancel a date: every booking of it is cancelled in the request's transaction,
then a job refunds each paid booking in full (the cooperative cancelled, whatever the
policy) and tells its citizen. The refund of one booking never waits on another's.

Functions run inside a territory scope; the caller commits (except the job's loop).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from marketplace.extensions import after_commit, db
from marketplace.models import LedgerEntry, Order, Payment, Slot, Territory, Ticket, User, WaitlistEntry
from marketplace.models.base import utcnow
from marketplace.services import DomainError, booking, policy
from marketplace.services.mail import external_url, send_mail

log = logging.getLogger(__name__)

MAX_REASON = 300


def orders_of_slot(slot_id: int, lock: bool = False) -> list[Order]:
    """Orders with at least one ticket of the slot, oldest first. With ``lock``, row-locked
    (in id order; a citizen's own cancellation locks its one order) and re-read."""
    query = (select(Order).where(Order.id.in_(select(Ticket.order_id).where(Ticket.slot_id == slot_id)))
             .order_by(Order.id))
    if lock:
        query = query.with_for_update(of=Order).execution_options(populate_existing=True)
    return list(db.session.execute(query).scalars())


def cancel_bookings_of_slot(slot: Slot, reason: str) -> list[Order]:
    """Cancel every live order of ``slot`` (paid, held or being paid) with ``reason``,
    free its seats, end its waiting list and stop pending card payments after commit.
    Returns the orders cancelled. Paid money is given back by ``refund_order_in_full``
    (the ``refund_cancelled_slot`` job); a citizen with nothing to get back is told now."""
    now = slot.cancelled_at or utcnow()
    cancelled = []
    for order in orders_of_slot(slot.id, lock=True):
        if order.status not in (Order.PENDING, Order.AWAITING_PAYMENT, Order.PAID):
            continue
        if not any(t.status == Ticket.VALID for t in order.tickets):
            continue
        booking.transition(order, Order.CANCELLED)
        order.cancelled_at = now
        order.cancel_reason = reason[:MAX_REASON]
        for ticket in order.tickets:
            ticket.status = Ticket.CANCELLED
        for payment in order.payments:
            # Left pending on purpose: should the card still be charged in a race, the
            # confirmation sees a cancelled order and refunds it at once.
            if payment.status in (Payment.CREATED, Payment.PENDING) and payment.provider_ref:
                after_commit(partial(_cancel_intent_quietly, payment.provider, payment.provider_ref))
        if policy.paid_cents(order) == 0:
            _tell(order, slot, [])
        cancelled.append(order)
    for entry in db.session.execute(
            select(WaitlistEntry).where(WaitlistEntry.slot_id == slot.id,
                                        WaitlistEntry.status.in_((WaitlistEntry.WAITING, WaitlistEntry.OFFERED)))
    ).scalars():
        entry.status = WaitlistEntry.LEFT
    db.session.flush()
    return cancelled


def _cancel_intent_quietly(provider_name: str, ref: str) -> None:
    from payments.providers import ProviderError, get_provider

    try:
        provider = get_provider(provider_name)
    except (KeyError, ProviderError):
        return
    cancel = getattr(provider, "cancel_quietly", None)
    if cancel is not None:
        cancel(ref)


def owed_cents(order: Order, slot: Slot) -> int:
    """What the cooperative still owes ``order`` because it cancelled ``slot``: everything
    paid and not yet refunded, if the order was cancelled with the date (a citizen's own
    earlier cancellation keeps its policy)."""
    if (order.status != Order.CANCELLED or slot.cancelled_at is None or order.cancelled_at is None
            or order.cancelled_at < slot.cancelled_at):
        return 0
    return policy.paid_cents(order)


def refund_order_in_full(order_id: int, slot_id: int) -> int:
    """Refund what ``owed_cents`` says, payment by payment under their row locks, and
    e-mail the citizen. Returns the cents refunded now (0 when nothing was owed: running
    it twice refunds nothing more). Raises ProviderError/LedgerError; the caller rolls back."""
    from marketplace.services.checkout import refund_payment
    from payments import ledger

    slot = db.session.get(Slot, slot_id)
    order = db.session.execute(
        select(Order).where(Order.id == order_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if slot is None or order is None or owed_cents(order, slot) == 0:
        return 0
    entries = []
    for payment in list(order.payments):
        payment = ledger.lock_payment(payment.id)
        if payment.status != Payment.CONFIRMED:
            continue
        remaining = payment.amount_cents - payment.refunded_cents
        if remaining > 0:
            entries.append(refund_payment(payment, remaining))
    if entries:
        _tell(order, slot, entries)
    return sum(-e.amount_cents for e in entries)


def _tell(order: Order, slot: Slot, refunds: list[LedgerEntry]) -> None:
    if not order.email:
        return
    user = db.session.get(User, order.user_id) if order.user_id else None
    territory = db.session.get(Territory, order.territory_id)
    send_mail(order.email, "slot_cancelled", locale=getattr(user, "locale", None) or "it", territory=territory,
              order=order, slot=slot, service=slot.service, reason=slot.cancel_reason,
              refunded_cents=sum(-e.amount_cents for e in refunds),
              to_card=any(e.provider == "stripe" for e in refunds),
              link=external_url("bookings.detail", code=order.code, territory=territory.slug))


@dataclass(frozen=True)
class RefundRow:
    """One booking of a cancelled date, as staff follow its refund."""

    order: Order
    paid_cents: int      # charged in total
    refunded_cents: int  # given back so far
    owed_cents: int      # still to give back

    @property
    def state(self) -> str:
        if self.owed_cents:
            return "owed"
        return "refunded" if self.refunded_cents else "nothing"


def refund_rows(slot: Slot) -> list[RefundRow]:
    """The bookings cancelled with ``slot`` and where their refunds stand."""
    rows = []
    for order in orders_of_slot(slot.id):
        if order.status != Order.CANCELLED or slot.cancelled_at is None or order.cancelled_at is None \
                or order.cancelled_at < slot.cancelled_at:
            continue
        charged = sum(e.amount_cents for e in order.ledger if e.kind == LedgerEntry.CHARGE)
        refunded = -sum(e.amount_cents for e in order.ledger if e.kind == LedgerEntry.REFUND)
        rows.append(RefundRow(order, charged, refunded, owed_cents(order, slot)))
    return rows


def validate_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_l("Explain to the people who booked why the date is cancelled."), field="reason")
    if len(reason) > MAX_REASON:
        raise DomainError(_l("Keep the reason under %(max)d characters.", max=MAX_REASON), field="reason")
    return reason
