"""Eight browser tabs of one family reserve the same 30 EUR voucher for eight different
bookings at once: never more than 30 EUR is reserved. Each tab runs on its own connection.

Runs on PostgreSQL (CI sets DATABASE_URL). The negative control reads the voucher without
its row lock (test-only switch) and shows the same race then reserves far more than the
voucher holds: the test can fail.
"""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from marketplace.models import Order, Payment, User
from marketplace.services import DomainError, booking, funding
from tenants.scoping import territory_scope
from tests.conftest import DATABASE_URL, make_app

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not (DATABASE_URL or "").startswith("postgres"),
                       reason="row-lock races need PostgreSQL (DATABASE_URL); CI runs this"),
]
TABS = 8
VOUCHER = 3_000
PRICE = 4_000  # each booking costs more than the voucher: it can only be reserved, not spent


@pytest.fixture
def race_app(database_uri):
    return make_app(database_uri, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": TABS + 2, "max_overflow": 0})


def _world(app, make):
    from marketplace.extensions import db

    territory = make.territory()
    coop = make.cooperative(territory)
    service = make.service(coop, status="published", accepts_voucher=True)
    slot = make.slot(service, capacity=50, types=(("Settimana", PRICE, None),))
    family = make.user()
    voucher = make.voucher(make.programme(make.funder(territory)), family, amount_cents=VOUCHER)
    with app.app_context(), territory_scope(territory.id):
        user = db.session.get(User, family.id)
        from marketplace.models import TicketType

        type_id = db.session.execute(select(TicketType.id).where(TicketType.slot_id == slot.id)).scalar_one()
        orders = [booking.hold(slot.id, {type_id: 1}, user=user).id for _ in range(TABS)]
        db.session.commit()
    return territory, family, voucher, orders


def _race(app, territory_id, family_id, voucher_id, orders, monkeypatch) -> dict:
    from marketplace.extensions import db

    counted = funding.available_cents

    def slow_available(*args, **kwargs):
        # Widen the window between counting and writing, as a loaded server would.
        left = counted(*args, **kwargs)
        time.sleep(0.02)
        return left

    monkeypatch.setattr(funding, "available_cents", slow_available)
    barrier = threading.Barrier(TABS)
    outcome = {"reserved": 0, "refused": 0, "errors": []}
    lock = threading.Lock()

    def tab(n: int):
        with app.app_context(), territory_scope(territory_id):
            user = db.session.get(User, family_id)
            order = db.session.get(Order, orders[n])
            barrier.wait()
            try:
                funding.reserve(order, user, [voucher_id], use_credit=False)
                db.session.commit()
                with lock:
                    outcome["reserved"] += 1
            except DomainError:
                db.session.rollback()
                with lock:
                    outcome["refused"] += 1
            except Exception as exc:  # noqa: BLE001 - reported by the assertions
                db.session.rollback()
                with lock:
                    outcome["errors"].append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=tab, args=(n,)) for n in range(TABS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with app.app_context(), territory_scope(territory_id):
        outcome["total_reserved"] = db.session.execute(
            select(func.coalesce(func.sum(Payment.amount_cents), 0))
            .where(Payment.voucher_id == voucher_id, Payment.status == Payment.PENDING)).scalar_one()
    return outcome


def test_one_voucher_is_never_reserved_twice(race_app, make, monkeypatch):
    territory, family, voucher, orders = _world(race_app, make)
    outcome = _race(race_app, territory.id, family.id, voucher.id, orders, monkeypatch)
    assert outcome["errors"] == []
    assert outcome["reserved"] == 1 and outcome["refused"] == TABS - 1
    assert outcome["total_reserved"] == VOUCHER


def test_negative_control_without_the_lock_the_voucher_is_reserved_many_times(race_app, make, monkeypatch):
    territory, family, voucher, orders = _world(race_app, make)
    monkeypatch.setattr(funding, "LOCKING", False)
    outcome = _race(race_app, territory.id, family.id, voucher.id, orders, monkeypatch)
    assert outcome["total_reserved"] > VOUCHER, outcome
