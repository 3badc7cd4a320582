"""The webhook and the return URL confirm the same card payment at the same moment.

Eight callers — half by our payment id (the return URL), half by the PaymentIntent id (the
webhook) — each on its own connection, confirm a payment whose intent succeeded at
localstripe. Exactly one CHARGE may be written, the order paid once, and every caller gets
a clean answer. Runs on PostgreSQL (DATABASE_URL), where row locks decide the race.

Two defences stand in the way of a double charge: the payment's row lock
(``ledger.lock_payment``, FOR UPDATE) serialises the callers, and the ledger's unique
idempotency key refuses a second CHARGE row. The negative control swaps the lock for a
plain read: the unique key still keeps the ledger at one CHARGE, but the losers now crash
on it instead of answering cleanly, so the main test fails without the lock.
"""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from marketplace.models import LedgerEntry, Order, Payment
from marketplace.services import booking, checkout
from payments import ledger
from payments.providers import get_provider
from tenants.scoping import territory_scope
from tests.booking_helpers import make_slot
from tests.conftest import DATABASE_URL, make_app
from tests.payments.conftest import localstripe, stripe_settings  # noqa: F401 - localstripe is a fixture

pytestmark = pytest.mark.skipif(
    not (DATABASE_URL or "").startswith("postgres"),
    reason="row-lock races need PostgreSQL (DATABASE_URL); CI runs this",
)
CALLERS = 8


@pytest.fixture
def race_app(database_uri, localstripe):  # noqa: F811 - the fixture imported above
    return make_app(database_uri, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": CALLERS + 2, "max_overflow": 0},
                    **stripe_settings(localstripe))


def _succeeded_payment(race_app, make):
    """An order of 2 x 15 EUR whose PaymentIntent succeeded at localstripe, not yet
    confirmed on our side: (territory id, payment id, intent id, order id)."""
    from marketplace.extensions import db

    territory, slot_id, (adult,) = make_slot(race_app, make, capacity=5, types=(("Intero", 1500, None),))
    with race_app.app_context(), territory_scope(territory.id):
        order = booking.hold(slot_id, {adult: 2}, email="famiglia@example.org")
        payment, _ = checkout.start_card_payment(order)
        db.session.commit()
        ids = (territory.id, payment.id, payment.provider_ref, order.id)
        # What the browser and our pay-by-card endpoint do: a card on the intent, confirmed.
        assert get_provider("stripe").attach_and_confirm(payment.provider_ref, "pm_card_visa") == "succeeded"
        return ids


def _race(app, territory_id, payment_id, intent_id, monkeypatch) -> dict:
    from marketplace.extensions import db

    locked = ledger.lock_payment
    # Every caller has asked Stripe (localstripe answers one at a time) before any reads the
    # payment: then they all reach the lock together.
    at_the_lock = threading.Barrier(CALLERS)

    def slow_lock(pid):
        at_the_lock.wait(timeout=30)
        payment = locked(pid)
        # Widen the window between reading the payment and writing the charge, as a
        # loaded server would: whoever holds the lock keeps it a little longer.
        time.sleep(0.05)
        return payment

    monkeypatch.setattr(ledger, "lock_payment", slow_lock)
    barrier = threading.Barrier(CALLERS)
    outcome = {"results": [], "errors": []}
    guard = threading.Lock()

    def caller(n: int):
        with app.app_context(), territory_scope(territory_id):
            barrier.wait()
            try:
                if n % 2:  # the webhook knows the intent
                    result = checkout.confirm_from_provider(intent_id=intent_id)
                else:  # the return URL knows our payment
                    result = checkout.confirm_from_provider(payment_id=payment_id)
                db.session.commit()
                with guard:
                    outcome["results"].append((result.status, str(result.message)))
            except Exception as exc:  # noqa: BLE001 - reported by the assertions
                db.session.rollback()
                with guard:
                    outcome["errors"].append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a caller hung"
    monkeypatch.setattr(ledger, "lock_payment", locked)
    return outcome


def _after(app, territory_id, payment_id, order_id):
    from marketplace.extensions import db

    with app.app_context(), territory_scope(territory_id):
        charges = db.session.execute(select(func.count(LedgerEntry.id)).where(
            LedgerEntry.payment_id == payment_id, LedgerEntry.kind == LedgerEntry.CHARGE)).scalar_one()
        order = db.session.get(Order, order_id)
        payment = db.session.get(Payment, payment_id)
        return charges, order.status, payment.status, ledger.balance(order)


def test_webhook_and_return_url_at_once_charge_once(race_app, make, monkeypatch):
    territory_id, payment_id, intent_id, order_id = _succeeded_payment(race_app, make)
    outcome = _race(race_app, territory_id, payment_id, intent_id, monkeypatch)
    assert outcome["errors"] == []
    # Every caller is told the same, true thing: the booking is paid.
    assert [status for status, _ in outcome["results"]] == ["paid"] * CALLERS
    assert _after(race_app, territory_id, payment_id, order_id) == (1, Order.PAID, Payment.CONFIRMED, 3000)
    # And one more, late webhook changes nothing.
    with race_app.app_context(), territory_scope(territory_id):
        assert checkout.confirm_from_provider(intent_id=intent_id).status == "paid"
        from marketplace.extensions import db

        db.session.commit()
    assert _after(race_app, territory_id, payment_id, order_id) == (1, Order.PAID, Payment.CONFIRMED, 3000)


def test_negative_control_without_the_row_lock_callers_crash(race_app, make, monkeypatch):
    """Without FOR UPDATE every caller sees the payment pending and tries to charge: the
    unique idempotency key (second line of defence) keeps one CHARGE, but the others fail
    with an integrity error — which the test above would report."""
    from marketplace.extensions import db

    def read_without_lock(pid):
        return db.session.execute(select(Payment).where(Payment.id == pid)
                                  .execution_options(populate_existing=True)).scalar_one_or_none()

    monkeypatch.setattr(ledger, "lock_payment", read_without_lock)
    territory_id, payment_id, intent_id, order_id = _succeeded_payment(race_app, make)
    outcome = _race(race_app, territory_id, payment_id, intent_id, monkeypatch)
    assert outcome["errors"], outcome  # the main test's first assertion would fail
    assert all("IntegrityError" in error or "UniqueViolation" in error for error in outcome["errors"]), outcome
    charges, order_status, payment_status, balance = _after(race_app, territory_id, payment_id, order_id)
    assert (charges, balance) == (1, 3000)  # the unique key still stopped a second charge
    assert (order_status, payment_status) == (Order.PAID, Payment.CONFIRMED)
