"""Funding sources behind one interface (``base.PaymentProvider``)."""
from __future__ import annotations

from payments.providers.base import PaymentProvider, ProviderError, ProviderStatus


def get_provider(name: str) -> PaymentProvider:
    """The provider called ``name`` (configured from the current app)."""
    if name == "stripe":
        from payments.providers.stripe import StripeProvider

        return StripeProvider.from_config()
    if name == "desk":
        from payments.providers.desk import DeskProvider

        return DeskProvider()
    if name == "voucher":
        from payments.providers.funds import VoucherProvider

        return VoucherProvider()
    if name == "welfare_credit":
        from payments.providers.funds import WelfareCreditProvider

        return WelfareCreditProvider()
    raise KeyError(name)


__all__ = ["PaymentProvider", "ProviderError", "ProviderStatus", "get_provider"]
