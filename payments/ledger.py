"""The single door for money movements.

Every charge and refund of every funding source is one ``LedgerEntry`` written by
``record``. Writing the same movement twice (same idempotency key) returns the first
entry and changes nothing. A refund never exceeds what that payment brought in.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.models import LedgerEntry, Order, Payment
from marketplace.models.base import utcnow
from marketplace.services import DomainError


class LedgerError(DomainError):
    """A movement the ledger refuses (refund above what was paid, wrong state...)."""


def transition_payment(payment: Payment, status: str) -> bool:
    """Move a payment along its life; returns False if it is already there (no-op)."""
    if payment.status == status:
        return False
    if status not in Payment.TRANSITIONS[payment.status]:
        raise LedgerError(_l("This payment cannot go from %(old)s to %(new)s.",
                             old=payment.status, new=status))
    payment.status = status
    if status == Payment.CONFIRMED:
        payment.confirmed_at = utcnow()
    return True


def record(payment: Payment, kind: str, amount_cents: int, idempotency_key: str,
           provider_ref: str = "") -> LedgerEntry:
    """Write one movement of ``payment``. Must run inside the caller's transaction,
    after the payment row was locked (``lock_payment``)."""
    if not isinstance(amount_cents, int) or amount_cents <= 0:
        raise LedgerError(_l("An amount must be a positive number of cents."))
    existing = db.session.execute(
        select(LedgerEntry).where(LedgerEntry.idempotency_key == idempotency_key)
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    if kind == LedgerEntry.CHARGE:
        transition_payment(payment, Payment.CONFIRMED)
        signed = amount_cents
        if amount_cents != payment.amount_cents:
            raise LedgerError(_l("The amount charged differs from the amount due."))
    elif kind == LedgerEntry.REFUND:
        if payment.status not in (Payment.CONFIRMED,):
            raise LedgerError(_l("Only a confirmed payment can be refunded."))
        if payment.refunded_cents + amount_cents > payment.amount_cents:
            raise LedgerError(_l("A refund cannot be larger than what was paid."))
        payment.refunded_cents += amount_cents
        if payment.refunded_cents == payment.amount_cents:
            payment.status = Payment.REFUNDED
        signed = -amount_cents
    else:
        raise LedgerError(_l("Unknown kind of movement."))
    entry = LedgerEntry(order_id=payment.order_id, payment_id=payment.id, kind=kind,
                        amount_cents=signed, provider=payment.provider, provider_ref=provider_ref,
                        idempotency_key=idempotency_key, territory_id=payment.territory_id)
    db.session.add(entry)
    db.session.flush()
    return entry


def lock_payment(payment_id: int) -> Payment | None:
    """The payment row, locked for the rest of the transaction (FOR UPDATE)."""
    return db.session.execute(
        select(Payment).where(Payment.id == payment_id).with_for_update()
        # Re-read under the lock: an object already in the session may be stale.
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def balance(order: Order) -> int:
    """What the order has brought in, net of refunds, according to the ledger."""
    return int(db.session.execute(
        select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(LedgerEntry.order_id == order.id)
    ).scalar_one())
