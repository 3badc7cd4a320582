"""Holding, confirming and expiring seats; the order life cycle; the ledger's rules."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from marketplace.models import LedgerEntry, Order, Payment
from marketplace.models.base import utcnow
from marketplace.services import DomainError, booking
from payments import ledger
from tenants.scoping import territory_scope
from tests.booking_helpers import make_slot


def _hold(db, territory, slot_id, quantities, **kw):
    with territory_scope(territory.id):
        order = booking.hold(slot_id, quantities, email="famiglia@example.org", **kw)
        db.session.commit()
        return order.id


def test_hold_then_confirm_a_free_booking(app, db, make):
    territory, slot_id, (free,) = make_slot(app, make, capacity=3, types=(("Gratuito", 0, None),))
    order_id = _hold(db, territory, slot_id, {free: 2}, participants=["Anna", "Luca"])
    with territory_scope(territory.id):
        order = db.session.get(Order, order_id)
        assert order.status == Order.PENDING and order.total_cents == 0
        assert [t.participant_name for t in order.tickets] == ["Anna", "Luca"]
        assert len({t.code for t in order.tickets}) == 2
        booking.confirm_free(order)
        db.session.commit()
        assert order.status == Order.PAID and order.hold_expires_at is None
        assert booking.seats_left(order.tickets[0].slot) == 1


def test_the_last_seats_go_once_and_the_rest_are_told_it_is_full(app, db, make):
    territory, slot_id, (full_price,) = make_slot(app, make, capacity=3)
    _hold(db, territory, slot_id, {full_price: 2})
    with pytest.raises(booking.SlotFull) as refused:
        _hold(db, territory, slot_id, {full_price: 2})
    assert "1" in str(refused.value.message)
    db.session.rollback()
    _hold(db, territory, slot_id, {full_price: 1})
    with pytest.raises(booking.SlotFull):
        _hold(db, territory, slot_id, {full_price: 1})


def test_ticket_type_quota_within_the_slot(app, db, make):
    territory, slot_id, (adult, reduced) = make_slot(
        app, make, capacity=10, types=(("Intero", 1500, None), ("Ridotto", 800, 2)))
    _hold(db, territory, slot_id, {reduced: 2, adult: 1})
    with pytest.raises(booking.SlotFull):
        _hold(db, territory, slot_id, {reduced: 1})
    db.session.rollback()
    order_id = _hold(db, territory, slot_id, {adult: 3})
    with territory_scope(territory.id):
        assert db.session.get(Order, order_id).total_cents == 4500


def test_expired_holds_return_to_sale_without_any_job(app, db, make):
    territory, slot_id, (adult,) = make_slot(app, make, capacity=2)
    order_id = _hold(db, territory, slot_id, {adult: 2})
    with pytest.raises(booking.SlotFull):
        _hold(db, territory, slot_id, {adult: 1})
    db.session.rollback()
    with territory_scope(territory.id):
        order = db.session.get(Order, order_id)
        order.hold_expires_at = utcnow() - dt.timedelta(seconds=1)
        db.session.commit()
    _hold(db, territory, slot_id, {adult: 2})  # no clean-up has run: the seats are free again
    with territory_scope(territory.id):
        assert booking.expire_holds() == 1
        db.session.commit()
        assert db.session.get(Order, order_id).status == Order.EXPIRED
        with pytest.raises(DomainError):
            booking.transition(db.session.get(Order, order_id), Order.PAID)


def test_bad_quantities_are_refused(app, db, make):
    territory, slot_id, (adult,) = make_slot(app, make, capacity=5)
    other_territory, other_slot, (foreign,) = make_slot(app, make, capacity=5)
    for quantities in ({adult: 0}, {adult: -1}, {adult: 11}, {foreign: 1}):
        with pytest.raises(DomainError):
            _hold(db, territory, slot_id, quantities)
        db.session.rollback()
    with territory_scope(territory.id):  # another territory's slot does not exist here
        with pytest.raises(DomainError):
            booking.hold(other_slot, {foreign: 1}, email="x@example.org")
    db.session.rollback()


def test_past_slots_cannot_be_booked(app, db, make):
    territory, slot_id, (adult,) = make_slot(app, make, starts_in_days=-1)
    with pytest.raises(DomainError):
        _hold(db, territory, slot_id, {adult: 1})


def _paid_order(app, db, make, price=2000, seats=2):
    territory, slot_id, (adult,) = make_slot(app, make, capacity=10, types=(("Intero", price, None),))
    order_id = _hold(db, territory, slot_id, {adult: seats})
    with territory_scope(territory.id):
        order = db.session.get(Order, order_id)
        payment = Payment(territory_id=territory.id, order_id=order.id, provider="test",
                          amount_cents=order.total_cents, provider_ref="pi_test")
        db.session.add(payment)
        db.session.flush()
        ledger.record(payment, LedgerEntry.CHARGE, order.total_cents, f"charge:{payment.id}")
        booking.transition(order, Order.PAID)
        db.session.commit()
        return territory, order.id, payment.id


def test_charging_twice_is_a_no_op(app, db, make):
    territory, order_id, payment_id = _paid_order(app, db, make)
    with territory_scope(territory.id):
        payment = ledger.lock_payment(payment_id)
        ledger.record(payment, LedgerEntry.CHARGE, 4000, f"charge:{payment_id}")  # webhook again
        db.session.commit()
        order = db.session.get(Order, order_id)
        assert ledger.balance(order) == 4000
        assert len(db.session.execute(select(LedgerEntry)).scalars().all()) == 1


def test_refunds_never_exceed_what_was_paid(app, db, make):
    territory, order_id, payment_id = _paid_order(app, db, make)
    with territory_scope(territory.id):
        payment = ledger.lock_payment(payment_id)
        ledger.record(payment, LedgerEntry.REFUND, 1500, "refund:1")
        ledger.record(payment, LedgerEntry.REFUND, 1500, "refund:1")  # the same refund, reported twice
        with pytest.raises(ledger.LedgerError):
            ledger.record(payment, LedgerEntry.REFUND, 3000, "refund:2")
        ledger.record(payment, LedgerEntry.REFUND, 2500, "refund:3")
        db.session.commit()
        assert payment.status == Payment.REFUNDED and payment.refunded_cents == 4000
        assert ledger.balance(db.session.get(Order, order_id)) == 0
        with pytest.raises(ledger.LedgerError):
            ledger.record(payment, LedgerEntry.REFUND, 1, "refund:4")


def test_amounts_are_whole_positive_cents(app, db, make):
    territory, order_id, payment_id = _paid_order(app, db, make)
    with territory_scope(territory.id):
        payment = ledger.lock_payment(payment_id)
        for amount in (0, -5, 12.5):
            with pytest.raises(ledger.LedgerError):
                ledger.record(payment, LedgerEntry.REFUND, amount, f"refund:{amount}")
