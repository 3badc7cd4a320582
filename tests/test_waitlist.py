"""Waiting lists: a full date offers its waiting list, and a freed seat reaches the next in line."""
from __future__ import annotations

import datetime as dt
from sqlalchemy import select

from marketplace.models import Order, OutboxMessage, Slot, WaitlistEntry
from marketplace.models.base import utcnow
from tenants.scoping import territory_scope
from tests.booking_helpers import make_slot
from tests.conftest import REDIS_URL, login, post


def _client(app, make, email):
    client = app.test_client()
    login(client, make.user(email=email).email)
    return client


def _book(client, territory, slot_id, type_id, n=1):
    url = f"/t/{territory.slug}/book/{slot_id}"
    return post(client, url, {f"qty-{type_id}": str(n)}, token_from=url)


def _join(client, territory, slot_id, quantity="1"):
    url = f"/t/{territory.slug}/book/{slot_id}"
    return post(client, f"{url}/waitlist", {"quantity": quantity}, token_from=url)


def _entry(db, territory, email) -> WaitlistEntry:
    with territory_scope(territory.id):
        db.session.expire_all()
        entry = db.session.execute(select(WaitlistEntry).where(WaitlistEntry.email == email)
                                   .order_by(WaitlistEntry.id.desc())).scalars().first()
        if entry is not None and entry.order is not None:
            entry.order.tickets  # noqa: B018 - loaded while in scope
        return entry


def _mails_to(db, email):
    db.session.expire_all()
    return db.session.execute(select(OutboxMessage).where(OutboxMessage.to_email == email)
                              .order_by(OutboxMessage.id)).scalars().all()


def _full_date_with_two_waiting(app, make, db, price=0, capacity=1):
    """Anna holds the only seat; Bruno then Carla wait for one seat each."""
    territory, slot_id, (type_id,) = make_slot(app, make, capacity=capacity, types=(("Posto", price, None),))
    anna = _client(app, make, "anna@example.org")
    assert _book(anna, territory, slot_id, type_id, capacity).status_code == 302  # paid: held, pending
    bruno = _client(app, make, "bruno@example.org")
    carla = _client(app, make, "carla@example.org")
    assert _join(bruno, territory, slot_id).status_code == 302
    assert _join(carla, territory, slot_id).status_code == 302
    return territory, slot_id, type_id, anna, bruno, carla


def test_join_only_when_full_then_see_the_place_in_line(app, db, make):
    territory, slot_id, (free,) = make_slot(app, make, capacity=1, types=(("Gratuito", 0, None),))
    url = f"/t/{territory.slug}/book/{slot_id}"
    bruno = _client(app, make, "bruno@example.org")
    # A seat is free: no waiting list, the seat can be booked now.
    page = bruno.get(url).get_data(as_text=True)
    assert "Iscriviti alla lista d’attesa" not in page
    response = _join(bruno, territory, slot_id)
    assert response.status_code == 422 and "puoi prenotarli subito" in response.get_data(as_text=True)
    assert _entry(db, territory, "bruno@example.org") is None

    anna = _client(app, make, "anna@example.org")
    assert _book(anna, territory, slot_id, free).status_code == 302
    page = bruno.get(url).get_data(as_text=True)
    assert "Questa data è al completo. Iscriviti alla lista d’attesa" in page
    with territory_scope(territory.id):
        service_id = db.session.get(Slot, slot_id).service_id
    assert "Al completo – lista d’attesa" in bruno.get(f"/t/{territory.slug}/services/{service_id}").get_data(as_text=True)

    for bad in ("0", "abc", "11"):
        assert _join(bruno, territory, slot_id, bad).status_code == 422
    assert _entry(db, territory, "bruno@example.org") is None
    response = _join(bruno, territory, slot_id, "1")
    assert response.status_code == 302
    page = bruno.get(url).get_data(as_text=True)
    assert "Sei al numero 1 della lista d’attesa." in page and "Esci dalla lista d’attesa" in page
    # Once per person and date.
    assert _join(bruno, territory, slot_id).status_code == 422

    carla = _client(app, make, "carla@example.org")
    assert _join(carla, territory, slot_id, "1").status_code == 302
    assert "Sei al numero 2 della lista d’attesa." in carla.get(url).get_data(as_text=True)
    mine = carla.get(f"/t/{territory.slug}/bookings").get_data(as_text=True)
    assert "Liste d’attesa" in mine and "Sei al numero 2" in mine

    # Fewer seats left than asked for: the waiting list is offered too.
    territory2, slot2, (free2,) = make_slot(app, make, capacity=3, types=(("Gratuito", 0, None),),
                                            territory=territory)
    assert _book(anna, territory, slot2, free2, 2).status_code == 302
    response = _book(bruno, territory, slot2, free2, 2)
    assert response.status_code == 422
    assert "Iscriviti alla lista d’attesa" in response.get_data(as_text=True)
    assert _join(bruno, territory, slot2, "2").status_code == 302


def test_a_cancellation_offers_the_seat_to_the_first_in_line(app, db, make, run_jobs):
    territory, slot_id, type_id, anna, bruno, carla = _full_date_with_two_waiting(app, make, db)
    with territory_scope(territory.id):
        code = db.session.execute(select(Order.code).where(Order.email == "anna@example.org")).scalar_one()
    detail = f"/t/{territory.slug}/bookings/{code}"
    assert post(anna, f"{detail}/cancel", {}, token_from=detail).status_code == 302
    run_jobs()

    entry = _entry(db, territory, "bruno@example.org")
    assert entry.status == WaitlistEntry.OFFERED and entry.order is not None
    assert entry.order.status == Order.PENDING and len(entry.order.tickets) == 1
    assert entry.offer_expires_at > utcnow() + dt.timedelta(hours=23)
    offer_code = entry.order.code
    assert _entry(db, territory, "carla@example.org").status == WaitlistEntry.WAITING
    (mail,) = _mails_to(db, "bruno@example.org")
    assert "Si sono liberati dei posti" in mail.subject
    assert f"/t/{territory.slug}/bookings/{offer_code}/checkout" in mail.body_text
    assert not _mails_to(db, "carla@example.org")

    # The held seat is not for sale to anyone else.
    dario = _client(app, make, "dario@example.org")
    response = _book(dario, territory, slot_id, type_id)
    assert response.status_code == 422 and "al completo" in response.get_data(as_text=True)

    # Bruno sees the offer in his bookings and completes it.
    mine = bruno.get(f"/t/{territory.slug}/bookings").get_data(as_text=True)
    assert f"/bookings/{offer_code}/checkout" in mine
    checkout = f"/t/{territory.slug}/bookings/{offer_code}/checkout"
    page = bruno.get(checkout).get_data(as_text=True)
    assert "Conferma la prenotazione" in page and "I tuoi posti sono tenuti fino a" in page
    response = post(bruno, f"/t/{territory.slug}/bookings/{offer_code}/confirm", {}, token_from=checkout)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/bookings/{offer_code}")
    entry = _entry(db, territory, "bruno@example.org")
    assert entry.status == WaitlistEntry.BOOKED and entry.order.status == Order.PAID
    assert any(offer_code in m.subject + m.body_text for m in _mails_to(db, "bruno@example.org")[1:])
    # Carla moved up.
    assert "Sei al numero 1" in carla.get(f"/t/{territory.slug}/book/{slot_id}").get_data(as_text=True)


def test_a_paid_offer_goes_to_the_payment(app, db, make, run_jobs):
    territory, slot_id, type_id, anna, bruno, carla = _full_date_with_two_waiting(app, make, db, price=1200)
    with territory_scope(territory.id):
        order = db.session.execute(select(Order).where(Order.email == "anna@example.org")).scalar_one()
        from marketplace.services import booking

        booking.cancel_free(order)  # staff-like cancellation of a paid seat, refunds aside
        db.session.commit()
    run_jobs()
    entry = _entry(db, territory, "bruno@example.org")
    assert entry.status == WaitlistEntry.OFFERED and entry.order.total_cents == 1200
    page = bruno.get(f"/t/{territory.slug}/bookings/{entry.order.code}/checkout").get_data(as_text=True)
    assert "12,00" in page and "Conferma la prenotazione" not in page
    # Someone else cannot open the offer.
    assert carla.get(f"/t/{territory.slug}/bookings/{entry.order.code}/checkout").status_code == 404


def test_a_lapsed_offer_passes_the_seat_to_the_next_in_line(app, db, make, run_jobs):
    from marketplace.jobs import cleanup_everywhere

    territory, slot_id, type_id, anna, bruno, carla = _full_date_with_two_waiting(app, make, db)
    with territory_scope(territory.id):
        order = db.session.execute(select(Order).where(Order.email == "anna@example.org")).scalar_one()
        from marketplace.services import booking

        booking.cancel_free(order)
        db.session.commit()
    run_jobs()
    first = _entry(db, territory, "bruno@example.org")
    assert first.status == WaitlistEntry.OFFERED
    # Nothing to do yet: the clean-up changes nothing.
    with app.app_context():
        assert cleanup_everywhere() == {territory.slug: 0}
    assert _entry(db, territory, "bruno@example.org").status == WaitlistEntry.OFFERED

    past = utcnow() - dt.timedelta(minutes=1)
    with territory_scope(territory.id):
        entry = db.session.get(WaitlistEntry, first.id)
        entry.offer_expires_at = past
        entry.order.hold_expires_at = past
        db.session.commit()
    with app.app_context():
        assert cleanup_everywhere() == {territory.slug: 1}
    run_jobs()
    lapsed = _entry(db, territory, "bruno@example.org")
    assert lapsed.status == WaitlistEntry.EXPIRED and lapsed.order.status == Order.EXPIRED
    lapsed_code = lapsed.order.code
    second = _entry(db, territory, "carla@example.org")
    assert second.status == WaitlistEntry.OFFERED and second.order.status == Order.PENDING
    assert f"/bookings/{second.order.code}/checkout" in _mails_to(db, "carla@example.org")[0].body_text
    # Bruno's old link now says the reservation expired.
    page = bruno.get(f"/t/{territory.slug}/bookings/{lapsed_code}/checkout").get_data(as_text=True)
    assert "prenotazione è scaduto" in page


def test_without_a_scheduler_opening_the_date_passes_the_seat_on(app, db, make, run_jobs):
    territory, slot_id, type_id, anna, bruno, carla = _full_date_with_two_waiting(app, make, db)
    with territory_scope(territory.id):
        order = db.session.execute(select(Order).where(Order.email == "anna@example.org")).scalar_one()
        # The hold lapsed and no job ran: the seat is free when counted.
        order.status, order.hold_expires_at = Order.PENDING, utcnow() - dt.timedelta(minutes=1)
        db.session.commit()
    page = carla.get(f"/t/{territory.slug}/book/{slot_id}").get_data(as_text=True)
    run_jobs()
    assert _entry(db, territory, "bruno@example.org").status == WaitlistEntry.OFFERED
    if not REDIS_URL:  # inline: the page already shows the date as full again
        assert "Questa data è al completo." in page


def test_leaving_the_list(app, db, make, run_jobs):
    territory, slot_id, type_id, anna, bruno, carla = _full_date_with_two_waiting(app, make, db)
    entry = _entry(db, territory, "bruno@example.org")
    mine = f"/t/{territory.slug}/bookings"
    # Another citizen cannot remove Bruno.
    assert post(carla, f"/t/{territory.slug}/waitlist/{entry.id}/leave", {}, token_from=mine).status_code == 404
    response = post(bruno, f"/t/{territory.slug}/waitlist/{entry.id}/leave", {"next": "my_bookings"}, token_from=mine)
    assert response.status_code == 302 and response.headers["Location"].endswith("/bookings")
    assert _entry(db, territory, "bruno@example.org").status == WaitlistEntry.LEFT
    assert "Liste d’attesa" not in bruno.get(mine).get_data(as_text=True)
    assert "Sei al numero 1" in carla.get(f"/t/{territory.slug}/book/{slot_id}").get_data(as_text=True)

    # Leaving with an offer in hand gives the seats to the next in line.
    with territory_scope(territory.id):
        order = db.session.execute(select(Order).where(Order.email == "anna@example.org")).scalar_one()
        from marketplace.services import booking

        booking.cancel_free(order)
        db.session.commit()
    run_jobs()
    offered = _entry(db, territory, "carla@example.org")
    assert offered.status == WaitlistEntry.OFFERED
    dario = _client(app, make, "dario@example.org")
    assert _join(dario, territory, slot_id).status_code == 302
    book = f"/t/{territory.slug}/book/{slot_id}"
    assert post(carla, f"/t/{territory.slug}/waitlist/{offered.id}/leave", {}, token_from=book).status_code == 302
    run_jobs()
    left = _entry(db, territory, "carla@example.org")
    assert left.status == WaitlistEntry.LEFT and left.order.status == Order.CANCELLED
    assert _entry(db, territory, "dario@example.org").status == WaitlistEntry.OFFERED


def test_staff_see_the_waiting_list(app, db, make):
    territory, slot_id, type_id, anna, bruno, carla = _full_date_with_two_waiting(app, make, db)
    with territory_scope(territory.id):
        slot = db.session.get(Slot, slot_id)
        service = slot.service
        coop_id, service_id = service.cooperative_id, service.id
    from marketplace.models import Cooperative

    with territory_scope(territory.id):
        coop = db.session.get(Cooperative, coop_id)
        staff = make.staff(coop)
    client = app.test_client()
    login(client, staff.email)
    page = client.get(f"/t/{territory.slug}/cooperative/{coop_id}/services/{service_id}/slots/{slot_id}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Lista d’attesa" in text and "2 persone in attesa" in text and "2 posti richiesti" in text
    assert "bruno@example.org" in text and "carla@example.org" in text


def test_the_cron_scheduler_runs_the_clean_up_every_minute(app, db, make, run_jobs):
    from marketplace.cli import cron_scheduler
    from marketplace.jobs import cleanup_everywhere

    territory, slot_id, type_id, anna, bruno, carla = _full_date_with_two_waiting(app, make, db)
    with territory_scope(territory.id):
        order = db.session.execute(select(Order).where(Order.email == "anna@example.org")).scalar_one()
        # Anna never completed her booking: her hold lapsed.
        order.status, order.hold_expires_at = Order.PENDING, utcnow() - dt.timedelta(minutes=1)
        db.session.commit()

    runner = app.test_cli_runner()
    if REDIS_URL:
        result = runner.invoke(args=["cron", "--once"])
        assert result.exit_code == 0, result.output
        assert "registered marketplace.jobs.cleanup_everywhere" in result.output
        assert "every 60 seconds" in result.output and "enqueued" in result.output
        from marketplace.queue import get_queue

        with app.app_context():
            queued = [job.func_name for job in get_queue("default", app).jobs]
        assert queued == ["marketplace.jobs.cleanup_everywhere"]
        run_jobs()  # a worker runs the clean-up the scheduler enqueued
    else:
        result = runner.invoke(args=["cron", "--once"])
        assert result.exit_code != 0 and "REDIS_URL" in result.output
        with app.app_context():
            (cron_job,) = [j for j in cron_scheduler(connection=None).get_jobs() if j.func is cleanup_everywhere]
            assert cron_job.func is cleanup_everywhere and cron_job.interval == 60
            assert cron_job.queue_name == app.config["QUEUE_PREFIX"] + "default"
            cron_job.func(*cron_job.args, **cron_job.kwargs)  # what the worker would run
    with territory_scope(territory.id):
        db.session.expire_all()
        assert db.session.get(Order, order.id).status == Order.EXPIRED
    assert _entry(db, territory, "bruno@example.org").status == WaitlistEntry.OFFERED
