"""A citizen books a paid date, pays by card on the checkout page, gets the tickets by
e-mail, then cancels in time and is refunded — through HTTP, with localstripe as Stripe."""
from __future__ import annotations

import re

from sqlalchemy import select

from marketplace.models import Order, OutboxMessage, Payment
from payments import ledger
from tenants.scoping import territory_scope
from tests.booking_helpers import make_slot
from tests.conftest import login, post
from tests.payments.test_card_payments import _browser_pays

OK_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000341"


def _book(app, client, make, price=1500, seats=2):
    territory, slot_id, (adult,) = make_slot(app, make, capacity=5, types=(("Intero", price, None),))
    citizen = make.user(email="pagante@example.org")
    login(client, citizen.email)
    url = f"/t/{territory.slug}/book/{slot_id}"
    response = post(client, url, {f"qty-{adult}": str(seats)}, token_from=url)
    assert "/checkout" in response.headers["Location"]
    code = re.search(r"/bookings/([A-Z0-9]+)/checkout", response.headers["Location"]).group(1)
    return territory, code, response.headers["Location"]


def _checkout(client, url):
    page = client.get(url)
    body = page.get_data(as_text=True)
    secret = re.search(r'data-client-secret="([^"]+)"', body).group(1)
    return_url = re.search(r'data-return-url="([^"]+)"', body).group(1).replace("&amp;", "&")
    return page, secret.split("_secret")[0], "/" + return_url.split("/", 3)[3]


def test_pay_by_card_get_tickets_then_cancel_and_be_refunded(app, client, db, make):
    territory, code, checkout_url = _book(app, client, make)
    page, intent_id, return_url = _checkout(client, checkout_url)
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "js.stripe.com" in csp  # Stripe.js allowed on this page only
    assert "30,00" in page.get_data(as_text=True)

    _browser_pays(intent_id, OK_CARD)
    done = client.get(return_url)
    assert done.status_code == 302 and f"/bookings/{code}" in done.headers["Location"]
    client.get(return_url)  # the page reloaded: nothing changes
    with territory_scope(territory.id):
        order = db.session.execute(select(Order).where(Order.code == code)).scalar_one()
        assert order.status == Order.PAID and ledger.balance(order) == 3000
        mails = db.session.execute(select(OutboxMessage).where(
            OutboxMessage.to_email == "pagante@example.org")).scalars().all()
        assert len(mails) == 1 and all(t.code in mails[0].body_text for t in order.tickets)

    post(client, f"/t/{territory.slug}/bookings/{code}/cancel", {}, token_from=f"/t/{territory.slug}/bookings/{code}")
    with territory_scope(territory.id):
        db.session.expire_all()
        order = db.session.execute(select(Order).where(Order.code == code)).scalar_one()
        assert order.status == Order.CANCELLED and ledger.balance(order) == 0
        assert order.payments[0].status == Payment.REFUNDED


def test_a_declined_card_sends_the_citizen_back_to_pay_again(app, client, db, make):
    territory, code, checkout_url = _book(app, client, make, seats=1)
    _, intent_id, return_url = _checkout(client, checkout_url)
    try:
        _browser_pays(intent_id, DECLINED_CARD)
    except Exception:  # noqa: BLE001 - Stripe reports the decline to the browser
        pass
    back = client.get(return_url)
    assert back.status_code == 302 and back.headers["Location"].endswith("/checkout")
    with territory_scope(territory.id):
        order = db.session.execute(select(Order).where(Order.code == code)).scalar_one()
        assert order.status == Order.PENDING and ledger.balance(order) == 0
    # A second attempt gets a fresh payment and works.
    _, intent2, return2 = _checkout(client, checkout_url)
    assert intent2 != intent_id
    _browser_pays(intent2, OK_CARD)
    client.get(return2)
    with territory_scope(territory.id):
        db.session.expire_all()
        assert db.session.execute(select(Order).where(Order.code == code)).scalar_one().status == Order.PAID


def test_someone_elses_payment_page_is_404(app, client, db, make):
    territory, code, checkout_url = _book(app, client, make, seats=1)
    _, _, return_url = _checkout(client, checkout_url)
    stranger = app.test_client()
    login(stranger, make.user().email)
    assert stranger.get(return_url).status_code == 404
    assert stranger.get(checkout_url).status_code == 404
