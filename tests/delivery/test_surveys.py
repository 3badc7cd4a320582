"""Satisfaction surveys: citizens are invited once, after commit, by the hourly job (after a
delivery to a beneficiary with an e-mail, or after a paid booked date ended); the link works
once and leaves an anonymous answer; the cooperative sees averages and NPS, never from fewer
than 5 answers."""
from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
from sqlalchemy import func, select

from marketplace.models import (
    DeliveryRecord, Order, OutboxMessage, SurveyInvitation, SurveyResponse, Ticket, TicketType,
)
from marketplace.models.base import utcnow
from marketplace.services import surveys
from tenants.scoping import territory_scope
from tests.conftest import DATABASE_URL, login, post

LINK_RE = re.compile(r"http://localhost/t/([a-z0-9-]+)/survey/([A-Za-z0-9_-]+)")


@pytest.fixture
def world(app, make):
    territory = make.territory()
    coop = make.cooperative(territory, name="Coop Sole")
    service = make.service(coop, status="published", title="Assistenza domiciliare")
    staff = make.staff(coop)
    return {"territory": territory, "coop": coop, "service": service, "staff": staff}


def _record(make, coop, service, beneficiary, days_ago: int = 1) -> DeliveryRecord:
    return make._save(DeliveryRecord(
        territory_id=coop.territory_id, cooperative_id=coop.id, service_id=service.id, beneficiary_id=beneficiary.id,
        external_id=f"R-{beneficiary.id}-{days_ago}", delivered_on=dt.date.today() - dt.timedelta(days=days_ago),
        duration_minutes=60))


def _order(make, db, territory, slot, email: str, status: str = Order.PAID,
           ticket_status: str = Ticket.VALID) -> int:
    with territory_scope(territory.id):
        ticket_type = db.session.execute(select(TicketType).where(TicketType.slot_id == slot.id)).scalar_one()
        order = Order(territory_id=territory.id, email=email, status=status, total_cents=0,
                      paid_at=utcnow() if status == Order.PAID else None)
        db.session.add(order)
        db.session.flush()
        db.session.add(Ticket(territory_id=territory.id, order_id=order.id, slot_id=slot.id,
                              ticket_type_id=ticket_type.id, price_cents=0, status=ticket_status))
        db.session.commit()
        return order.id


def _run_invitations(app, territory) -> dict:
    from marketplace.jobs import invite_to_surveys_job

    with app.app_context():
        return invite_to_surveys_job(territory.id)


def _mail_to(db, email: str) -> list[OutboxMessage]:
    db.session.expire_all()
    return db.session.execute(select(OutboxMessage).where(OutboxMessage.to_email == email)
                              .order_by(OutboxMessage.id)).scalars().all()


def _invite_one(app, make, db, world, email: str = "anna@example.org") -> str:
    """Deliver once to a beneficiary linked to ``email``, run the job, return the link's path."""
    user = make.user(email=email)
    beneficiary = make.beneficiary(world["coop"], user_id=user.id)
    _record(make, world["coop"], world["service"], beneficiary)
    _run_invitations(app, world["territory"])
    (message,) = _mail_to(db, email)
    slug, token = LINK_RE.search(message.body_text).groups()
    return f"/t/{slug}/survey/{token}"


def _answers(**change) -> dict:
    data = {"quality": "5", "punctuality": "4", "kindness": "5", "usefulness": "4", "recommend": "9",
            "comment": "Operatrice molto gentile"}
    data.update(change)
    return {k: v for k, v in data.items() if v is not None}


def _english(client):
    client.get("/account/language?lang=en&next=/")
    return client


# --- invitations ------------------------------------------------------------------------

def test_deliveries_invite_only_beneficiaries_linked_to_a_user_with_an_email(app, db, make, world, run_jobs):
    coop, service, territory = world["coop"], world["service"], world["territory"]
    anna = make.user(email="anna@example.org")
    phone_only = make.user(email="u123@no-email.invalid")
    linked = make.beneficiary(coop, user_id=anna.id)
    no_email = make.beneficiary(coop, user_id=phone_only.id)
    no_user = make.beneficiary(coop)
    recent = _record(make, coop, service, linked, days_ago=2)
    _record(make, coop, service, linked, days_ago=10)          # before the last 7 days
    _record(make, coop, service, no_email)
    _record(make, coop, service, no_user)
    # Checked in from a booked ticket: the booking's own invitation covers it, not this one.
    slot = make.slot(service, starts_in=dt.timedelta(days=-30))
    order_id = _order(make, db, territory, slot, "anna@example.org")
    with territory_scope(territory.id):
        ticket_id = db.session.execute(select(Ticket.id).where(Ticket.order_id == order_id)).scalar_one()
    checked_in = _record(make, coop, service, linked, days_ago=3)
    with territory_scope(territory.id):
        db.session.get(DeliveryRecord, checked_in.id).ticket_id = ticket_id
        db.session.commit()

    assert _run_invitations(app, territory) == {"deliveries": 1, "bookings": 0}
    run_jobs()
    (message,) = _mail_to(db, "anna@example.org")
    assert message.sent_at is not None  # delivered by the job after commit
    slug, token = LINK_RE.search(message.body_text).groups()
    assert slug == territory.slug
    assert "Assistenza domiciliare" in message.subject + message.body_text
    with territory_scope(territory.id):
        (invitation,) = db.session.execute(select(SurveyInvitation)).scalars().all()
        assert invitation.record_id == recent.id and invitation.order_id is None
        assert invitation.token_hash == surveys.hash_token(token) and token not in invitation.token_hash
        assert dt.timedelta(days=29) < invitation.expires_at - utcnow() <= dt.timedelta(days=30)
    assert db.session.execute(select(func.count(OutboxMessage.id))).scalar_one() == 1

    # Twice: nothing sent twice.
    assert _run_invitations(app, territory) == {"deliveries": 0, "bookings": 0}
    assert len(_mail_to(db, "anna@example.org")) == 1


def test_a_record_invited_meanwhile_is_skipped_without_spoiling_the_batch(app, db, make, world):
    """Two runs at once: the schema keeps one invitation per record; the loser's savepoint
    rolls back alone and its e-mail is never sent."""
    from marketplace.models import Territory

    user = make.user(email="anna@example.org")
    record = _record(make, world["coop"], world["service"], make.beneficiary(world["coop"], user_id=user.id))
    with territory_scope(world["territory"].id):
        territory = db.session.get(Territory, world["territory"].id)
        assert surveys._invite(territory, world["service"].id, user.email, None, record_id=record.id)
        assert not surveys._invite(territory, world["service"].id, user.email, None, record_id=record.id)
        db.session.commit()
        assert db.session.execute(select(func.count(SurveyInvitation.id))).scalar_one() == 1
    assert len(_mail_to(db, "anna@example.org")) == 1


def test_bookings_invite_paid_orders_whose_date_ended(app, db, make, world):
    territory, service = world["territory"], world["service"]
    ended = make.slot(service, starts_in=dt.timedelta(days=-1))
    future = make.slot(service, starts_in=dt.timedelta(days=3))
    long_ago = make.slot(service, starts_in=dt.timedelta(days=-10))
    cancelled_slot = make.slot(service, starts_in=dt.timedelta(days=-2), status="cancelled")
    paid = _order(make, db, territory, ended, "paid@example.org")
    _order(make, db, territory, ended, "cancelled@example.org", status=Order.CANCELLED)
    _order(make, db, territory, ended, "pending@example.org", status=Order.PENDING)
    _order(make, db, territory, ended, "ticket-cancelled@example.org", ticket_status=Ticket.CANCELLED)
    _order(make, db, territory, future, "future@example.org")
    _order(make, db, territory, long_ago, "old@example.org")
    _order(make, db, territory, cancelled_slot, "slot-cancelled@example.org")

    assert _run_invitations(app, territory) == {"deliveries": 0, "bookings": 1}
    db.session.expire_all()
    assert db.session.execute(select(OutboxMessage.to_email)).scalars().all() == ["paid@example.org"]
    with territory_scope(territory.id):
        (invitation,) = db.session.execute(select(SurveyInvitation)).scalars().all()
        assert (invitation.order_id, invitation.service_id) == (paid, service.id)
    assert _run_invitations(app, territory) == {"deliveries": 0, "bookings": 0}
    assert len(_mail_to(db, "paid@example.org")) == 1


def test_the_hourly_cron_job_invites_in_every_territory(app, db, make, world):
    from marketplace.cli import SURVEY_INVITATIONS_CRON, cron_scheduler
    from marketplace.jobs import invite_to_surveys_everywhere

    other = make.territory()
    other_service = make.service(make.cooperative(other), status="published")
    _order(make, db, other, make.slot(other_service, starts_in=dt.timedelta(days=-1)), "far@example.org")
    _order(make, db, world["territory"], make.slot(world["service"], starts_in=dt.timedelta(days=-1)),
           "near@example.org")
    with app.app_context():
        (cron_job,) = [j for j in cron_scheduler(connection=None).get_jobs() if j.func is invite_to_surveys_everywhere]
        assert cron_job.cron == SURVEY_INVITATIONS_CRON
        assert cron_job.func() == {world["territory"].slug: {"deliveries": 0, "bookings": 1},
                                   other.slug: {"deliveries": 0, "bookings": 1}}
        assert cron_job.func() == {world["territory"].slug: {"deliveries": 0, "bookings": 0},
                                   other.slug: {"deliveries": 0, "bookings": 0}}
    assert len(_mail_to(db, "far@example.org")) == len(_mail_to(db, "near@example.org")) == 1


# --- answering --------------------------------------------------------------------------

def test_a_citizen_answers_once_and_the_answer_is_anonymous(app, db, make, world, client):
    url = _invite_one(app, make, db, world)
    page = client.get(url)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'lang="it"' in html
    assert "Assistenza domiciliare" in html and "Coop Sole" in html
    assert page.headers["Cache-Control"] == "no-store"
    for name in surveys.DIMENSIONS:  # real radio buttons, in a fieldset with a legend
        assert re.search(rf'<fieldset[^>]*id="{name}"[^>]*>\s*<legend', html)
        assert len(re.findall(rf'type="radio"[^>]*name="{name}"|name="{name}"[^>]*type="radio"', html)) == 5
    assert len(re.findall(r'name="recommend"', html)) == 11

    answered = post(client, url, _answers(), token_from=url)
    assert answered.status_code == 200
    with territory_scope(world["territory"].id):
        (response,) = db.session.execute(select(SurveyResponse)).scalars().all()
        assert (response.quality, response.punctuality, response.kindness, response.usefulness,
                response.recommend) == (5, 4, 5, 4, 9)
        assert response.comment == "Operatrice molto gentile"
        assert (response.service_id, response.cooperative_id) == (world["service"].id, world["coop"].id)
        # Nothing in the answer points to a person or to the invitation.
        assert set(SurveyResponse.__table__.columns.keys()) == {
            "id", "territory_id", "service_id", "cooperative_id", "answered_on", "quality", "punctuality",
            "kindness", "usefulness", "recommend", "comment"}
        invitation = db.session.execute(select(SurveyInvitation)).scalar_one()
        assert invitation.answered_at is not None

    # The link is single-use: a reload says so, a second submit stores nothing.
    _english(client)
    again = client.get(url)
    assert again.status_code == 200 and "already been answered" in again.get_data(as_text=True)
    resubmit = post(client, url, _answers(quality="1"))
    assert "already been answered" in resubmit.get_data(as_text=True)
    with territory_scope(world["territory"].id):
        assert db.session.execute(select(func.count(SurveyResponse.id))).scalar_one() == 1


def test_a_missing_rating_is_refused_with_a_message(app, db, make, world, client):
    url = _invite_one(app, make, db, world)
    _english(client)
    refused = post(client, url, _answers(kindness=None), token_from=url)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "Choose from 1 to 5 stars." in html and 'href="#kindness"' in html
    out_of_range = post(client, url, _answers(recommend="11", comment="x" * 1001), token_from=url)
    html = out_of_range.get_data(as_text=True)
    assert out_of_range.status_code == 422
    assert "Write at most 1000 characters." in html
    assert 'id="recommend-error"' in html
    with territory_scope(world["territory"].id):
        assert db.session.execute(select(func.count(SurveyResponse.id))).scalar_one() == 0
        assert db.session.execute(select(SurveyInvitation.answered_at)).scalar_one() is None
    assert post(client, url, _answers(), token_from=url).status_code == 200


def test_expired_and_unknown_links(app, db, make, world, client):
    url = _invite_one(app, make, db, world)
    with territory_scope(world["territory"].id):
        invitation = db.session.execute(select(SurveyInvitation)).scalar_one()
        invitation.expires_at = utcnow() - dt.timedelta(minutes=1)
        db.session.commit()
    _english(client)
    expired = client.get(url)
    assert expired.status_code == 410 and "This link has expired" in expired.get_data(as_text=True)
    assert post(client, url, _answers()).status_code == 410
    with territory_scope(world["territory"].id):
        assert db.session.execute(select(func.count(SurveyResponse.id))).scalar_one() == 0

    slug = world["territory"].slug
    assert client.get(f"/t/{slug}/survey/not-a-token").status_code == 404
    assert post(client, f"/t/{slug}/survey/not-a-token", _answers()).status_code == 404
    # Another territory's link is unknown here.
    other = make.territory()
    token = url.rsplit("/", 1)[1]
    assert client.get(f"/t/{other.slug}/survey/{token}").status_code == 404


def test_answers_are_rate_limited(app, database_uri, db, make, world):
    from tests.conftest import make_app

    url = _invite_one(app, make, db, world)
    limited = make_app(database_uri, SURVEY_RATE_LIMIT="3 per minute")
    client = limited.test_client()
    codes = [post(client, url, _answers(quality=None), token_from=url).status_code for _ in range(4)]
    assert codes == [422, 422, 422, 429]
    assert client.get(url).status_code == 200  # reading the survey is not limited


def _race(app, territory_id: int, token: str, monkeypatch, threads: int = 4) -> list[str]:
    """``threads`` submits of one link at once, each on its own connection; a slow clock
    between reading the invitation and claiming it widens the window."""
    import time

    from marketplace.extensions import db

    real_now = surveys.utcnow

    def slow_now():
        time.sleep(0.05)
        return real_now()

    monkeypatch.setattr(surveys, "utcnow", slow_now)
    barrier = threading.Barrier(threads)
    outcomes = []

    def submit():
        with app.app_context(), territory_scope(territory_id):
            barrier.wait()
            try:
                surveys.answer(token, surveys.Answer(5, 5, 5, 5, 10))
                db.session.commit()
                outcomes.append("stored")
            except surveys.AlreadyAnswered:
                db.session.rollback()
                outcomes.append("refused")
            except Exception as exc:  # noqa: BLE001 - SQLite "database is locked" is a refusal too
                db.session.rollback()
                outcomes.append(type(exc).__name__)
            finally:
                db.session.remove()

    workers = [threading.Thread(target=submit) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    return outcomes


def _responses(db, territory) -> int:
    with territory_scope(territory.id):
        return db.session.execute(select(func.count(SurveyResponse.id))).scalar_one()


def test_simultaneous_answers_of_one_link_store_one(app, db, make, world, monkeypatch):
    url = _invite_one(app, make, db, world)
    outcomes = _race(app, world["territory"].id, url.rsplit("/", 1)[1], monkeypatch)
    assert outcomes.count("stored") == 1, outcomes
    assert _responses(db, world["territory"]) == 1


@pytest.mark.skipif(not (DATABASE_URL or "").startswith("postgres"),
                    reason="the row-lock race needs PostgreSQL (DATABASE_URL); CI runs this")
def test_negative_control_without_the_lock_a_link_is_answered_twice(app, db, make, world, monkeypatch):
    url = _invite_one(app, make, db, world)
    monkeypatch.setattr(surveys, "LOCKING", False)
    outcomes = _race(app, world["territory"].id, url.rsplit("/", 1)[1], monkeypatch)
    assert outcomes.count("stored") > 1, outcomes
    assert _responses(db, world["territory"]) > 1


# --- aggregates -------------------------------------------------------------------------

A_ROWS = [  # quality, punctuality, kindness, usefulness, recommend, comment, day
    (5, 5, 3, 1, 10, "Ottimo servizio", dt.date(2026, 10, 5)),
    (4, 5, 3, 2, 9, "", dt.date(2026, 10, 8)),
    (4, 5, 4, 3, 9, "Puntuali", dt.date(2026, 10, 20)),
    (3, 5, 4, 4, 7, "", dt.date(2026, 10, 21)),
    (5, 5, 5, 5, 6, "Poco tempo", dt.date(2026, 10, 30)),
    (4, 4, 5, 5, 3, "", dt.date(2026, 10, 31)),
]
B_ROWS = [
    (2, 3, 1, 5, 0, "Commento raro", dt.date(2026, 11, 2)),
    (2, 3, 1, 5, 9, "", dt.date(2026, 11, 3)),
    (2, 3, 1, 5, 10, "", dt.date(2026, 11, 4)),
]


@pytest.fixture
def answered(app, db, make, world):
    coop = world["coop"]
    a = world["service"]
    b = make.service(coop, status="published", title="Centro diurno")
    other_coop = make.cooperative(world["territory"])
    foreign = make.service(other_coop, status="published", title="Altro")
    for service, rows in ((a, A_ROWS), (b, B_ROWS), (foreign, A_ROWS)):
        for q, p, k, u, r, comment, day in rows:
            make._save(SurveyResponse(territory_id=coop.territory_id, service_id=service.id,
                                      cooperative_id=service.cooperative_id, answered_on=day, quality=q,
                                      punctuality=p, kindness=k, usefulness=u, recommend=r, comment=comment))
    return a, b, other_coop


def test_aggregates_against_hand_computed_figures(app, db, world, answered):
    from decimal import Decimal

    a, b, _other = answered
    with territory_scope(world["territory"].id):
        # A: quality 25/6=4.17, punctuality 29/6=4.83, kindness 24/6=4.0, usefulness 20/6=3.33;
        # recommend 10,9,9 promoters (50%), 6,3 detractors (33.3%) -> NPS 17.
        summary = surveys.satisfaction(service_ids=[a.id])
        assert (summary.responses, summary.count) == (6, "6")
        assert summary.averages == {"quality": "4.2", "punctuality": "4.8", "kindness": "4.0", "usefulness": "3.3"}
        assert summary.values["quality"] == Decimal("4.2") and summary.nps == "17" and summary.nps_value == 17
        # Comments newest first, by month only.
        assert [(c.text, c.month) for c in summary.comments] == [
            ("Poco tempo", dt.date(2026, 10, 1)), ("Puntuali", dt.date(2026, 10, 1)),
            ("Ottimo servizio", dt.date(2026, 10, 1))]

        # The whole cooperative (A + B, 9 answers): quality 31/9=3.44, punctuality 38/9=4.22,
        # kindness 27/9=3.0, usefulness 35/9=3.89; promoters 5, detractors 3 -> 22.2 -> 22.
        overall = surveys.satisfaction(cooperative_id=world["coop"].id)
        assert overall.count == "9"
        assert overall.averages == {"quality": "3.4", "punctuality": "4.2", "kindness": "3.0", "usefulness": "3.9"}
        assert overall.nps == "22"
        # B's comment is not among the whole's either: it could be told apart by comparison.
        assert [c.text for c in overall.comments] == ["Poco tempo", "Puntuali", "Ottimo servizio"]

        # B alone has 3 answers: every figure is "<5", no comment.
        small = surveys.satisfaction(service_ids=[b.id])
        assert small.suppressed and small.count == "<5" and small.nps == "<5"
        assert set(small.averages.values()) == {"<5"} and small.comments == []

        # A period: October only is A's six answers.
        october = surveys.satisfaction(cooperative_id=world["coop"].id, date_from=dt.date(2026, 10, 1),
                                       date_to=dt.date(2026, 10, 31))
        assert october.count == "6" and october.nps == "17"
        nothing = surveys.satisfaction(cooperative_id=world["coop"].id, date_from=dt.date(2027, 1, 1))
        assert nothing.count == "<5" and nothing.nps == "<5"


def test_the_staff_page_shows_figures_suppressed_below_five(app, db, make, world, answered, client):
    login(client, world["staff"].email)
    base = f"/t/{world['territory'].slug}/cooperative/{world['coop'].id}"
    italian = client.get(base + "/satisfaction").get_data(as_text=True)
    assert 'lang="it"' in italian and ">4,2<" in italian   # Italian first, with its decimal comma
    _english(client)
    home = client.get(base + "/").get_data(as_text=True)
    assert f"{base}/satisfaction" in home
    page = client.get(base + "/satisfaction")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Assistenza domiciliare" in html and "Centro diurno" in html and "Altro" not in html
    assert ">4.2<" in html and ">17<" in html and ">22<" in html   # A and overall
    assert "&lt;5" in html                                          # B
    assert "Ottimo servizio" in html and "October 2026" in html
    assert "Commento raro" not in html                              # B has fewer than 5 answers
    assert "2026-10-05" not in html and "5 October" not in html     # no day
    assert "Beneficiaries without one receive no survey." in html

    october = client.get(base + "/satisfaction?from=2026-10-01&to=2026-10-31").get_data(as_text=True)
    assert ">17<" in october and ">22<" not in october
    bad = client.get(base + "/satisfaction?from=2026-13-01")
    assert bad.status_code == 422 and "Write the date as YYYY-MM-DD" in bad.get_data(as_text=True)
    reversed_ = client.get(base + "/satisfaction?from=2026-12-01&to=2026-01-01")
    assert reversed_.status_code == 422 and "must not be after its end" in reversed_.get_data(as_text=True)


def test_the_staff_page_tenancy(app, db, make, world, answered, client):
    _a, _b, other_coop = answered
    slug = world["territory"].slug
    elsewhere = make.territory()
    far_coop = make.cooperative(elsewhere)
    login(client, world["staff"].email)
    assert client.get(f"/t/{slug}/cooperative/{other_coop.id}/satisfaction").status_code == 403
    assert client.get(f"/t/{slug}/cooperative/{far_coop.id}/satisfaction").status_code == 404
    assert client.get(f"/t/{elsewhere.slug}/cooperative/{world['coop'].id}/satisfaction").status_code == 404
    citizen = app.test_client()
    login(citizen, make.user(email="citizen@example.org").email)
    assert citizen.get(f"/t/{slug}/cooperative/{world['coop'].id}/satisfaction").status_code == 403
