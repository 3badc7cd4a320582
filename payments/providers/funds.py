"""Vouchers and welfare credits as funding sources, behind the same interface as cards.

No outside service: the "provider" is our own balance of the voucher or credit. ``start``
names the reservation, ``fetch`` reports our own record, ``refund`` returns a reference
only. Nothing here writes our tables: the balance moves in ``payments.ledger`` with the
ledger entry (charge down, refund back up).
"""
from __future__ import annotations

import hashlib

from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import Payment
from payments.providers.base import PaymentProvider, ProviderStatus


class _BalanceProvider(PaymentProvider):
    name = ""
    source_attr = ""

    def start(self, payment: Payment, **options) -> dict:
        """A reference naming the source and the payment: ``voucher-<id>-<payment id>``."""
        source_id = getattr(payment, self.source_attr)
        return {"provider_ref": f"{self.name}-{source_id}-{payment.id}"}

    def fetch(self, provider_ref: str) -> ProviderStatus:
        payment = db.session.execute(
            select(Payment).where(Payment.provider == self.name, Payment.provider_ref == provider_ref)
        ).scalar_one_or_none()
        if payment is None:
            return ProviderStatus(provider_ref, ProviderStatus.FAILED, 0, "eur", raw_status="unknown")
        state = {Payment.CONFIRMED: ProviderStatus.SUCCEEDED, Payment.REFUNDED: ProviderStatus.SUCCEEDED,
                 Payment.FAILED: ProviderStatus.FAILED}.get(payment.status, ProviderStatus.PENDING)
        return ProviderStatus(provider_ref, state, payment.amount_cents, "eur", raw_status=payment.status)

    def refund(self, payment: Payment, amount_cents: int, idempotency_key: str) -> str:
        """The money goes back onto the balance with the ledger entry; the same key gives
        the same reference, so a retried refund is written once."""
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]
        return f"{self.name}-refund-{payment.id}-{digest}"


class VoucherProvider(_BalanceProvider):
    name = "voucher"
    source_attr = "voucher_id"


class WelfareCreditProvider(_BalanceProvider):
    name = "welfare_credit"
    source_attr = "credit_id"
