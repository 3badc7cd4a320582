"""Card payments with Stripe PaymentIntents, against localstripe: pay, decline, 3-D Secure,
refund through the ledger, and the signed, idempotent webhook."""
from __future__ import annotations

import json
import uuid

import pytest
import stripe
from sqlalchemy import func, select

from marketplace.models import LedgerEntry, Order, Payment, WebhookEvent
from marketplace.services import DomainError, booking, checkout
from payments import ledger
from payments.providers import stripe as stripe_provider
from tenants.scoping import territory_scope
from tests.booking_helpers import make_slot
from tests.payments.conftest import WEBHOOK_SECRET

OK_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000341"
THREE_D_SECURE_CARD = "4000002500003155"
WEBHOOK_URL = "/payments/stripe/webhook"


def _order(app, db, make, capacity=5, seats=2, price=1500):
    territory, slot_id, (ticket_type,) = make_slot(app, make, capacity=capacity,
                                                   types=(("Intero", price, None),))
    with territory_scope(territory.id):
        order = booking.hold(slot_id, {ticket_type: seats}, email="famiglia@example.org")
        db.session.commit()
        return territory, slot_id, order.id


def _start(db, territory, order_id):
    """Our side: a Payment and its PaymentIntent (committed, as a view would)."""
    with territory_scope(territory.id):
        payment, client_data = checkout.start_card_payment(db.session.get(Order, order_id))
        db.session.commit()
        return payment.id, payment.provider_ref, client_data


def _browser_pays(intent_id, number):
    """What Stripe.js does in the browser: attach a card, confirm. localstripe answers 500 to
    confirm(payment_method=...), so the card is set with modify first."""
    method = stripe.PaymentMethod.create(
        type="card", card={"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"})
    stripe.PaymentIntent.modify(intent_id, payment_method=method.id)
    return stripe.PaymentIntent.confirm(intent_id)


def _confirm(db, territory, payment_id):
    with territory_scope(territory.id):
        result = checkout.confirm_from_provider(payment_id=payment_id)
        db.session.commit()
        return result


def _state(db, territory, order_id):
    with territory_scope(territory.id):
        db.session.expire_all()
        order = db.session.get(Order, order_id)
        entries = db.session.execute(
            select(LedgerEntry).where(LedgerEntry.order_id == order_id)).scalars().all()
        return order, order.payments, entries, ledger.balance(order)


def _paid(app, db, make):
    territory, slot_id, order_id = _order(app, db, make)
    payment_id, intent_id, _ = _start(db, territory, order_id)
    _browser_pays(intent_id, OK_CARD)
    assert _confirm(db, territory, payment_id).status == "paid"
    return territory, order_id, payment_id, intent_id


def test_a_card_payment_pays_the_order_once(app, db, make):
    territory, slot_id, order_id = _order(app, db, make)
    payment_id, intent_id, client_data = _start(db, territory, order_id)
    assert client_data["client_secret"].startswith(intent_id)
    assert client_data["publishable_key"] == "pk_test_12345"
    order, (payment,), entries, _ = _state(db, territory, order_id)
    assert order.status == Order.AWAITING_PAYMENT
    assert (payment.provider, payment.status, payment.amount_cents) == ("stripe", Payment.PENDING, 3000)
    intent = stripe.PaymentIntent.retrieve(intent_id)
    assert (intent.amount, intent.currency) == (3000, "eur")
    assert intent.metadata.to_dict() == {"order_code": order.code, "payment_id": str(payment_id),
                                         "territory_id": str(territory.id)}

    assert _browser_pays(intent_id, OK_CARD).status == "succeeded"
    result = _confirm(db, territory, payment_id)
    assert result.status == "paid"
    order, (payment,), entries, balance = _state(db, territory, order_id)
    assert order.status == Order.PAID and order.paid_at is not None
    assert payment.status == Payment.CONFIRMED
    assert [(e.kind, e.amount_cents, e.idempotency_key) for e in entries] == [
        (LedgerEntry.CHARGE, 3000, f"stripe:{intent_id}:charge")]
    assert balance == 3000
    paid_at = order.paid_at

    # The return URL after the webhook (or the other way round): nothing changes.
    assert _confirm(db, territory, payment_id).status == "paid"
    with territory_scope(territory.id):
        assert checkout.confirm_from_provider(intent_id=intent_id).status == "paid"
        db.session.commit()
    order, _, entries, balance = _state(db, territory, order_id)
    assert len(entries) == 1 and balance == 3000 and order.paid_at == paid_at


def test_a_declined_card_leaves_the_seats_held_and_says_why(app, db, make):
    territory, slot_id, order_id = _order(app, db, make, capacity=5, seats=2)
    payment_id, intent_id, _ = _start(db, territory, order_id)
    with pytest.raises(stripe.CardError):
        _browser_pays(intent_id, DECLINED_CARD)

    result = _confirm(db, territory, payment_id)
    assert result.status == "failed"
    assert "riprovare" in str(result.message)
    order, (payment,), entries, balance = _state(db, territory, order_id)
    assert order.status == Order.PENDING and order.hold_expires_at is not None
    assert payment.status == Payment.FAILED
    assert entries == [] and balance == 0
    with territory_scope(territory.id):
        assert booking.seats_taken(slot_id) == 2  # still held until the hold expires
    # The abandoned intent is cancelled after the commit, so it cannot succeed later.
    assert stripe.PaymentIntent.retrieve(intent_id).status == "canceled"

    # Trying again makes a new payment, which can succeed.
    payment2_id, intent2_id, _ = _start(db, territory, order_id)
    assert payment2_id != payment_id and intent2_id != intent_id
    _browser_pays(intent2_id, OK_CARD)
    assert _confirm(db, territory, payment2_id).status == "paid"
    order, payments, entries, balance = _state(db, territory, order_id)
    assert order.status == Order.PAID and balance == 3000
    assert [p.status for p in payments] == [Payment.FAILED, Payment.CONFIRMED]


def test_three_d_secure_is_reported_to_the_caller_and_not_paid(app, db, make):
    territory, slot_id, order_id = _order(app, db, make)
    payment_id, intent_id, _ = _start(db, territory, order_id)
    assert _browser_pays(intent_id, THREE_D_SECURE_CARD).status == "requires_action"

    result = _confirm(db, territory, payment_id)
    assert result.status == "requires_action"
    assert str(result.message)
    order, (payment,), entries, balance = _state(db, territory, order_id)
    assert order.status == Order.AWAITING_PAYMENT and payment.status == Payment.PENDING
    assert entries == [] and balance == 0


def test_refunds_go_through_the_ledger_which_refuses_more_than_was_paid(app, db, make, monkeypatch):
    territory, order_id, payment_id, intent_id = _paid(app, db, make)
    with territory_scope(territory.id):
        payment = db.session.get(Payment, payment_id)
        first = checkout.refund_card(payment, 1000)
        db.session.commit()
        assert first.amount_cents == -1000 and first.idempotency_key == f"stripe:{first.provider_ref}"
        assert first.provider_ref.startswith("re_")
    order, (payment,), _, balance = _state(db, territory, order_id)
    assert balance == 2000 and payment.status == Payment.CONFIRMED and payment.refunded_cents == 1000

    with territory_scope(territory.id):
        with pytest.raises(ledger.LedgerError):
            checkout.refund_card(payment, 2001)  # localstripe would happily over-refund
        db.session.rollback()
        payment = db.session.get(Payment, payment_id)
        checkout.refund_card(payment, 2000)
        db.session.commit()
    order, (payment,), entries, balance = _state(db, territory, order_id)
    assert balance == 0 and payment.status == Payment.REFUNDED and payment.refunded_cents == 3000
    assert [e.kind for e in entries] == [LedgerEntry.CHARGE, LedgerEntry.REFUND, LedgerEntry.REFUND]

    calls = []
    monkeypatch.setattr(stripe_provider.StripeProvider, "refund",
                        lambda *args, **kwargs: calls.append(args) or "re_never")
    with territory_scope(territory.id):
        with pytest.raises(ledger.LedgerError):
            checkout.refund_card(db.session.get(Payment, payment_id), 1)
        db.session.rollback()
    assert calls == []  # refused by our ledger before reaching Stripe
    assert _state(db, territory, order_id)[3] == 0


def _event(intent_id, type_="payment_intent.succeeded", event_id=None):
    # The payload's copy of the intent is deliberately wrong: the handler must re-fetch it.
    return json.dumps({
        "id": event_id or f"evt_{uuid.uuid4().hex[:16]}", "object": "event", "type": type_,
        "data": {"object": {"id": intent_id, "object": "payment_intent", "amount": 1,
                            "status": "succeeded"}},
    })


def _post_event(client, payload, secret=WEBHOOK_SECRET):
    header = stripe.WebhookSignature.generate_signature_header(payload, secret)
    return client.post(WEBHOOK_URL, data=payload, content_type="application/json",
                       headers={"Stripe-Signature": header})


def _event_count(db):
    return db.session.execute(select(func.count()).select_from(WebhookEvent)).scalar_one()


def test_a_signed_webhook_pays_the_order_once(app, db, make, client):
    territory, slot_id, order_id = _order(app, db, make)
    payment_id, intent_id, _ = _start(db, territory, order_id)
    _browser_pays(intent_id, OK_CARD)

    payload = _event(intent_id)
    response = _post_event(client, payload)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.get_json()["received"] is True
    order, (payment,), entries, balance = _state(db, territory, order_id)
    assert order.status == Order.PAID and payment.status == Payment.CONFIRMED
    assert len(entries) == 1 and balance == 3000
    assert _event_count(db) == 1

    again = _post_event(client, payload)  # Stripe delivers at least once
    assert again.status_code == 200 and again.get_json().get("duplicate") is True
    order, _, entries, balance = _state(db, territory, order_id)
    assert len(entries) == 1 and balance == 3000 and _event_count(db) == 1

    # A different event for the same intent (return URL raced it): still one charge.
    assert _post_event(client, _event(intent_id)).status_code == 200
    assert len(_state(db, territory, order_id)[2]) == 1


def test_webhooks_with_a_bad_signature_or_untrue_content_change_nothing(app, db, make, client):
    territory, slot_id, order_id = _order(app, db, make)
    payment_id, intent_id, _ = _start(db, territory, order_id)
    _browser_pays(intent_id, THREE_D_SECURE_CARD)  # not paid yet at Stripe

    forged = _post_event(client, _event(intent_id), secret="whsec_wrong")
    assert forged.status_code == 400
    unsigned = client.post(WEBHOOK_URL, data=_event(intent_id), content_type="application/json")
    assert unsigned.status_code == 400
    assert _event_count(db) == 0

    # Correctly signed but claiming success: Stripe is asked, and says requires_action.
    assert _post_event(client, _event(intent_id)).status_code == 200
    order, (payment,), entries, balance = _state(db, territory, order_id)
    assert order.status == Order.AWAITING_PAYMENT and payment.status == Payment.PENDING
    assert entries == [] and balance == 0


def test_a_payment_failed_webhook_fails_the_payment(app, db, make, client):
    territory, slot_id, order_id = _order(app, db, make)
    payment_id, intent_id, _ = _start(db, territory, order_id)
    with pytest.raises(stripe.CardError):
        _browser_pays(intent_id, DECLINED_CARD)
    assert _post_event(client, _event(intent_id, "payment_intent.payment_failed")).status_code == 200
    order, (payment,), entries, _ = _state(db, territory, order_id)
    assert order.status == Order.PENDING and payment.status == Payment.FAILED and entries == []


def test_without_stripe_keys_card_payments_are_off(app, db, make, database_uri):
    territory, slot_id, order_id = _order(app, db, make)
    from tests.conftest import make_app

    plain = make_app(database_uri, STRIPE_SECRET_KEY="", STRIPE_WEBHOOK_SECRET="")
    with plain.app_context():
        assert stripe_provider.card_payments_enabled() is False
        with territory_scope(territory.id):
            with pytest.raises(DomainError):
                checkout.start_card_payment(db.session.get(Order, order_id))
    with app.app_context():
        assert stripe_provider.card_payments_enabled() is True
    response = plain.test_client().post(WEBHOOK_URL, data=_event("pi_x"), content_type="application/json")
    assert response.status_code == 400
