"""Twenty-four buyers race for the last five seats of a slot, each on its own connection.

Runs on PostgreSQL (CI sets DATABASE_URL): that is where row locks decide the race.
SQLite serialises whole-database writes, so there is no race to show there.
The negative control turns the lock off (test-only switch) and shows the same race then
oversells: the test can fail.
"""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from marketplace.models import Order, Ticket
from marketplace.services import booking
from tests.booking_helpers import make_slot
from tests.conftest import DATABASE_URL, make_app
from tenants.scoping import territory_scope

pytestmark = pytest.mark.skipif(
    not (DATABASE_URL or "").startswith("postgres"),
    reason="row-lock races need PostgreSQL (DATABASE_URL); CI runs this",
)
BUYERS = 24


@pytest.fixture
def race_app(database_uri):
    return make_app(database_uri, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": BUYERS + 2, "max_overflow": 0})


def _race(app, territory_id: int, slot_id: int, ticket_type_id: int, monkeypatch) -> dict:
    from marketplace.extensions import db

    counted = booking.seats_taken

    def slow_count(*args, **kwargs):
        # Widen the window between counting and writing, as a loaded server would.
        taken = counted(*args, **kwargs)
        time.sleep(0.02)
        return taken

    monkeypatch.setattr(booking, "seats_taken", slow_count)
    barrier = threading.Barrier(BUYERS)
    outcome = {"confirmed": 0, "full": 0, "errors": []}
    lock = threading.Lock()

    def buyer(n: int):
        with app.app_context(), territory_scope(territory_id):
            barrier.wait()
            try:
                order = booking.hold(slot_id, {ticket_type_id: 1}, email=f"buyer{n}@example.org")
                booking.confirm_free(order)
                db.session.commit()
                with lock:
                    outcome["confirmed"] += 1
            except booking.SlotFull:
                db.session.rollback()
                with lock:
                    outcome["full"] += 1
            except Exception as exc:  # noqa: BLE001 - reported by the assertions
                db.session.rollback()
                with lock:
                    outcome["errors"].append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=buyer, args=(n,)) for n in range(BUYERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with app.app_context(), territory_scope(territory_id):
        outcome["sold"] = db.session.execute(
            select(func.count(Ticket.id)).join(Order, Order.id == Ticket.order_id)
            .where(Ticket.slot_id == slot_id, Order.status == Order.PAID)).scalar_one()
    return outcome


def _slot_with_five_left(race_app, make):
    territory, slot_id, (free,) = make_slot(race_app, make, capacity=10, types=(("Gratuito", 0, None),))
    from marketplace.extensions import db

    with race_app.app_context(), territory_scope(territory.id):
        order = booking.hold(slot_id, {free: 5}, email="early@example.org")
        booking.confirm_free(order)
        db.session.commit()
    return territory, slot_id, free


def test_exactly_the_last_five_seats_are_sold(race_app, make, monkeypatch):
    territory, slot_id, free = _slot_with_five_left(race_app, make)
    outcome = _race(race_app, territory.id, slot_id, free, monkeypatch)
    assert outcome["errors"] == []
    assert outcome["confirmed"] == 5 and outcome["full"] == BUYERS - 5
    assert outcome["sold"] == 10  # capacity, never more


def test_negative_control_without_the_lock_the_race_oversells(race_app, make, monkeypatch):
    territory, slot_id, free = _slot_with_five_left(race_app, make)
    monkeypatch.setattr(booking, "LOCKING", False)
    outcome = _race(race_app, territory.id, slot_id, free, monkeypatch)
    assert outcome["confirmed"] > 5, outcome
    assert outcome["sold"] > 10
