"""What one booking costs the database, and the request log after a booking commits.

The booking benchmark (benchmarks/booking.py) showed every database round trip counts
under load; these keep the statements of a free booking from creeping back up.
"""
from __future__ import annotations

import contextlib
import logging
import re

from sqlalchemy import event, select

from marketplace.models import Order
from tenants.scoping import territory_scope
from tests.booking_helpers import make_slot
from tests.conftest import csrf_token, login

# User, slot, service, cooperative, ticket types; lock (and its timeout on PostgreSQL),
# ticket types again, the seat count; order, ticket, confirmation, the place for the
# e-mail, the e-mail in the outbox. (A new order needs no waiting-list lookup.)
MAX_STATEMENTS = 14


def test_a_free_booking_takes_few_statements_and_none_after_commit(app, client, db, make, monkeypatch):
    territory, slot_id, (free,) = make_slot(app, make, capacity=5, types=(("Gratuito", 0, None),))
    citizen = make.user(email="veloce@example.org")
    login(client, citizen.email)
    url = f"/t/{territory.slug}/book/{slot_id}"
    token = csrf_token(client, url)
    statements: list[str] = []
    # Jobs (the e-mail delivery) run in a worker in production, not in the request; without
    # Redis they would run inline after the commit: kept out of the count.
    jobs = []
    monkeypatch.setattr("marketplace.queue.run_inline", lambda func, *args: jobs.append(func.__name__))

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        response = client.post(url, data={"csrf_token": token, f"qty-{free}": "1"})
    finally:
        event.remove(db.engine, "before_cursor_execute", record)

    assert response.status_code == 302
    code = re.search(r"/bookings/([A-Z0-9]+)$", response.headers["Location"]).group(1)
    with territory_scope(territory.id):
        assert db.session.execute(select(Order.status).where(Order.code == code)).scalar_one() == Order.PAID
    # The host-to-territory map and the territory row are cached per process in production
    # (not in tests).
    data = [s for s in statements if not s.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "BEGIN"))
            and "FROM domain" not in s and "WHERE territory.slug" not in s]
    assert len(data) <= MAX_STATEMENTS, "\n".join(data)
    # Nothing is read back after the commit (the redirect, the flash and the log need no row).
    last_write = max(i for i, s in enumerate(data) if s.lstrip().upper().startswith(("INSERT", "UPDATE")))
    assert all(not s.lstrip().upper().startswith("SELECT") for s in data[last_write + 1:]), data[last_write:]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Booking {code}" in page or f"Prenotazione {code}" in page
    assert 'class="alert alert-success"' in page  # the confirmation, flashed after the commit


@contextlib.contextmanager
def request_log():
    """The request log's records (it is quiet in tests, and alembic's fileConfig disables it)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("marketplace.request")
    level, disabled = logger.level, logger.disabled
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.disabled = False
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.disabled = disabled


def test_request_log_names_user_and_territory_after_a_commit(app, client, make):
    territory, slot_id, (free,) = make_slot(app, make, capacity=5, types=(("Gratuito", 0, None),))
    citizen = make.user(email="registro@example.org")
    login(client, citizen.email)
    url = f"/t/{territory.slug}/book/{slot_id}"
    token = csrf_token(client, url)
    with request_log() as records:
        assert client.post(url, data={"csrf_token": token, f"qty-{free}": "1"}).status_code == 302
        client.get(f"/t/{territory.slug}/")  # a page with no commit, same citizen
    booking, page = (r.fields for r in records)
    assert booking["method"] == "POST" and booking["status"] == 302
    assert booking["user_id"] == citizen.id and booking["territory"] == territory.slug
    assert page["user_id"] == citizen.id and page["territory"] == territory.slug


def test_anonymous_request_log_has_no_user(app, client, make):
    territory = make.territory()
    with request_log() as records:
        assert client.get(f"/t/{territory.slug}/").status_code == 200
    assert records[0].fields["user_id"] is None and records[0].fields["territory"] == territory.slug
