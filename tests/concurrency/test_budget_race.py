"""Twelve officers approve twelve different applications at once; the budget pays five
vouchers. Each approval runs on its own connection.

Runs on PostgreSQL (CI sets DATABASE_URL): that is where row locks decide the race.
The negative control turns the programme lock off (test-only switch) and shows the same
race then over-commits the budget: the test can fail.
"""
from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import func, select

from marketplace.models import Application, User, Voucher
from marketplace.models.base import utcnow
from marketplace.services import programmes
from tests.conftest import DATABASE_URL, make_app
from tenants.scoping import territory_scope

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not (DATABASE_URL or "").startswith("postgres"),
                       reason="row-lock races need PostgreSQL (DATABASE_URL); CI runs this"),
]
OFFICERS = 12
AFFORDABLE = 5
VALUE = 10_000


@pytest.fixture
def race_app(database_uri):
    return make_app(database_uri, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": OFFICERS + 2, "max_overflow": 0})


def _world(make):
    territory = make.territory()
    funder = make.funder(territory)
    officers = [make.funder_officer(funder) for _ in range(OFFICERS)]
    programme = make.programme(funder, budget_cents=AFFORDABLE * VALUE, value_cents=VALUE)
    applications = []
    for n in range(OFFICERS):
        citizen = make.user()
        applications.append(make._save(Application(
            territory_id=territory.id, programme_id=programme.id, user_id=citizen.id,
            beneficiary_name=f"Bambino {n}", status=Application.SUBMITTED,
            submitted_at=utcnow() - dt.timedelta(minutes=n))))
    return territory, programme, officers, applications


def _race(app, territory_id, programme_id, officers, applications, monkeypatch) -> dict:
    from marketplace.extensions import db

    counted = programmes.committed_cents

    def slow_count(*args, **kwargs):
        # Widen the window between counting and writing, as a loaded server would.
        committed = counted(*args, **kwargs)
        time.sleep(0.02)
        return committed

    monkeypatch.setattr(programmes, "committed_cents", slow_count)
    barrier = threading.Barrier(OFFICERS)
    outcome = {"approved": 0, "refused": 0, "messages": set(), "errors": []}
    lock = threading.Lock()

    def officer(n: int):
        with app.app_context(), territory_scope(territory_id):
            user = db.session.get(User, officers[n].id)
            item = db.session.get(Application, applications[n].id)
            barrier.wait()
            try:
                programmes.decide(item, user, programmes.APPROVE)
                db.session.commit()
                with lock:
                    outcome["approved"] += 1
            except programmes.BudgetExhausted as exc:
                db.session.rollback()
                with lock:
                    outcome["refused"] += 1
                    outcome["messages"].add(str(exc.message))
            except Exception as exc:  # noqa: BLE001 - reported by the assertions
                db.session.rollback()
                with lock:
                    outcome["errors"].append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=officer, args=(n,)) for n in range(OFFICERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with app.app_context(), territory_scope(territory_id):
        outcome["committed"] = db.session.execute(
            select(func.coalesce(func.sum(Voucher.amount_cents), 0))
            .where(Voucher.programme_id == programme_id, Voucher.status != Voucher.CANCELLED)).scalar_one()
        outcome["approved_rows"] = db.session.execute(
            select(func.count(Application.id)).where(Application.programme_id == programme_id,
                                                     Application.status == Application.APPROVED)).scalar_one()
        outcome["submitted_rows"] = db.session.execute(
            select(func.count(Application.id)).where(Application.programme_id == programme_id,
                                                     Application.status == Application.SUBMITTED)).scalar_one()
    return outcome


def test_concurrent_approvals_never_exceed_the_budget(race_app, make, monkeypatch):
    territory, programme, officers, applications = _world(make)
    outcome = _race(race_app, territory.id, programme.id, officers, applications, monkeypatch)
    assert outcome["errors"] == []
    assert outcome["approved"] == AFFORDABLE and outcome["refused"] == OFFICERS - AFFORDABLE
    (message,) = outcome["messages"]  # the same clear refusal for every late officer
    assert message.startswith("Stanziamento esaurito:") and "0,00" in message  # Italian: the default language
    assert outcome["committed"] == AFFORDABLE * VALUE <= programme.budget_cents
    assert outcome["approved_rows"] == AFFORDABLE and outcome["submitted_rows"] == OFFICERS - AFFORDABLE


def test_negative_control_without_the_lock_the_budget_is_over_committed(race_app, make, monkeypatch):
    territory, programme, officers, applications = _world(make)
    monkeypatch.setattr(programmes, "LOCKING", False)
    outcome = _race(race_app, territory.id, programme.id, officers, applications, monkeypatch)
    assert outcome["approved"] > AFFORDABLE, outcome
    assert outcome["committed"] > programme.budget_cents
