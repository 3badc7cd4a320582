"""Card payments through Stripe PaymentIntents (the browser confirms with Stripe.js).

Settings come from the app config (``STRIPE_*``); a client is built per call so nothing
global is changed and tests can point it at localstripe (``STRIPE_API_BASE``).
"""
from __future__ import annotations

import stripe
from flask import current_app

from marketplace.models import Payment
from payments.providers.base import PaymentProvider, ProviderError, ProviderStatus

CURRENCY = "eur"


def card_payments_enabled() -> bool:
    """Card payments are offered only when a Stripe secret key is configured."""
    return bool(current_app.config.get("STRIPE_SECRET_KEY"))


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def allow_stripe_js() -> None:
    """Let this response's page load Stripe.js and its card frame (Content-Security-Policy)."""
    from flask import g

    config = current_app.config
    js = _origin(config.get("STRIPE_JS_URL") or "")
    api = _origin(config.get("STRIPE_API_BASE") or "https://api.stripe.com")
    g.csp_extra = {"script-src": [js], "frame-src": [js], "connect-src": [api, js]}


def client() -> stripe.StripeClient:
    """A Stripe client from the current app's config. Raises ProviderError if not configured."""
    key = current_app.config.get("STRIPE_SECRET_KEY")
    if not key:
        raise ProviderError("Stripe is not configured (STRIPE_SECRET_KEY)")
    base = current_app.config.get("STRIPE_API_BASE") or None
    return stripe.StripeClient(key, base_addresses={"api": base} if base else None,
                               max_network_retries=2)


def _status(intent) -> ProviderStatus:
    raw = intent.status
    error = ""
    last_error = getattr(intent, "last_payment_error", None)
    last_error = last_error.to_dict() if last_error else None
    if last_error:
        error = last_error.get("message") or last_error.get("code") or ""
    if raw == "succeeded":
        state = ProviderStatus.SUCCEEDED
    elif raw == "canceled" or (raw == "requires_payment_method" and last_error):
        # After a decline Stripe returns the intent to requires_payment_method.
        state = ProviderStatus.FAILED
    elif raw == "requires_action":
        state = ProviderStatus.REQUIRES_ACTION
    else:  # requires_payment_method (not tried yet), requires_confirmation, processing
        state = ProviderStatus.PENDING
    return ProviderStatus(ref=intent.id, state=state, amount_cents=int(intent.amount),
                          currency=str(intent.currency).lower(), raw_status=raw, error=error,
                          metadata=intent.metadata.to_dict() if intent.metadata else {})


class StripeProvider(PaymentProvider):
    name = "stripe"

    def __init__(self, stripe_client: stripe.StripeClient, publishable_key: str = ""):
        self.client = stripe_client
        self.publishable_key = publishable_key

    @classmethod
    def from_config(cls) -> "StripeProvider":
        return cls(client(), current_app.config.get("STRIPE_PUBLISHABLE_KEY", ""))

    def start(self, payment: Payment, payment_method: str | None = None, **options) -> dict:
        """A PaymentIntent for ``payment`` (flushed, so it has an id)."""
        params = {
            "amount": int(payment.amount_cents),
            "currency": CURRENCY,
            "payment_method_types": ["card"],
            "metadata": {"order_code": payment.order.code, "payment_id": str(payment.id),
                         "territory_id": str(payment.territory_id)},
        }
        if payment_method:
            params["payment_method"] = payment_method
        try:
            intent = self.client.payment_intents.create(
                params, {"idempotency_key": f"order:{payment.order.code}:payment:{payment.id}:intent"})
        except stripe.StripeError as exc:
            raise ProviderError(str(exc)) from exc
        return {"provider_ref": intent.id, "client_secret": intent.client_secret,
                "publishable_key": self.publishable_key, "status": intent.status}

    def client_data(self, provider_ref: str) -> dict:
        """What the browser needs to resume an intent already started."""
        try:
            intent = self.client.payment_intents.retrieve(provider_ref)
        except stripe.StripeError as exc:
            raise ProviderError(str(exc)) from exc
        return {"provider_ref": intent.id, "client_secret": intent.client_secret,
                "publishable_key": self.publishable_key, "status": intent.status}

    def fetch(self, provider_ref: str) -> ProviderStatus:
        try:
            return _status(self.client.payment_intents.retrieve(provider_ref))
        except stripe.StripeError as exc:
            raise ProviderError(str(exc)) from exc

    def attach_and_confirm(self, provider_ref: str, payment_method: str) -> str:
        """Set the card the citizen entered on the intent, then confirm it from the server.

        Two calls (update, then confirm without parameters) rather than
        ``confirm(payment_method=...)``: both are valid against Stripe, and localstripe, which
        the tests use as Stripe, implements only this form. Returns the intent's status
        (``succeeded``, ``requires_action`` for 3-D Secure, ...); a declined card is not an
        error here: it returns ``requires_payment_method`` and the caller asks ``fetch``.
        Raises ProviderError when Stripe refuses the request or cannot be reached."""
        try:
            self.client.payment_intents.update(provider_ref, {"payment_method": payment_method})
            return self.client.payment_intents.confirm(provider_ref).status
        except stripe.CardError:
            return "requires_payment_method"
        except stripe.StripeError as exc:
            raise ProviderError(str(exc)) from exc

    def cancel_quietly(self, provider_ref: str) -> None:
        """Cancel an intent we gave up on; one already final is left as it is."""
        try:
            self.client.payment_intents.cancel(provider_ref)
        except stripe.StripeError:
            pass

    def refund(self, payment: Payment, amount_cents: int, idempotency_key: str) -> str:
        try:
            refund = self.client.refunds.create(
                {"payment_intent": payment.provider_ref, "amount": int(amount_cents)},
                {"idempotency_key": idempotency_key})
        except stripe.StripeError as exc:
            raise ProviderError(str(exc)) from exc
        if refund.status in ("failed", "canceled"):
            raise ProviderError(f"refund {refund.id} {refund.status}")
        return refund.id
