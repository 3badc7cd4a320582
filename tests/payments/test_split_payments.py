"""One booking, several payers: voucher -> welfare credit -> card, through the checkout page
as a citizen uses it, with localstripe as Stripe. Cancelling gives each source its share."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from marketplace.models import LedgerEntry, Order, OutboxMessage, Payment, Slot, TicketType, Voucher, WelfareCredit
from marketplace.models.base import utcnow
from payments import ledger
from tenants.scoping import territory_scope, unscoped
from tests.conftest import login, post
from tests.payments.test_card_payments import _browser_pays

OK_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000341"


class World:
    """A territory with a voucher-and-credit service, a citizen with a 30 EUR voucher of a
    municipal programme and 20 EUR of employer credit."""

    def __init__(self, app, make, db, price=3000, voucher_cents=3000, credit_cents=2000, percent=None,
                 starts_in=dt.timedelta(days=10)):
        self.app, self.db = app, db
        self.territory = make.territory()
        coop = make.cooperative(self.territory)
        self.service = make.service(coop, status="published", title="Centro estivo", accepts_voucher=True,
                                    accepts_welfare_credit=True)
        start = (utcnow() + starts_in).replace(microsecond=0)
        with app.app_context(), unscoped():
            slot = Slot(territory_id=self.territory.id, service_id=self.service.id, starts_at=start,
                        ends_at=start + dt.timedelta(hours=3), capacity=10)
            slot.ticket_types.append(TicketType(territory_id=self.territory.id, name="Bambino",
                                                price_cents=price, max_per_order=4))
            db.session.add(slot)
            db.session.commit()
            self.slot_id, self.type_id = slot.id, slot.ticket_types[0].id
        self.citizen = make.user()
        municipality = make.funder(self.territory)
        kw = dict(value_kind="percent", percent=percent, cap_cents=voucher_cents) if percent else \
            dict(value_cents=voucher_cents)
        self.programme = make.programme(municipality, **kw)
        self.voucher = make.voucher(self.programme, self.citizen) if voucher_cents else None
        self.employer = make.funder(self.territory, kind="employer")
        employee = make.employee(self.employer, user=self.citizen)
        self.credit = make.welfare_credit(employee, amount_cents=credit_cents) if credit_cents else None
        self.base = f"/t/{self.territory.slug}"

    def book(self, client, seats=1):
        login(client, self.citizen.email)
        url = f"{self.base}/book/{self.slot_id}"
        response = post(client, url, {f"qty-{self.type_id}": str(seats)}, token_from=url)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        self.code = re.search(r"/bookings/([A-Z0-9]+)/checkout", response.headers["Location"]).group(1)
        self.checkout_url = f"{self.base}/bookings/{self.code}/checkout"
        return self.code

    def choose(self, client, vouchers=None, use_credit=True, **extra):
        data = {"voucher": [str(v) for v in (vouchers if vouchers is not None else [self.voucher.id])]}
        if use_credit:
            data["use_credit"] = "y"
        data.update(extra)
        return post(client, f"{self.base}/bookings/{self.code}/funding", data, token_from=self.checkout_url)

    def order(self):
        with territory_scope(self.territory.id):
            self.db.session.expire_all()
            return self.db.session.execute(select(Order).where(Order.code == self.code)).scalar_one()

    def balances(self):
        with territory_scope(self.territory.id):
            self.db.session.expire_all()
            voucher = self.db.session.get(Voucher, self.voucher.id) if self.voucher else None
            credit = self.db.session.get(WelfareCredit, self.credit.id) if self.credit else None
            return (voucher.balance_cents if voucher else None, credit.balance_cents if credit else None)


def _card_form(client, url):
    body = client.get(url).get_data(as_text=True)
    secret = re.search(r'data-client-secret="([^"]+)"', body).group(1)
    return_url = re.search(r'data-return-url="([^"]+)"', body).group(1).replace("&amp;", "&")
    return body, secret.split("_secret")[0], "/" + return_url.split("/", 3)[3]


def test_the_checkout_shows_the_split_in_order_voucher_credit_card(app, client, db, make):
    world = World(app, make, db, price=3000, voucher_cents=1000, credit_cents=1500)
    world.book(client, seats=2)  # 60 EUR: 10 voucher, 15 credit, 35 card
    page = client.get(world.checkout_url)
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "data-client-secret" not in body  # nothing charged before the citizen agrees
    voucher_at, credit_at, card_at = body.index("10,00"), body.index("15,00"), body.index("35,00")
    assert voucher_at < credit_at < card_at
    with territory_scope(world.territory.id):
        assert not db.session.execute(select(Payment)).scalars().all()


def test_voucher_credit_and_card_pay_one_booking_then_each_is_refunded(app, client, db, make):
    world = World(app, make, db, price=3000, voucher_cents=1000, credit_cents=1500)
    world.book(client, seats=2)
    response = world.choose(client)
    assert response.status_code == 302 and response.headers["Location"].endswith("/checkout")
    assert world.balances() == (1000, 1500)  # reserved, not charged yet
    body, intent_id, return_url = _card_form(client, world.checkout_url)
    assert "35,00" in body and "(riservato)" in body or "(reserved)" in body
    import stripe

    assert stripe.PaymentIntent.retrieve(intent_id).amount == 3500  # the card pays only the rest

    _browser_pays(intent_id, OK_CARD)
    done = client.get(return_url)
    assert f"/bookings/{world.code}" in done.headers["Location"]
    order = world.order()
    assert order.status == Order.PAID
    assert world.balances() == (0, 0)
    with territory_scope(world.territory.id):
        order = db.session.get(Order, order.id)
        assert ledger.balance(order) == 6000
        by_provider = {p.provider: (p.status, p.amount_cents) for p in order.payments}
        assert by_provider == {"voucher": ("confirmed", 1000), "welfare_credit": ("confirmed", 1500),
                               "stripe": ("confirmed", 3500)}
        funders = {e.provider: e.funder_id for e in order.ledger}
        assert funders["voucher"] == world.programme.funder_id and funders["welfare_credit"] == world.employer.id
        assert len(db.session.execute(select(OutboxMessage).where(
            OutboxMessage.to_email == world.citizen.email)).scalars().all()) == 1
    detail = client.get(f"{world.base}/bookings/{world.code}").get_data(as_text=True)
    assert "Buono" in detail or "Voucher" in detail

    post(client, f"{world.base}/bookings/{world.code}/cancel", {}, token_from=f"{world.base}/bookings/{world.code}")
    order = world.order()
    assert order.status == Order.CANCELLED
    assert world.balances() == (1000, 1500)  # both re-credited
    with territory_scope(world.territory.id):
        order = db.session.get(Order, order.id)
        assert ledger.balance(order) == 0
        refunds = {e.provider: -e.amount_cents for e in order.ledger if e.kind == LedgerEntry.REFUND}
        assert refunds == {"voucher": 1000, "welfare_credit": 1500, "stripe": 3500}
    assert stripe.PaymentIntent.retrieve(intent_id).status == "succeeded"
    assert sum(r.amount for r in stripe.Refund.list(payment_intent=intent_id).data) == 3500


def test_vouchers_and_credit_covering_everything_pay_at_once(app, client, db, make):
    world = World(app, make, db, price=2500, voucher_cents=2000, credit_cents=2000)
    world.book(client)
    response = world.choose(client)
    assert f"/bookings/{world.code}" in response.headers["Location"]
    assert world.order().status == Order.PAID
    assert world.balances() == (0, 1500)  # voucher first, credit for the rest


def test_a_declined_card_releases_the_reservations(app, client, db, make):
    world = World(app, make, db, price=3000, voucher_cents=1000, credit_cents=1000)
    world.book(client)
    world.choose(client)
    _body, intent_id, return_url = _card_form(client, world.checkout_url)
    import stripe

    with pytest.raises(stripe.CardError):  # Stripe tells the browser the card was declined
        _browser_pays(intent_id, DECLINED_CARD)
    client.get(return_url)
    order = world.order()
    assert order.status == Order.PENDING  # seats still held, the citizen may choose again
    with territory_scope(world.territory.id):
        order = db.session.get(Order, order.id)
        assert {p.provider: p.status for p in order.payments} == {
            "voucher": "failed", "welfare_credit": "failed", "stripe": "failed"}
        assert not order.ledger
    assert world.balances() == (1000, 1000)
    page = client.get(world.checkout_url).get_data(as_text=True)
    assert 'name="voucher"' in page  # asked again how to pay


def test_a_late_cancellation_refunds_each_source_in_proportion(app, client, db, make):
    world = World(app, make, db, price=4000, voucher_cents=1000, credit_cents=1000,
                  starts_in=dt.timedelta(hours=5))
    with app.app_context(), unscoped():
        from marketplace.models import Service

        service = db.session.get(Service, world.service.id)
        service.free_cancel_hours, service.late_refund_percent = 48, 50
        db.session.commit()
    world.book(client)
    world.choose(client)
    _body, intent_id, return_url = _card_form(client, world.checkout_url)
    _browser_pays(intent_id, OK_CARD)
    client.get(return_url)
    assert world.order().status == Order.PAID
    url = f"{world.base}/bookings/{world.code}/cancel"
    post(client, url, {"accept_late": "y", "confirm_step": "1"}, token_from=f"{world.base}/bookings/{world.code}")
    order = world.order()
    assert order.status == Order.CANCELLED
    with territory_scope(world.territory.id):
        order = db.session.get(Order, order.id)
        refunds = {e.provider: -e.amount_cents for e in order.ledger if e.kind == LedgerEntry.REFUND}
    # 40 EUR paid 10/10/20; half comes back, each source its half.
    assert refunds == {"voucher": 500, "welfare_credit": 500, "stripe": 1000}
    assert world.balances() == (500, 500)


def test_an_expired_voucher_is_refused_with_a_clear_message(app, client, db, make):
    world = World(app, make, db, credit_cents=0)
    with app.app_context(), unscoped():
        voucher = db.session.get(Voucher, world.voucher.id)
        voucher.valid_until = dt.date.today() - dt.timedelta(days=1)
        db.session.commit()
    world.book(client)
    page = client.get(world.checkout_url).get_data(as_text=True)
    assert f'value="{world.voucher.id}"' not in page  # not offered
    response = world.choose(client, use_credit=False)
    assert response.status_code == 422
    assert "scaduto" in response.get_data(as_text=True) or "expired" in response.get_data(as_text=True)
    with territory_scope(world.territory.id):
        assert not db.session.execute(select(Payment).where(Payment.provider == "voucher")).scalars().all()
    assert world.balances() == (3000, None)


def test_a_printed_code_of_an_expired_voucher_says_so(app, client, db, make):
    world = World(app, make, db, voucher_cents=0, credit_cents=0)
    printed = make.voucher(world.programme, None, channel="printed",
                           valid_until=dt.date.today() - dt.timedelta(days=3))
    world.book(client)
    response = world.choose(client, vouchers=[], use_credit=False, voucher_code=printed.code)
    assert response.status_code == 422
    assert printed.valid_until.strftime("%d/%m/%Y") in response.get_data(as_text=True)
    assert world.order().status in (Order.PENDING, Order.AWAITING_PAYMENT)
    with territory_scope(world.territory.id):
        assert db.session.get(Voucher, printed.id).holder_id is None  # not claimed either


def test_a_printed_voucher_code_pays_and_becomes_the_citizens(app, client, db, make):
    world = World(app, make, db, price=2000, voucher_cents=0, credit_cents=0)
    printed = make.voucher(world.programme, None, channel="printed", amount_cents=5000)
    world.book(client)
    response = world.choose(client, vouchers=[], use_credit=False, voucher_code=printed.code.lower())
    assert f"/bookings/{world.code}" in response.headers["Location"]
    assert world.order().status == Order.PAID
    with territory_scope(world.territory.id):
        voucher = db.session.get(Voucher, printed.id)
        assert voucher.holder_id == world.citizen.id and voucher.balance_cents == 3000


def test_vouchers_of_others_or_of_another_territory_are_refused(app, client, db, make):
    world = World(app, make, db, credit_cents=0)
    stranger = make.user()
    theirs = make.voucher(world.programme, stranger)
    other = World(app, make, db, credit_cents=0)
    world.book(client)
    for voucher_id in (theirs.id, other.voucher.id, 2**40, "abc"):
        response = world.choose(client, vouchers=[voucher_id], use_credit=False)
        assert response.status_code == 422, voucher_id
    with territory_scope(world.territory.id):
        assert not db.session.execute(select(Payment)).scalars().all()
        assert db.session.get(Voucher, theirs.id).balance_cents == 3000
    assert other.balances()[0] == 3000


def test_amounts_typed_into_the_form_are_ignored(app, client, db, make):
    world = World(app, make, db, price=3000, voucher_cents=5000, credit_cents=0)
    world.book(client)
    world.choose(client, use_credit=False, amount="1", amount_cents="1", total_cents="1")
    order = world.order()
    assert order.status == Order.PAID and order.total_cents == 3000
    assert world.balances() == (2000, None)


def test_a_voucher_reserved_by_a_live_booking_is_not_spent_twice(app, client, db, make):
    world = World(app, make, db, price=2000, voucher_cents=3000, credit_cents=0)
    first = world.book(client)
    world.choose(client, use_credit=False)  # 20 of 30 reserved (card pays nothing: paid at once)
    assert world.order().status == Order.PAID
    second = world.book(client)
    assert second != first
    world.choose(client, use_credit=False)
    with territory_scope(world.territory.id):
        order = db.session.execute(select(Order).where(Order.code == second)).scalar_one()
        assert [(p.provider, p.amount_cents) for p in order.payments] == [("voucher", 1000)]
    assert world.balances() == (3000 - 2000, None)  # the second only reserved 10 of the 10 left


def test_a_reservation_of_an_expired_hold_frees_the_balance(app, client, db, make):
    world = World(app, make, db, price=3000, voucher_cents=2000, credit_cents=0)
    first = world.book(client)
    world.choose(client, use_credit=False)  # 20 reserved, 10 left for the card
    with app.app_context(), unscoped():
        order = db.session.execute(select(Order).where(Order.code == first)).scalar_one()
        order.hold_expires_at = utcnow() - dt.timedelta(seconds=1)  # the citizen left mid-checkout
        db.session.commit()
    world.book(client)
    page = client.get(world.checkout_url).get_data(as_text=True)
    assert "20,00" in page  # the whole voucher is available again
    world.choose(client, use_credit=False)
    with territory_scope(world.territory.id):
        order = world.order()
        assert [(p.provider, p.amount_cents, p.status) for p in order.payments
                if p.provider == "voucher"] == [("voucher", 2000, "pending")]


def test_a_percent_voucher_pays_its_share(app, client, db, make):
    world = World(app, make, db, price=3000, voucher_cents=5000, percent=40, credit_cents=0)
    world.book(client, seats=2)  # 60 EUR: the voucher pays 40% = 24
    world.choose(client, use_credit=False)
    _body, intent_id, _return = _card_form(client, world.checkout_url)
    import stripe

    assert stripe.PaymentIntent.retrieve(intent_id).amount == 3600
    assert world.balances() == (5000, None)


def test_a_service_that_takes_no_vouchers_offers_none(app, client, db, make):
    world = World(app, make, db, credit_cents=0)
    with app.app_context(), unscoped():
        from marketplace.models import Service

        db.session.get(Service, world.service.id).accepts_voucher = False
        db.session.commit()
    world.book(client)
    page = client.get(world.checkout_url).get_data(as_text=True)
    assert "data-client-secret" in page and 'name="voucher"' not in page
    response = world.choose(client, use_credit=False)
    assert response.status_code == 422


def test_choosing_how_to_pay_a_booking_already_paid_changes_nothing(app, client, db, make):
    world = World(app, make, db, price=2000, voucher_cents=5000, credit_cents=0)
    world.book(client)
    world.choose(client, use_credit=False)
    assert world.order().status == Order.PAID
    again = post(client, f"{world.base}/bookings/{world.code}/funding", {"voucher": [str(world.voucher.id)]},
                 token_from=f"{world.base}/bookings/{world.code}")
    assert again.status_code == 302 and again.headers["Location"].endswith(f"/bookings/{world.code}")
    assert world.balances() == (3000, None)
