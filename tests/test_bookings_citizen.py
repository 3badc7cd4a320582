"""A citizen books a free guided visit, sees the tickets, cancels; full dates refuse politely."""
from __future__ import annotations

import re

from sqlalchemy import select

from marketplace.models import Order, Ticket
from tenants.scoping import territory_scope
from tests.booking_helpers import make_slot
from tests.conftest import login, post


def test_book_a_free_date_see_tickets_and_cancel(app, client, db, make):
    territory, slot_id, (free,) = make_slot(app, make, capacity=3, types=(("Gratuito", 0, None),))
    citizen = make.user(email="giulia@example.org")
    login(client, citizen.email)
    with territory_scope(territory.id):
        from marketplace.models import Slot

        service_id = db.session.get(Slot, slot_id).service_id
    page = client.get(f"/t/{territory.slug}/services/{service_id}").get_data(as_text=True)
    assert f"/t/{territory.slug}/book/{slot_id}" in page and "3 posti disponibili" in page

    url = f"/t/{territory.slug}/book/{slot_id}"
    response = post(client, url, {f"qty-{free}": "2", "participant": ["Anna", "Luca"]}, token_from=url)
    assert response.status_code == 302
    code = re.search(r"/bookings/([A-Z0-9]+)", response.headers["Location"]).group(1)
    detail = client.get(f"/t/{territory.slug}/bookings/{code}").get_data(as_text=True)
    assert "Anna" in detail and "Luca" in detail and "Confermata" in detail
    with territory_scope(territory.id):
        order = db.session.execute(select(Order).where(Order.code == code)).scalar_one()
        ticket_codes = [t.code for t in order.tickets]
    assert all(c in detail for c in ticket_codes)
    assert code in client.get(f"/t/{territory.slug}/bookings").get_data(as_text=True)
    from marketplace.models import OutboxMessage

    mail = db.session.execute(select(OutboxMessage).where(OutboxMessage.to_email == "giulia@example.org")
                              .order_by(OutboxMessage.id.desc())).scalars().first()
    assert code in mail.subject + mail.body_text and all(c in mail.body_text for c in ticket_codes)

    # Another citizen cannot see it.
    other = app.test_client()
    login(other, make.user().email)
    assert other.get(f"/t/{territory.slug}/bookings/{code}").status_code == 404

    post(client, f"/t/{territory.slug}/bookings/{code}/cancel", {}, token_from=f"/t/{territory.slug}/bookings/{code}")
    with territory_scope(territory.id):
        db.session.expire_all()
        order = db.session.execute(select(Order).where(Order.code == code)).scalar_one()
        assert order.status == Order.CANCELLED
        assert {t.status for t in order.tickets} == {Ticket.CANCELLED}
    page = client.get(f"/t/{territory.slug}/services/{service_id}").get_data(as_text=True)
    assert "3 posti disponibili" in page  # the seats are back


def test_full_date_and_bad_quantities(app, client, db, make):
    territory, slot_id, (free,) = make_slot(app, make, capacity=1, types=(("Gratuito", 0, None),))
    login(client, make.user().email)
    url = f"/t/{territory.slug}/book/{slot_id}"
    assert post(client, url, {f"qty-{free}": "abc"}, token_from=url).status_code == 422
    assert post(client, url, {f"qty-{free}": "0"}, token_from=url).status_code == 422
    assert post(client, url, {f"qty-{free}": "2"}, token_from=url).status_code == 422
    assert post(client, url, {f"qty-{free}": "1"}, token_from=url).status_code == 302
    full = client.get(url).get_data(as_text=True)
    assert "questa data è al completo" in full.lower() or "al completo" in full


def test_paid_dates_go_to_checkout_with_a_held_seat(app, client, db, make):
    territory, slot_id, (adult,) = make_slot(app, make, capacity=5, types=(("Intero", 1200, None),))
    login(client, make.user().email)
    url = f"/t/{territory.slug}/book/{slot_id}"
    response = post(client, url, {f"qty-{adult}": "2"}, token_from=url)
    assert "/checkout" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "24,00" in page


def test_booking_needs_an_account(client, app, make):
    territory, slot_id, _ = make_slot(app, make)
    response = client.get(f"/t/{territory.slug}/book/{slot_id}")
    assert response.status_code == 302 and "/account/login" in response.headers["Location"]
