"""Property: whatever sequence of bookings, charges, partial refunds and replays happens,
every order's money equals the sum of its ledger entries and nothing is refunded twice."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from marketplace.models import LedgerEntry, Order, Payment
from marketplace.services import booking
from payments import ledger
from tenants.scoping import territory_scope
from tests.booking_helpers import make_slot

operation = st.one_of(
    st.tuples(st.just("book"), st.integers(1, 3)),
    st.tuples(st.just("refund"), st.integers(0, 50), st.integers(1, 5000)),
    st.tuples(st.just("replay"), st.integers(0, 50)),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    # The citizen cancels late under the service's policy: a percentage goes back.
    st.tuples(st.just("cancel_late"), st.integers(0, 50), st.integers(0, 100)),
)


class _TestProvider:
    def refund(self, payment, amount_cents, idempotency_key):
        return f"test-refund:{idempotency_key}"



@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(operation, min_size=1, max_size=20))
def test_ledger_always_adds_up(app, db, make, operations, monkeypatch):
    import datetime as dt

    from marketplace.models import Slot
    from marketplace.services import checkout, policy

    monkeypatch.setattr(checkout, "get_provider", lambda name: _TestProvider())
    territory, slot_id, (adult,) = make_slot(app, make, capacity=200, types=(("Intero", 1250, None),))
    keys_written: list[str] = []
    kept_at_cancel: dict[int, int] = {}
    with territory_scope(territory.id):
        for op in operations:
            payments = db.session.execute(
                select(Payment).join(Order).where(Order.tickets.any(slot_id=slot_id))
                .order_by(Payment.id)).scalars().all()
            if op[0] == "book":
                order = booking.hold(slot_id, {adult: op[1]}, email="x@example.org")
                payment = Payment(territory_id=territory.id, order_id=order.id, provider="test",
                                  amount_cents=order.total_cents)
                db.session.add(payment)
                db.session.flush()
                key = f"charge:{payment.id}"
                ledger.record(payment, LedgerEntry.CHARGE, order.total_cents, key)
                booking.transition(order, Order.PAID)
                keys_written.append(key)
            elif op[0] == "refund" and payments:
                payment = ledger.lock_payment(payments[op[1] % len(payments)].id)
                key = f"refund:{payment.id}:{len(keys_written)}"
                before = payment.refunded_cents
                try:
                    ledger.record(payment, LedgerEntry.REFUND, op[2], key)
                    keys_written.append(key)
                except ledger.LedgerError:
                    assert payment.refunded_cents == before  # refused: nothing moved
                    assert before + op[2] > payment.amount_cents or payment.status != Payment.CONFIRMED
            elif op[0] == "replay" and keys_written:
                key = keys_written[op[1] % len(keys_written)]
                entry = db.session.execute(select(LedgerEntry).where(LedgerEntry.idempotency_key == key)).scalar_one()
                payment = ledger.lock_payment(entry.payment_id)
                refunded = payment.refunded_cents
                again = ledger.record(payment, entry.kind, abs(entry.amount_cents), key)
                assert again.id == entry.id and payment.refunded_cents == refunded
            elif op[0] == "cancel" and payments:
                payment = ledger.lock_payment(payments[op[1] % len(payments)].id)
                order = db.session.get(Order, payment.order_id)
                remaining = payment.amount_cents - payment.refunded_cents
                if order.status == Order.PAID and remaining:
                    key = f"refund:cancel:{payment.id}"
                    ledger.record(payment, LedgerEntry.REFUND, remaining, key)
                    keys_written.append(key)
                if order.status == Order.PAID:
                    booking.transition(order, Order.CANCELLED)
                    kept_at_cancel[order.id] = 0
            elif op[0] == "cancel_late" and payments:
                order = db.session.get(Order, payments[op[1] % len(payments)].order_id)
                if order.status == Order.PAID:
                    slot = db.session.get(Slot, slot_id)
                    slot.service.late_refund_percent = op[2]
                    late = slot.starts_at - dt.timedelta(hours=1)  # after the free period, before the start
                    paid = policy.paid_cents(order)
                    refunded = checkout.cancel_paid(order, accept_late=True, now=late)
                    assert refunded == paid * op[2] // 100
                    kept_at_cancel[order.id] = paid - refunded
            db.session.flush()

            # The invariants, after every step.
            for payment in db.session.execute(select(Payment)).scalars():
                order = db.session.get(Order, payment.order_id)
                assert 0 <= payment.refunded_cents <= payment.amount_cents
                assert ledger.balance(order) == payment.amount_cents - payment.refunded_cents
                if order.status == Order.CANCELLED:
                    # Never more back than was paid; never less than the policy promised.
                    assert 0 <= ledger.balance(order) <= kept_at_cancel[order.id]
            refunds = db.session.execute(
                select(LedgerEntry.idempotency_key, func.count()).group_by(LedgerEntry.idempotency_key)
            ).all()
            assert all(n == 1 for _, n in refunds)
        db.session.commit()
