"""The cancellation policy as staff set it on a listing (validated, recorded in the
history) and refunds of funding sources other than the card (``refund_payment``)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from marketplace.models import ChangeRecord, LedgerEntry, Order, Payment, Service, TicketType
from marketplace.models.base import utcnow
from marketplace.services import booking, checkout, policy
from payments import ledger
from tenants.scoping import territory_scope
from tests.conftest import login, post
from tests.test_catalogue_staff import _count, _create, _services, _valid, shop  # noqa: F401 - fixture


def test_staff_set_the_policy_and_the_history_names_it(client, db, shop):
    page = client.get(f"{shop.base}/services/new").get_data(as_text=True)
    assert 'for="free_cancel_hours"' in page and 'for="late_refund_percent"' in page
    assert 'for="booking_mode"' in page and 'for="participant_fields"' in page
    service_id = _create(client, shop, free_cancel_hours="24", late_refund_percent="30",
                         booking_mode="request", participant_fields="name_age")
    [service] = _services(db, shop)
    assert (service.free_cancel_hours, service.late_refund_percent) == (24, 30)
    assert (service.booking_mode, service.participant_fields) == ("request", "name_age")

    edit = f"{shop.base}/services/{service_id}/edit"
    form = client.get(edit).get_data(as_text=True)
    assert 'value="24"' in form and 'value="30"' in form
    response = post(client, edit, _valid(shop, free_cancel_hours="72", late_refund_percent="50",
                                         booking_mode="request", participant_fields="name_age"), token_from=edit)
    assert response.status_code == 302
    history = client.get(f"{shop.base}/services/{service_id}/history").get_data(as_text=True)
    assert "Free cancellation until (hours before the date)" in history and "Refund after that (percent)" in history
    with territory_scope(shop.territory.id):
        edited = db.session.execute(select(ChangeRecord).where(ChangeRecord.action == "edited")).scalar_one()
        assert edited.changes["late_refund_percent"] == [30, 50]


def test_left_empty_the_policy_is_the_default(client, db, shop):
    _create(client, shop)  # a form without the new fields (as older pages post it)
    [service] = _services(db, shop)
    assert (service.free_cancel_hours, service.late_refund_percent, service.booking_mode) == (48, 0, "slots")


BAD = [
    ({"late_refund_percent": "150"}, "late_refund_percent", "Enter a percentage between 0 and 100."),
    ({"late_refund_percent": "-1"}, "late_refund_percent", "Enter a percentage between 0 and 100."),
    ({"free_cancel_hours": "721"}, "free_cancel_hours", "Enter a number of hours between 0 and 720."),
    ({"booking_mode": "auction"}, "booking_mode", "Choose how citizens get the service."),
    ({"participant_fields": "dna"}, "participant_fields", "Choose which details to ask for."),
]


@pytest.mark.parametrize("overrides,field,message", BAD, ids=[f for _, f, _ in BAD])
def test_a_bad_policy_is_refused_on_its_field_and_nothing_is_saved(client, db, shop, overrides, field, message):
    new = f"{shop.base}/services/new"
    response = post(client, new, _valid(shop, **overrides), token_from=new)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert f'href="#{field}"' in body
    assert message in body.split(f'id="{field}-error"', 1)[1].split("</p>", 1)[0]
    assert _count(db, shop, Service) == 0 and _count(db, shop, ChangeRecord) == 0


class DeskProvider:
    """A funding source that is not a card (money handed back at a desk)."""

    calls: list = []

    def refund(self, payment, amount_cents, idempotency_key):
        self.calls.append((payment.id, amount_cents, idempotency_key))
        return f"desk-refund-{len(self.calls)}"


def _desk_paid_order(db, make, price=2001, starts_in=dt.timedelta(days=5), **policy_fields):
    territory = make.territory("cremona")
    coop = make.cooperative(territory)
    service = make.service(coop, status="published", **policy_fields)
    slot = make.slot(service, starts_in=starts_in, types=(("Intero", price, None),))
    with territory_scope(territory.id):
        type_id = db.session.execute(select(TicketType.id).where(TicketType.slot_id == slot.id)).scalar_one()
        order = booking.hold(slot.id, {type_id: 1}, email="x@example.org")
        payment = Payment(territory_id=territory.id, order_id=order.id, provider="desk", amount_cents=price)
        db.session.add(payment)
        db.session.flush()
        ledger.record(payment, LedgerEntry.CHARGE, price, f"desk:charge:{payment.id}")
        booking.transition(order, Order.PAID)
        db.session.commit()
        return territory, order.id, payment.id


@pytest.fixture
def desk_provider(monkeypatch):
    DeskProvider.calls = []
    monkeypatch.setattr(checkout, "get_provider", lambda name: DeskProvider() if name == "desk" else None)
    return DeskProvider


def test_refund_payment_of_another_provider_goes_through_the_ledger(app, db, make, desk_provider):
    territory, order_id, payment_id = _desk_paid_order(db, make)
    with territory_scope(territory.id):
        entry = checkout.refund_payment(db.session.get(Payment, payment_id), 1000)
        db.session.commit()
        assert entry.amount_cents == -1000 and entry.provider == "desk" and entry.provider_ref == "desk-refund-1"
        with pytest.raises(ledger.LedgerError):
            checkout.refund_payment(db.session.get(Payment, payment_id), 1002)  # more than is left
        db.session.rollback()
        assert len(desk_provider.calls) == 1  # refused before the provider was asked
        payment = db.session.get(Payment, payment_id)
        assert payment.refunded_cents == 1000 and ledger.balance(db.session.get(Order, order_id)) == 1001


def test_a_late_cancellation_refunds_the_percentage_rounded_down_and_only_when_accepted(app, db, make, desk_provider):
    territory, order_id, payment_id = _desk_paid_order(db, make, price=2001, starts_in=dt.timedelta(hours=20),
                                                       free_cancel_hours=48, late_refund_percent=33)
    with territory_scope(territory.id):
        order = db.session.get(Order, order_id)
        amount, deadline = policy.refund_due(order)
        assert amount == 660 and deadline < utcnow()  # 33% of 20,01 = 6,6033 -> 6,60
        with pytest.raises(checkout.LateCancellation) as refused:
            checkout.cancel_paid(order)
        assert refused.value.quote.refund_cents == 660 and desk_provider.calls == []
        assert checkout.cancel_paid(order, accept_late=True) == 660
        db.session.commit()
        order = db.session.get(Order, order_id)
        assert order.status == Order.CANCELLED and ledger.balance(order) == 2001 - 660
        assert policy.quote(order).can_cancel is False  # cancelled: nothing more to cancel


def test_the_policy_quote_before_the_deadline_and_after_the_start(app, db, make, desk_provider):
    territory, order_id, _ = _desk_paid_order(db, make, price=2001, starts_in=dt.timedelta(days=5),
                                              free_cancel_hours=48, late_refund_percent=33)
    with territory_scope(territory.id):
        order = db.session.get(Order, order_id)
        start = policy.order_start(order)
        before = policy.quote(order, start - dt.timedelta(hours=49))
        assert (before.refund_cents, before.late, before.can_cancel) == (2001, False, True)
        late = policy.quote(order, start - dt.timedelta(hours=1))
        assert (late.refund_cents, late.late, late.can_cancel) == (660, True, True)
        after = policy.quote(order, start + dt.timedelta(minutes=1))
        assert (after.refund_cents, after.can_cancel) == (0, False)
        with pytest.raises(checkout.DomainError):
            checkout.cancel_paid(order, accept_late=True, now=start + dt.timedelta(minutes=1))
        assert desk_provider.calls == []


def test_free_dates_say_they_can_be_cancelled_until_the_start(client, make):
    territory = make.territory("cremona")
    coop = make.cooperative(territory)
    service = make.service(coop, status="published", title="Visita gratuita", late_refund_percent=0)
    make.slot(service, types=(("Gratuito", 0, None),))
    login(client, make.user(email="c@example.org", locale="en").email)
    page = client.get(f"/t/{territory.slug}/services/{service.id}").get_data(as_text=True)
    assert "Free bookings can be cancelled online until the start." in page
    assert "no refund" not in page
