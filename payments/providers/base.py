"""What every card-like funding source offers the checkout: start, fetch, refund.

Providers talk to the outside world only; they never write our tables. Money movements
are written by ``payments.ledger`` from what a provider reports.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from marketplace.models import Payment


class ProviderError(Exception):
    """The provider could not be reached or refused the request (not a card decline)."""


@dataclass(frozen=True)
class ProviderStatus:
    """A provider's view of one payment, normalised.

    ``state`` is one of SUCCEEDED, FAILED, REQUIRES_ACTION, PENDING.
    """

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REQUIRES_ACTION = "requires_action"
    PENDING = "pending"

    ref: str
    state: str
    amount_cents: int
    currency: str
    raw_status: str = ""
    error: str = ""
    metadata: dict = field(default_factory=dict)


class PaymentProvider(ABC):
    name: str = ""

    @abstractmethod
    def start(self, payment: Payment, **options) -> dict:
        """Create the provider's payment for ``payment``; returns the data the browser
        needs (at least ``provider_ref``; for Stripe ``client_secret`` and ``publishable_key``)."""

    @abstractmethod
    def fetch(self, provider_ref: str) -> ProviderStatus:
        """The payment as the provider sees it now (never trust a callback's copy)."""

    @abstractmethod
    def refund(self, payment: Payment, amount_cents: int, idempotency_key: str) -> str:
        """Give back ``amount_cents`` of ``payment``; returns the provider's refund id.
        The caller has already checked the amount against the ledger."""
