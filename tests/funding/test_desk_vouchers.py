"""A citizen who is not online hands a printed voucher to the help desk: it pays first, the
desk takes the rest; a bad code is refused and nothing is booked."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from marketplace.models import Membership, Order, Payment, Voucher
from tenants.scoping import territory_scope, unscoped
from tests.conftest import login, post


@pytest.fixture
def desk(app, make, db):
    territory = make.territory()
    coop = make.cooperative(territory)
    service = make.service(coop, status="published", title="Trasporto scolastico", accepts_voucher=True)
    slot = make.slot(service, capacity=5, types=(("Corsa", 2000, None),))
    operator = make.user()
    make.membership(territory, operator, Membership.HELP_DESK)
    citizen = make.user(full_name="Giovanna Neri")
    make.beneficiary(coop, user_id=citizen.id)  # known in the territory: desks may find her
    programme = make.programme(make.funder(territory))
    with app.app_context(), unscoped():
        from marketplace.models import TicketType

        type_id = db.session.execute(select(TicketType.id).where(TicketType.slot_id == slot.id)).scalar_one()
    return SimpleNamespace(territory=territory, slot=slot, type_id=type_id, operator=operator, citizen=citizen,
                           programme=programme, base=f"/t/{territory.slug}/helpdesk")


def _book(client, d, data):
    found = post(client, f"{d.base}/", {"find-contact": d.citizen.email}, token_from=f"{d.base}/")
    assert "Giovanna Neri" in found.get_data(as_text=True)
    url = f"{d.base}/book/{d.slot.id}?citizen={d.citizen.id}"
    return post(client, url, {f"qty-{d.type_id}": "2", "consent": "y", "payment": "desk", **data},
                token_from=f"{d.base}/")


def test_a_printed_voucher_pays_first_and_the_desk_takes_the_rest(client, desk, make, db):
    printed = make.voucher(desk.programme, None, channel="printed", amount_cents=2500)
    login(client, desk.operator.email)
    response = _book(client, desk, {"voucher_code": printed.code})
    assert response.status_code == 302, response.get_data(as_text=True)[:800]
    with territory_scope(desk.territory.id):
        order = db.session.execute(select(Order)).scalar_one()
        assert order.status == Order.PAID
        assert sorted((p.provider, p.amount_cents, p.status) for p in order.payments) == [
            ("desk", 1500, "confirmed"), ("voucher", 2500, "confirmed")]
        voucher = db.session.get(Voucher, printed.id)
        assert voucher.holder_id == desk.citizen.id and voucher.balance_cents == 0


def test_a_voucher_worth_more_than_the_booking_pays_all_of_it(client, desk, make, db):
    printed = make.voucher(desk.programme, None, channel="printed", amount_cents=10_000)
    login(client, desk.operator.email)
    _book(client, desk, {"voucher_code": printed.code, "payment": "link"})
    with territory_scope(desk.territory.id):
        order = db.session.execute(select(Order)).scalar_one()
        assert order.status == Order.PAID
        assert [(p.provider, p.amount_cents) for p in order.payments] == [("voucher", 4000)]
        assert db.session.get(Voucher, printed.id).balance_cents == 6000


def test_an_expired_printed_voucher_is_refused_and_nothing_is_booked(client, desk, make, db):
    printed = make.voucher(desk.programme, None, channel="printed",
                           valid_until=dt.date.today() - dt.timedelta(days=1))
    login(client, desk.operator.email)
    response = _book(client, desk, {"voucher_code": printed.code})
    assert response.status_code == 422
    assert printed.valid_until.strftime("%d/%m/%Y") in response.get_data(as_text=True)
    with territory_scope(desk.territory.id):
        assert db.session.execute(select(Order)).scalars().all() == []
        assert db.session.execute(select(Payment)).scalars().all() == []
        assert db.session.get(Voucher, printed.id).holder_id is None
