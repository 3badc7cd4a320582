"""The pay-by-card endpoint the checkout page posts to: our server sets the card Stripe.js
made on the intent and confirms it; the return URL then settles it (localstripe as Stripe)."""
from __future__ import annotations

from sqlalchemy import select

from marketplace.models import Order, Payment
from tenants.scoping import territory_scope
from tests.conftest import csrf_token
from tests.payments.test_checkout_pages import _book, _checkout


def _pay_url(checkout_body: str) -> str:
    import re

    return re.search(r'data-pay-url="([^"]+)"', checkout_body).group(1)


def test_the_card_is_charged_by_our_server_then_the_return_url_shows_it_paid(app, client, db, make):
    territory, code, checkout_url = _book(app, client, make)
    page, intent_id, return_url = _checkout(client, checkout_url)
    pay_url = _pay_url(page.get_data(as_text=True))
    answer = client.post(pay_url, data={"csrf_token": csrf_token(client, f"/t/{territory.slug}/bookings/{code}"), "payment_method": "pm_card_visa"})
    assert answer.status_code == 200 and answer.json["status"] == "succeeded"
    assert answer.json["next"] == return_url
    done = client.get(return_url)
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/bookings/{code}")
    with territory_scope(territory.id):
        order = db.session.execute(select(Order).where(Order.code == code)).scalar_one()
        assert order.status == Order.PAID and order.payments[0].status == Payment.CONFIRMED


def test_bad_or_repeated_requests_are_refused_clearly_and_change_nothing(app, client, db, make):
    territory, code, checkout_url = _book(app, client, make)
    page, intent_id, return_url = _checkout(client, checkout_url)
    pay_url = _pay_url(page.get_data(as_text=True))
    bad = client.post(pay_url, data={"csrf_token": csrf_token(client, f"/t/{territory.slug}/bookings/{code}"), "payment_method": "4242424242424242"})
    assert bad.status_code == 422 and bad.json["error"] == "Non è stato possibile leggere la carta. Inseriscila di nuovo."
    assert client.post(pay_url, data={"payment_method": "pm_card_visa"}).status_code == 400  # no CSRF token
    unknown = client.post(pay_url, data={"csrf_token": csrf_token(client, f"/t/{territory.slug}/bookings/{code}"), "payment_method": "pm_nonexistent"})
    assert unknown.status_code == 422 and "error" in unknown.json
    with territory_scope(territory.id):
        order = db.session.execute(select(Order).where(Order.code == code)).scalar_one()
        assert order.status == Order.AWAITING_PAYMENT and order.payments[0].status == Payment.PENDING
    # Paid once, a second post is refused: the payment is no longer open.
    client.post(pay_url, data={"csrf_token": csrf_token(client, f"/t/{territory.slug}/bookings/{code}"), "payment_method": "pm_card_visa"})
    client.get(return_url)
    again = client.post(pay_url, data={"csrf_token": csrf_token(client, f"/t/{territory.slug}/bookings/{code}"), "payment_method": "pm_card_visa"})
    assert again.status_code == 422 and again.json["error"] == "Questa prenotazione non può più essere pagata."
