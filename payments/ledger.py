"""The single door for money movements.

Every charge and refund of every funding source is one ``LedgerEntry`` written by
``record``; a welfare credit's load and its release on expiry by ``record_credit``; both
write through ``_write``. Writing the same movement twice (same idempotency key) returns
the first entry and changes nothing. A refund never exceeds what that payment brought in.

Vouchers and welfare credits keep a ``balance_cents`` that only this module moves, in the
same transaction as the entry: a charge takes it down (never below zero), a refund puts it
back. A refund to a credit already released to its employer goes straight on to the
employer (a REFUND then a CREDIT_RELEASE), so an expired credit is never re-credited.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.models import LedgerEntry, Order, Payment, Voucher, WelfareCredit
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
    existing = _already_written(idempotency_key)
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
    funder_id = None
    if payment.voucher_id is not None:
        voucher = lock_voucher(payment.voucher_id)
        funder_id = voucher.funder_id
        _move_balance(voucher, -signed)
    credit = None
    if payment.credit_id is not None:
        credit = lock_credit(payment.credit_id)
        funder_id = credit.funder_id
        _move_balance(credit, -signed)
    entry = _write(kind=kind, amount_cents=signed, provider=payment.provider, provider_ref=provider_ref,
                   idempotency_key=idempotency_key, territory_id=payment.territory_id,
                   order_id=payment.order_id, payment_id=payment.id, funder_id=funder_id,
                   voucher_id=payment.voucher_id, credit_id=payment.credit_id)
    if credit is not None and kind == LedgerEntry.REFUND and credit.status == WelfareCredit.RELEASED:
        record_credit(credit, LedgerEntry.CREDIT_RELEASE, amount_cents, f"{idempotency_key}:release")
    return entry


def record_credit(credit: WelfareCredit, kind: str, amount_cents: int, idempotency_key: str) -> LedgerEntry:
    """Load money onto a welfare credit (CREDIT_LOAD, from its employer) or give what is
    left back to the employer (CREDIT_RELEASE). No order is involved. Must run inside the
    caller's transaction; locks the credit row. Idempotent by key."""
    if not isinstance(amount_cents, int) or amount_cents <= 0:
        raise LedgerError(_l("An amount must be a positive number of cents."))
    existing = _already_written(idempotency_key)
    if existing is not None:
        return existing
    credit = lock_credit(credit.id)
    if kind == LedgerEntry.CREDIT_LOAD:
        signed = amount_cents
    elif kind == LedgerEntry.CREDIT_RELEASE:
        signed = -amount_cents
    else:
        raise LedgerError(_l("Unknown kind of movement."))
    _move_balance(credit, signed)
    return _write(kind=kind, amount_cents=signed, provider="welfare_credit", provider_ref=f"credit-{credit.id}",
                  idempotency_key=idempotency_key, territory_id=credit.territory_id,
                  funder_id=credit.funder_id, credit_id=credit.id)


def _move_balance(holder, delta: int) -> None:
    """Change a voucher's or credit's balance; it never goes below zero or above its amount."""
    new = holder.balance_cents + delta
    if new < 0:
        raise LedgerError(_l("Not enough balance left."))
    if new > holder.amount_cents:
        raise LedgerError(_l("A balance cannot exceed what was given."))
    holder.balance_cents = new


def _already_written(idempotency_key: str) -> LedgerEntry | None:
    return db.session.execute(
        select(LedgerEntry).where(LedgerEntry.idempotency_key == idempotency_key)
    ).scalar_one_or_none()


def _write(**fields) -> LedgerEntry:
    entry = LedgerEntry(**fields)
    db.session.add(entry)
    db.session.flush()
    return entry


def lock_voucher(voucher_id: int) -> Voucher | None:
    """The voucher row, locked for the rest of the transaction and re-read."""
    return db.session.execute(
        select(Voucher).where(Voucher.id == voucher_id).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def lock_credit(credit_id: int) -> WelfareCredit | None:
    """The welfare credit row, locked for the rest of the transaction and re-read."""
    return db.session.execute(
        select(WelfareCredit).where(WelfareCredit.id == credit_id).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


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
