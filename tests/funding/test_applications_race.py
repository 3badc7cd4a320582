"""Races around an application, on PostgreSQL where row locks decide them.

- Several clicks on "Apply" at the same moment open one draft, not several: the applicant's
  row is locked before looking for an open application (negative control: without that
  lock the same race opens more than one).
- A citizen's submit that reaches the row while an officer is deciding waits for the
  decision and is then refused: the locked re-read sees it (negative control: a plain,
  unlocked read lets the submit overwrite the decision).
"""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from marketplace.models import Application, Programme, User
from marketplace.services import applications
from tenants.scoping import territory_scope
from tests.conftest import DATABASE_URL, make_app

pytestmark = pytest.mark.skipif(
    not (DATABASE_URL or "").startswith("postgres"),
    reason="row-lock races need PostgreSQL (DATABASE_URL); CI runs this",
)
CALLERS = 6


@pytest.fixture
def race_app(database_uri):
    return make_app(database_uri, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": CALLERS + 2, "max_overflow": 0})


@pytest.fixture
def world(make):
    territory = make.territory()
    programme = make.programme(make.funder(territory), title="Buoni")
    citizen = make.user(email="fast.clicker@example.org", full_name="Rita Neri")
    return territory, programme, citizen


def _apply_at_once(race_app, world, monkeypatch) -> tuple[int, list]:
    from marketplace.extensions import db

    territory, programme, citizen = world
    original = applications.closed_reason

    def slow_closed_reason(*args, **kwargs):
        # Widen the window between "no open application" and inserting the draft.
        time.sleep(0.1)
        return original(*args, **kwargs)

    monkeypatch.setattr(applications, "closed_reason", slow_closed_reason)
    barrier = threading.Barrier(CALLERS)
    errors = []

    def click():
        try:
            with race_app.app_context(), territory_scope(territory.id):
                user = db.session.get(User, citizen.id)
                item = db.session.get(Programme, programme.id)
                barrier.wait(timeout=30)
                applications.apply(item, user)
                db.session.commit()
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=click) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with race_app.app_context(), territory_scope(territory.id):
        count = db.session.execute(select(func.count(Application.id))).scalar_one()
        db.session.remove()
    return count, errors


def test_simultaneous_clicks_open_one_draft(race_app, world, monkeypatch):
    count, errors = _apply_at_once(race_app, world, monkeypatch)
    assert errors == []
    assert count == 1


def test_negative_control_without_the_applicant_lock_clicks_open_several_drafts(race_app, world, monkeypatch):
    monkeypatch.setattr(applications, "lock_applicant", lambda user_id: None)
    count, errors = _apply_at_once(race_app, world, monkeypatch)
    assert errors == []
    assert count > 1


def _submit_during_a_decision(race_app, world) -> tuple[str, object]:
    """The officer locks the row, rejects, and commits a moment later; meanwhile the
    citizen, whose page loaded the draft before, submits. Returns (final status, what the
    submit raised)."""
    from marketplace.extensions import db

    territory, programme, citizen = world
    with race_app.app_context(), territory_scope(territory.id):
        user = db.session.get(User, citizen.id)
        application, _ = applications.apply(db.session.get(Programme, programme.id), user)
        db.session.commit()
        application_id = application.id
        db.session.remove()

    officer_has_lock, applicant_loaded = threading.Event(), threading.Event()
    problems = []

    def officer():
        try:
            with race_app.app_context(), territory_scope(territory.id):
                applicant_loaded.wait(timeout=30)
                locked = db.session.execute(
                    select(Application).where(Application.id == application_id).with_for_update()).scalar_one()
                locked.status = Application.REJECTED
                locked.officer_message = "Not resident."
                db.session.flush()
                officer_has_lock.set()
                time.sleep(0.5)
                db.session.commit()
                db.session.remove()
        except Exception as exc:  # noqa: BLE001
            problems.append(exc)
            officer_has_lock.set()

    thread = threading.Thread(target=officer)
    thread.start()
    raised = None
    with race_app.app_context(), territory_scope(territory.id):
        user = db.session.get(User, citizen.id)
        stale = db.session.get(Application, application_id)  # the page's copy: a draft
        assert stale.status == Application.DRAFT
        applicant_loaded.set()
        officer_has_lock.wait(timeout=30)
        try:
            applications.submit(stale, user, beneficiary_name="Rita Neri", beneficiary_birth_date=None,
                                 municipality_id=None, isee_cents=None, declarations_accepted=[], note="")
            db.session.commit()
        except applications.DomainError as exc:
            db.session.rollback()
            raised = exc
        db.session.remove()
    thread.join(timeout=30)
    assert problems == []
    with race_app.app_context(), territory_scope(territory.id):
        status = db.session.get(Application, application_id).status
        db.session.remove()
    return status, raised


def test_a_submit_during_an_officers_decision_waits_and_is_refused(race_app, world):
    status, raised = _submit_during_a_decision(race_app, world)
    assert isinstance(raised, applications.AlreadyDecided)
    assert status == Application.REJECTED


def test_negative_control_an_unlocked_read_lets_the_submit_undo_the_decision(race_app, world, monkeypatch):
    from marketplace.extensions import db

    monkeypatch.setattr(applications, "lock", lambda application_id: db.session.execute(
        select(Application).where(Application.id == application_id)).scalar_one_or_none())
    status, raised = _submit_during_a_decision(race_app, world)
    assert raised is None
    assert status == Application.SUBMITTED  # the officer's rejection was overwritten
