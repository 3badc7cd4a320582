"""Paid at a help desk or a cooperative's counter (cash or POS terminal).

No outside service: the operator who takes the money is the "provider". ``start``
returns a reference naming the payment and the operator; ``refund`` means the money is
handed back at the desk and returns a refund reference. Nothing here writes our tables:
``checkout.pay_at_desk`` records the charge through the ledger.
"""
from __future__ import annotations

import hashlib

from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import Payment
from payments.providers.base import PaymentProvider, ProviderStatus


class DeskProvider(PaymentProvider):
    name = "desk"

    def start(self, payment: Payment, staff_user=None, **options) -> dict:
        """A reference for money taken at the desk: ``desk-<payment id>-u<operator id>``."""
        operator = f"-u{staff_user.id}" if staff_user is not None else ""
        return {"provider_ref": f"desk-{payment.id}{operator}"}

    def fetch(self, provider_ref: str) -> ProviderStatus:
        """The desk's word is our own record: confirmed payments succeeded, others pend."""
        payment = db.session.execute(
            select(Payment).where(Payment.provider == self.name, Payment.provider_ref == provider_ref)
        ).scalar_one_or_none()
        if payment is None:
            return ProviderStatus(provider_ref, ProviderStatus.FAILED, 0, "eur", raw_status="unknown")
        state = ProviderStatus.SUCCEEDED if payment.status in (Payment.CONFIRMED, Payment.REFUNDED) \
            else ProviderStatus.PENDING
        return ProviderStatus(provider_ref, state, payment.amount_cents, "eur", raw_status=payment.status)

    def refund(self, payment: Payment, amount_cents: int, idempotency_key: str) -> str:
        """Money handed back at the desk: no call anywhere. The same key gives the same id,
        so a retried refund is written once by the ledger."""
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]
        return f"desk-refund-{payment.id}-{digest}"
