"""Stripe's callbacks: verified by signature, idempotent by event id, and never trusted for
the facts (the PaymentIntent is re-fetched from Stripe by ``checkout.confirm_from_provider``)."""
from __future__ import annotations

import logging

import stripe
from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from marketplace.extensions import csrf, db
from marketplace.models import Payment, WebhookEvent
from marketplace.services import DomainError
from tenants.scoping import territory_scope, unscoped

log = logging.getLogger(__name__)

bp = Blueprint("payment_webhooks", __name__)
csrf.exempt(bp)  # Stripe cannot send our CSRF token; the signature authenticates it

HANDLED = {"payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled"}


@bp.post("/payments/stripe/webhook")
def stripe_webhook():
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        return jsonify(error="webhooks not configured"), 400
    try:
        event = stripe.Webhook.construct_event(
            request.get_data(), request.headers.get("Stripe-Signature", ""), secret)
    except (ValueError, stripe.SignatureVerificationError):
        return jsonify(error="invalid signature"), 400

    # Insert first: a second delivery of the same event stops here, changing nothing.
    db.session.add(WebhookEvent(id=event.id, provider="stripe", type=event.type))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return jsonify(received=True, duplicate=True)

    if event.type in HANDLED:
        intent_id = str(event.data.object.to_dict().get("id", ""))
        with unscoped():
            found = db.session.execute(
                select(Payment.id, Payment.territory_id)
                .where(Payment.provider == "stripe", Payment.provider_ref == intent_id)
            ).first()
        if found is None:
            log.warning("stripe event %s for unknown intent %s", event.id, intent_id)
        else:
            with territory_scope(found.territory_id):
                from marketplace.services import checkout

                try:
                    checkout.confirm_from_provider(payment_id=found.id)
                except DomainError as exc:
                    # A rule refused it (amount mismatch...): logged, not retried by Stripe.
                    log.error("stripe event %s: %s", event.id, exc)
    try:
        db.session.commit()
    except IntegrityError:  # the same event committed concurrently by another worker
        db.session.rollback()
        return jsonify(received=True, duplicate=True)
    return jsonify(received=True)
