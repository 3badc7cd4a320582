"""The booking confirmation is e-mailed exactly once, whichever confirms a card payment
first: Stripe's webhook or the citizen's return from the payment page."""
from __future__ import annotations

from sqlalchemy import select

from marketplace.models import Order, OutboxMessage
from marketplace.services import booking, checkout
from tenants.scoping import territory_scope
from tests.booking_helpers import make_slot
from tests.conftest import login
from tests.payments.test_card_payments import OK_CARD, _browser_pays, _event, _post_event


def _citizen_order(app, db, make, email):
    citizen = make.user(email=email, locale="en")
    territory, slot_id, (ticket_type,) = make_slot(app, make, capacity=5, types=(("Intero", 1500, None),))
    with territory_scope(territory.id):
        order = booking.hold(slot_id, {ticket_type: 2}, user=citizen)
        payment, _ = checkout.start_card_payment(order)
        db.session.commit()
        return citizen, territory, order.code, payment.id, payment.provider_ref


def _confirmations(db, email):
    db.session.expire_all()
    return db.session.execute(select(OutboxMessage).where(
        OutboxMessage.to_email == email, OutboxMessage.subject.like("Booking confirmed%"))).scalars().all()


def test_webhook_first_sends_one_confirmation_and_the_return_url_none(app, db, make, client, run_jobs):
    citizen, territory, code, payment_id, intent_id = _citizen_order(app, db, make, "paga@example.org")
    _browser_pays(intent_id, OK_CARD)

    assert _post_event(client, _event(intent_id)).status_code == 200
    run_jobs()
    (mail,) = _confirmations(db, citizen.email)
    assert code in mail.body_text and mail.attachments.startswith("order:")
    assert f"/t/{territory.slug}/bookings/{code}/tickets" in mail.body_text  # links work from a webhook
    assert mail.sent_at is not None  # delivered by the job after the webhook's commit

    # The citizen's browser comes back afterwards: the order is paid, no second e-mail.
    login(client, citizen.email)
    back = client.get(f"/t/{territory.slug}/bookings/{code}/payments/{payment_id}")
    assert back.status_code == 302 and back.headers["Location"].endswith(f"/bookings/{code}")
    assert _post_event(client, _event(intent_id)).status_code == 200  # another event for it
    assert len(_confirmations(db, citizen.email)) == 1
    with territory_scope(territory.id):
        assert db.session.execute(select(Order.status).where(Order.code == code)).scalar_one() == Order.PAID


def test_return_url_first_sends_one_confirmation_and_the_webhook_none(app, db, make, client):
    citizen, territory, code, payment_id, intent_id = _citizen_order(app, db, make, "torna@example.org")
    _browser_pays(intent_id, OK_CARD)
    login(client, citizen.email)
    back = client.get(f"/t/{territory.slug}/bookings/{code}/payments/{payment_id}")
    assert back.status_code == 302
    assert len(_confirmations(db, citizen.email)) == 1
    assert _post_event(client, _event(intent_id)).status_code == 200
    assert len(_confirmations(db, citizen.email)) == 1
