"""Property: whatever sequence of bookings paid by vouchers, welfare credit and the desk,
abandoned checkouts, failed cards, partial cancellations and expiries happens, no balance
goes below zero, every order's money equals the sum of its ledger entries, every voucher
and credit balance equals its own ledger, and every refund goes back where it came from."""
from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from marketplace.models import (
    LedgerEntry, Order, Payment, Programme, Service, Slot, TicketType, Voucher, WelfareCredit,
)
from marketplace.models.base import utcnow
from marketplace.services import DomainError, booking, checkout, funding, welfare
from payments import ledger
from tenants.scoping import territory_scope, unscoped

operation = st.one_of(
    # seats, which vouchers to offer (bit mask), use credit, then: 0 desk pays the rest,
    # 1 the card fails (reservations released), 2 the citizen walks away (hold expires)
    st.tuples(st.just("book"), st.integers(1, 4), st.integers(0, 3), st.booleans(), st.integers(0, 2)),
    st.tuples(st.just("cancel"), st.integers(0, 50), st.integers(0, 100)),
    st.tuples(st.just("expire_voucher"), st.integers(0, 1)),
    st.tuples(st.just("expire_credit"), st.integers(0, 1)),
    st.tuples(st.just("issue"), st.integers(0, 1)),
)


def _world(app, db, make):
    territory = make.territory()
    coop = make.cooperative(territory)
    service = make.service(coop, status="published", accepts_voucher=True, accepts_welfare_credit=True)
    citizen = make.user()
    desk = make.user()
    municipality = make.funder(territory)
    fixed = make.programme(municipality, budget_cents=9_000, value_cents=3_000)
    percent = make.programme(municipality, budget_cents=8_000, value_kind="percent", percent=50, cap_cents=4_000)
    vouchers = [make.voucher(fixed, citizen).id, make.voucher(percent, citizen).id]
    employer = make.funder(territory, kind="employer")
    employee = make.employee(employer, user=citizen)
    credits = [make.welfare_credit(employee, 2_500).id, make.welfare_credit(employee, 1_500).id]
    with app.app_context(), unscoped():
        slots = []
        for days in (5, 9):
            start = (utcnow() + dt.timedelta(days=days)).replace(microsecond=0)
            slot = Slot(territory_id=territory.id, service_id=service.id, starts_at=start,
                        ends_at=start + dt.timedelta(hours=2), capacity=500)
            slot.ticket_types.append(TicketType(territory_id=territory.id, name="Intero", price_cents=1_250,
                                                max_per_order=10))
            db.session.add(slot)
            db.session.flush()
            slots.append((slot.id, slot.ticket_types[0].id))
        db.session.get(Service, service.id).late_refund_percent = 0
        db.session.commit()
    return territory, citizen, desk, vouchers, credits, slots, (fixed.id, percent.id)


def _check_invariants(db, programmes):
    for voucher in db.session.execute(select(Voucher)).scalars():
        net = db.session.execute(select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0))
                                 .where(LedgerEntry.voucher_id == voucher.id)).scalar_one()
        assert 0 <= voucher.balance_cents <= voucher.amount_cents
        assert voucher.balance_cents == voucher.amount_cents - net
    for credit in db.session.execute(select(WelfareCredit)).scalars():
        entries = db.session.execute(select(LedgerEntry).where(LedgerEntry.credit_id == credit.id)).scalars().all()
        moved = sum(e.amount_cents if e.kind in (LedgerEntry.CREDIT_LOAD, LedgerEntry.CREDIT_RELEASE)
                    else -e.amount_cents for e in entries)
        assert 0 <= credit.balance_cents <= credit.amount_cents
        assert credit.balance_cents == moved
        if credit.status == WelfareCredit.RELEASED:
            assert credit.balance_cents == 0
    for order in db.session.execute(select(Order)).scalars():
        confirmed = [p for p in order.payments if p.status in (Payment.CONFIRMED, Payment.REFUNDED)]
        assert ledger.balance(order) == sum(p.amount_cents - p.refunded_cents for p in confirmed)
        if order.status in (Order.PAID, Order.CANCELLED) and order.total_cents and confirmed:
            assert sum(p.amount_cents for p in confirmed) == order.total_cents
        if order.status != Order.PAID:
            # Nothing of an unpaid or closed order stays reserved.
            assert not [p for p in order.payments if p.status == Payment.PENDING] or \
                order.status in (Order.PENDING, Order.AWAITING_PAYMENT)
    for payment in db.session.execute(select(Payment)).scalars():
        refunds = db.session.execute(select(LedgerEntry).where(
            LedgerEntry.payment_id == payment.id, LedgerEntry.kind == LedgerEntry.REFUND)).scalars().all()
        assert all(e.provider == payment.provider and e.voucher_id == payment.voucher_id
                   and e.credit_id == payment.credit_id for e in refunds)  # back where it came from
        assert payment.refunded_cents == -sum(e.amount_cents for e in refunds)
    for programme_id in programmes:
        programme = db.session.get(Programme, programme_id)
        committed = db.session.execute(select(func.coalesce(func.sum(Voucher.amount_cents), 0)).where(
            Voucher.programme_id == programme_id, Voucher.status == Voucher.ACTIVE)).scalar_one()
        assert committed <= programme.budget_cents


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(operation, min_size=1, max_size=14))
def test_split_payments_always_add_up(app, db, make, operations):
    territory, citizen, desk, vouchers, credits, slots, programmes = _world(app, db, make)
    yesterday = funding.today() - dt.timedelta(days=1)
    with territory_scope(territory.id):
        from marketplace.models import User

        user = db.session.get(User, citizen.id)
        staff = db.session.get(User, desk.id)
        for step, op in enumerate(operations):
            if op[0] == "book":
                _, seats, mask, use_credit, ending = op
                slot_id, type_id = slots[step % 2]
                order = booking.hold(slot_id, {type_id: seats}, user=user)
                chosen = [v for bit, v in enumerate(vouchers) if mask & (1 << bit)]
                try:
                    funding.reserve(order, user, chosen, use_credit)
                except DomainError:
                    db.session.rollback()  # e.g. an expired or spent voucher: nothing changed
                    order = booking.hold(slot_id, {type_id: seats}, user=user)
                if order.status != Order.PAID:
                    if ending == 0:
                        checkout.pay_at_desk(order, staff)
                    elif ending == 1:
                        funding.release(order)
                    else:
                        order.hold_expires_at = utcnow() - dt.timedelta(seconds=1)
                        db.session.flush()
                        booking.expire_holds()
            elif op[0] == "cancel":
                paid = db.session.execute(select(Order).where(Order.status == Order.PAID)
                                          .order_by(Order.id)).scalars().all()
                if paid:
                    order = paid[op[1] % len(paid)]
                    slot = order.tickets[0].slot
                    slot.service.late_refund_percent = op[2]
                    late = slot.starts_at - dt.timedelta(hours=1)
                    before = sum(p.amount_cents - p.refunded_cents for p in order.payments
                                 if p.status == Payment.CONFIRMED)
                    refunded = checkout.cancel_paid(order, accept_late=True, now=late)
                    assert refunded == before * op[2] // 100
            elif op[0] == "expire_voucher":
                ledger.lock_voucher(vouchers[op[1]]).valid_until = yesterday
            elif op[0] == "expire_credit":
                # The credit's last day was yesterday: the scheduled job gives the rest back.
                ledger.lock_credit(credits[op[1]]).expires_on = yesterday
                welfare.release_expired_credits()
            elif op[0] == "issue":
                programme = db.session.get(Programme, programmes[op[1]])
                issued = _issue(programme, user)
                if issued is not None:
                    vouchers.append(issued.id)
            db.session.flush()
            _check_invariants(db, programmes)
        db.session.commit()


def _issue(programme, user):
    """A new voucher through the programme's budget check, or None when the budget is spent."""
    from marketplace.services import programmes as programme_service

    try:
        return programme_service.issue_voucher(programme, holder=user, channel=Voucher.BULK)
    except DomainError:
        return None
