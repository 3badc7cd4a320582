"""A citizen cancels a paid booking and gets back what the service's policy says: all of it
before the deadline, the late percentage after it (only once they have agreed), nothing
online after the start — through HTTP, with localstripe as Stripe."""
from __future__ import annotations

import datetime as dt

import stripe
from sqlalchemy import select

from marketplace.models import LedgerEntry, Order, Payment, Service, Slot
from marketplace.models.base import utcnow
from marketplace.services import booking, checkout
from payments import ledger
from tenants.scoping import territory_scope
from tests.conftest import login, post
from tests.payments.test_card_payments import _browser_pays

OK_CARD = "4242424242424242"


def _paid_booking(app, db, make, client, starts_in: dt.timedelta, free_cancel_hours=48, late_refund_percent=50,
                  price=1999, seats=2):
    """A citizen (signed in on ``client``) with a booking paid by card; returns (territory, code, intent)."""
    territory = make.territory("cremona")
    coop = make.cooperative(territory)
    service = make.service(coop, status="published", title="Visita al castello",
                           free_cancel_hours=free_cancel_hours, late_refund_percent=late_refund_percent)
    slot = make.slot(service, starts_in=starts_in, types=(("Intero", price, None),))
    citizen = make.user(email="famiglia@example.org", locale="en")
    with territory_scope(territory.id):
        from marketplace.models import TicketType, User

        type_id = db.session.execute(select(TicketType.id).where(TicketType.slot_id == slot.id)).scalar_one()
        order = booking.hold(slot.id, {type_id: seats}, user=db.session.get(User, citizen.id))
        db.session.commit()
        payment, _ = checkout.start_card_payment(order)
        db.session.commit()
        payment_id, intent_id, code = payment.id, payment.provider_ref, order.code
    _browser_pays(intent_id, OK_CARD)
    with territory_scope(territory.id):
        assert checkout.confirm_from_provider(payment_id=payment_id).status == "paid"
        db.session.commit()
    login(client, citizen.email)
    return territory, code, intent_id


def _order(db, territory, code):
    with territory_scope(territory.id):
        db.session.expire_all()
        order = db.session.execute(select(Order).where(Order.code == code)).scalar_one()
        refunds = [e.amount_cents for e in order.ledger if e.kind == LedgerEntry.REFUND]
        # Read what the tests look at while still in scope.
        order.payments, order.tickets  # noqa: B018
        return order, refunds, ledger.balance(order)


def _stripe_refunded(intent_id) -> int:
    return sum(r.amount for r in stripe.Refund.list(payment_intent=intent_id).data)


def test_before_the_deadline_everything_paid_goes_back(app, db, make, client):
    territory, code, intent_id = _paid_booking(app, db, make, client, dt.timedelta(days=5))
    url = f"/t/{territory.slug}/bookings/{code}"
    page = client.get(url).get_data(as_text=True)
    assert "Free cancellation until" in page and "After that, 50% of the price is refunded." in page
    assert "everything you paid (€39.98) goes back to you" in page.replace("\xa0", " ")

    response = post(client, url + "/cancel", {}, token_from=url)
    assert response.status_code == 302
    order, refunds, balance = _order(db, territory, code)
    assert order.status == Order.CANCELLED and refunds == [-3998] and balance == 0
    assert order.payments[0].status == Payment.REFUNDED
    assert _stripe_refunded(intent_id) == 3998
    page = client.get(url).get_data(as_text=True)
    assert "Cancelled on" in page and "refunded on" in page and "to your card" in page
    mine = client.get(f"/t/{territory.slug}/bookings").get_data(as_text=True)
    assert "to your card" in mine


def test_after_the_deadline_the_late_percentage_goes_back_once_agreed(app, db, make, client):
    # 30 hours before a date whose free cancellation ends 48 hours before: late, 50%.
    territory, code, intent_id = _paid_booking(app, db, make, client, dt.timedelta(hours=30), price=1999, seats=1)
    url = f"/t/{territory.slug}/bookings/{code}"
    page = client.get(url).get_data(as_text=True).replace("\xa0", " ")
    assert "If you cancel now, €9.99 of the €19.99 you paid goes back to you" in page

    # Without ticking the box, the page asks first and nothing moves.
    first = post(client, url + "/cancel", {}, token_from=url)
    body = first.get_data(as_text=True).replace("\xa0", " ")
    assert first.status_code == 200 and "The free cancellation period ended on" in body
    assert "I understand that I get back €9.99" in body and 'name="accept_late"' in body
    unticked = post(client, url + "/cancel", {"confirm_step": "1"}, token_from=url)
    assert unticked.status_code == 422 and "Tick the box" in unticked.get_data(as_text=True)
    order, refunds, balance = _order(db, territory, code)
    assert order.status == Order.PAID and refunds == [] and balance == 1999
    assert _stripe_refunded(intent_id) == 0

    done = post(client, url + "/cancel", {"confirm_step": "1", "accept_late": "y"}, token_from=url)
    assert done.status_code == 302
    order, refunds, balance = _order(db, territory, code)
    assert order.status == Order.CANCELLED and refunds == [-999] and balance == 1000  # 50% of 19,99, rounded down
    assert order.payments[0].status == Payment.CONFIRMED and order.payments[0].refunded_cents == 999
    assert _stripe_refunded(intent_id) == 999
    assert all(t.status == "cancelled" for t in order.tickets)


def test_no_refund_after_the_deadline_when_the_policy_says_none(app, db, make, client):
    territory, code, intent_id = _paid_booking(app, db, make, client, dt.timedelta(hours=10),
                                               free_cancel_hours=24, late_refund_percent=0)
    url = f"/t/{territory.slug}/bookings/{code}"
    page = client.get(url).get_data(as_text=True).replace("\xa0", " ")
    assert "After that, no refund." in page and "nothing of the €39.98 you paid is refunded" in page
    post(client, url + "/cancel", {"confirm_step": "1", "accept_late": "y"}, token_from=url)
    order, refunds, balance = _order(db, territory, code)
    assert order.status == Order.CANCELLED and refunds == [] and balance == 3998
    assert _stripe_refunded(intent_id) == 0


def test_after_the_start_there_is_no_online_cancellation(app, db, make, client):
    territory, code, intent_id = _paid_booking(app, db, make, client, dt.timedelta(days=3))
    with territory_scope(territory.id):
        slot = db.session.execute(select(Slot)).scalar_one()
        slot.starts_at = utcnow() - dt.timedelta(minutes=5)
        db.session.commit()
    url = f"/t/{territory.slug}/bookings/{code}"
    page = client.get(url).get_data(as_text=True)
    assert "can no longer be cancelled online" in page and 'action="' + url + '/cancel"' not in page
    response = post(client, url + "/cancel", {"confirm_step": "1", "accept_late": "y"}, token_from=url)
    assert response.status_code == 302
    assert "can no longer be cancelled online" in client.get(url).get_data(as_text=True)
    order, refunds, balance = _order(db, territory, code)
    assert order.status == Order.PAID and refunds == [] and balance == 3998
    assert _stripe_refunded(intent_id) == 0


def test_the_policy_is_shown_before_booking_and_paying(app, db, make, client):
    territory = make.territory("cremona")
    coop = make.cooperative(territory)
    service = make.service(coop, status="published", title="Laboratorio", free_cancel_hours=72,
                           late_refund_percent=25)
    slot = make.slot(service, starts_in=dt.timedelta(days=10), types=(("Intero", 1500, None),))
    citizen = make.user(email="c@example.org", locale="en")
    login(client, citizen.email)
    service_page = client.get(f"/t/{territory.slug}/services/{service.id}").get_data(as_text=True)
    assert "Free cancellation until 72 hours before the date. After that, 25% of the price is refunded." in service_page
    book_url = f"/t/{territory.slug}/book/{slot.id}"
    book_page = client.get(book_url).get_data(as_text=True)
    assert "Free cancellation until" in book_page and "25% of the price is refunded" in book_page
    with territory_scope(territory.id):
        type_id = db.session.execute(select(Slot)).scalar_one().ticket_types[0].id
    response = post(client, book_url, {f"qty-{type_id}": "1"}, token_from=book_url)
    checkout_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Free cancellation until" in checkout_page and "25% of the price is refunded" in checkout_page
