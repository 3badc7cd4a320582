"""Services that are requested rather than booked: the citizen asks, staff accept with a
date or decline with a reason, the citizen follows it in My bookings or withdraws it."""
from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from marketplace.models import OutboxMessage, ServiceArea, ServiceRequest
from marketplace.models.base import utcnow
from tenants.scoping import territory_scope
from tests.conftest import login, post

ROME = ZoneInfo("Europe/Rome")


@pytest.fixture
def world(make):
    territory = make.territory()
    coop = make.cooperative(territory)
    casalmaggiore = make.municipality(territory, name="Casalmaggiore")
    crema = make.municipality(territory, name="Crema")
    service = make.service(coop, status="published", title="Assistenza domiciliare", booking_mode="request",
                           delivery_modes="at_home", contact_email="sad@coop.example")
    make._save(ServiceArea(territory_id=territory.id, service_id=service.id, municipality_id=casalmaggiore.id))
    staff = make.staff(coop, email="operatrice@coop.example")
    citizen = make.user(email="giulia@example.org", phone="+39 333 1234567")
    return dict(territory=territory, coop=coop, service=service, staff=staff, citizen=citizen,
                inside=casalmaggiore, outside=crema)


def _form(world, **over):
    data = {"beneficiary_name": "Maria Bianchi", "beneficiary_age": "84",
            "municipality_id": str(world["inside"].id), "phone": "+39 333 1234567",
            "preferred_times": "Mattina, dal lunedì al venerdì", "message": "Ha bisogno di aiuto per la spesa.",
            "consent": "y"}
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def _count(db, territory) -> int:
    with territory_scope(territory.id):
        return db.session.execute(select(func.count(ServiceRequest.id))).scalar_one()


def _mails(db, to):
    db.session.expire_all()
    return db.session.execute(select(OutboxMessage).where(OutboxMessage.to_email == to)
                              .order_by(OutboxMessage.id)).scalars().all()


def _request(client, world):
    t = world["territory"]
    url = f"/t/{t.slug}/services/{world['service'].id}/request"
    response = post(client, url, _form(world), token_from=url)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    return re.search(r"/requests/([A-Z0-9]+)", response.headers["Location"]).group(1)


def _id_of(db, territory, code) -> int:
    with territory_scope(territory.id):
        db.session.expire_all()
        return db.session.execute(select(ServiceRequest.id).where(ServiceRequest.code == code)).scalar_one()


def _future(days=5, hour=10):
    day = (utcnow().astimezone(ROME) + dt.timedelta(days=days)).date()
    return day, dt.time(hour, 30)


def test_citizen_requests_a_service_and_the_cooperative_hears_of_it(app, client, db, world):
    t = world["territory"]
    page = client.get(f"/t/{t.slug}/services/{world['service'].id}").get_data(as_text=True)
    assert "Richiedi questo servizio" in page and "Date prenotabili" not in page

    login(client, world["citizen"].email)
    url = f"/t/{t.slug}/services/{world['service'].id}/request"
    form = client.get(url).get_data(as_text=True)
    assert 'value="+39 333 1234567"' in form  # phone from the profile
    assert '<label class="form-label fw-semibold" for="beneficiary_name">' in form

    code = _request(client, world)
    confirmation = client.get(f"/t/{t.slug}/requests/{code}?sent=1").get_data(as_text=True)
    assert code in confirmation and "Richiesta inviata" in confirmation
    receipt = _mails(db, "giulia@example.org")
    assert len(receipt) == 1 and code in receipt[0].body_text
    to_coop = _mails(db, "sad@coop.example")
    assert len(to_coop) == 1 and "Casalmaggiore" in to_coop[0].body_text
    mine = client.get(f"/t/{t.slug}/bookings").get_data(as_text=True)
    assert code in mine and "Richiesta" in mine and "In attesa della risposta" in mine


@pytest.mark.parametrize("changes,message", [
    ({"beneficiary_name": ""}, "Indica il nome della persona"),
    ({"beneficiary_age": "200"}, "tra 0 e 120"),
    ({"consent": None}, "accetta di condividere"),
    ({"municipality_id": ""}, "Scegli il comune"),
])
def test_bad_requests_are_refused_with_a_message_and_nothing_saved(app, client, db, world, changes, message):
    t = world["territory"]
    login(client, world["citizen"].email)
    url = f"/t/{t.slug}/services/{world['service'].id}/request"
    response = post(client, url, _form(world, **changes), token_from=url)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _count(db, t) == 0 and _mails(db, "sad@coop.example") == []


def test_municipality_outside_the_area_is_named(app, client, db, world):
    t = world["territory"]
    login(client, world["citizen"].email)
    url = f"/t/{t.slug}/services/{world['service'].id}/request"
    response = post(client, url, _form(world, municipality_id=str(world["outside"].id)), token_from=url)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "non raggiunge Crema" in page and "Casalmaggiore" in page
    assert _count(db, t) == 0


def test_slot_services_cannot_be_requested(app, client, db, make, world):
    t = world["territory"]
    slots_service = make.service(world["coop"], status="published", title="Visita guidata")
    login(client, world["citizen"].email)
    url = f"/t/{t.slug}/services/{slots_service.id}/request"
    response = post(client, url, _form(world), token_from=f"/t/{t.slug}/services/{world['service'].id}/request")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/services/{slots_service.id}")
    assert "si prenota scegliendo una data" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert _count(db, t) == 0
    draft = make.service(world["coop"], title="Bozza", booking_mode="request")
    assert client.get(f"/t/{t.slug}/services/{draft.id}/request").status_code == 404


def test_request_needs_an_account(client, world):
    t = world["territory"]
    response = client.get(f"/t/{t.slug}/services/{world['service'].id}/request")
    assert response.status_code == 302 and "/account/login" in response.headers["Location"]


def test_staff_accept_with_a_future_date_and_the_citizen_sees_it(app, client, db, world):
    t, coop = world["territory"], world["coop"]
    login(client, world["citizen"].email)
    code = _request(client, world)
    request_id = _id_of(db, t, code)

    staff = app.test_client()
    login(staff, world["staff"].email)
    home = staff.get(f"/t/{t.slug}/cooperative/{coop.id}/").get_data(as_text=True)
    assert "1 nuova richiesta" in home
    listing = staff.get(f"/t/{t.slug}/cooperative/{coop.id}/requests").get_data(as_text=True)
    assert code in listing
    detail_url = f"/t/{t.slug}/cooperative/{coop.id}/requests/{request_id}"
    detail = staff.get(detail_url).get_data(as_text=True)
    assert "Maria Bianchi" in detail and "Casalmaggiore" in detail and "+39 333 1234567" in detail

    past = (utcnow().astimezone(ROME) - dt.timedelta(days=1)).date()
    response = post(staff, f"{detail_url}/accept", {"accept-date": past.isoformat(), "accept-time": "10:00"},
                    token_from=detail_url)
    assert response.status_code == 422 and "La data deve essere nel futuro" in response.get_data(as_text=True)
    with territory_scope(t.id):
        db.session.expire_all()
        assert db.session.get(ServiceRequest, request_id).status == ServiceRequest.REQUESTED

    day, time = _future()
    response = post(staff, f"{detail_url}/accept", {"accept-date": day.strftime("%d/%m/%Y"),
                                                    "accept-time": time.strftime("%H:%M"),
                                                    "accept-message": "Verrà l'operatrice Sara."},
                    token_from=detail_url)
    assert response.status_code == 302
    with territory_scope(t.id):
        db.session.expire_all()
        item = db.session.get(ServiceRequest, request_id)
        assert item.status == ServiceRequest.ACCEPTED
        # Typed in Italian time, stored in UTC.
        assert item.starts_at == dt.datetime.combine(day, time, tzinfo=ROME).astimezone(dt.timezone.utc)
        assert item.decided_by_id == world["staff"].id
    mail = _mails(db, "giulia@example.org")[-1]
    assert "accettata" in mail.subject.lower() and "Verrà l'operatrice Sara." in mail.body_text
    assert f"/requests/{code}/calendar.ics" in mail.body_text
    mine = client.get(f"/t/{t.slug}/bookings").get_data(as_text=True)
    assert code in mine and "Accettata" in mine and str(day.year) in mine
    calendar = client.get(f"/t/{t.slug}/requests/{code}/calendar.ics")
    assert calendar.status_code == 200 and calendar.mimetype == "text/calendar"
    from icalendar import Calendar

    event = Calendar.from_ical(calendar.data).walk("VEVENT")[0]
    assert event.decoded("dtstart") == item.starts_at and "Assistenza domiciliare" in str(event["summary"])

    # Decided: it cannot be decided again, and nothing changes.
    response = post(staff, f"{detail_url}/decline", {"decline-reason": "Ci abbiamo ripensato"},
                    token_from=detail_url)
    assert response.status_code == 422 and "non può più essere modificata" in response.get_data(as_text=True)
    with territory_scope(t.id):
        db.session.expire_all()
        item = db.session.get(ServiceRequest, request_id)
        assert item.status == ServiceRequest.ACCEPTED and item.decline_reason == ""
    assert "0 nuove richieste" in staff.get(f"/t/{t.slug}/cooperative/{coop.id}/").get_data(as_text=True)


def test_decline_needs_a_reason_and_the_citizen_reads_it(app, client, db, world):
    t, coop = world["territory"], world["coop"]
    login(client, world["citizen"].email)
    code = _request(client, world)
    request_id = _id_of(db, t, code)
    staff = app.test_client()
    login(staff, world["staff"].email)
    detail_url = f"/t/{t.slug}/cooperative/{coop.id}/requests/{request_id}"
    response = post(staff, f"{detail_url}/decline", {"decline-reason": "  "}, token_from=detail_url)
    assert response.status_code == 422 and "Spiega al cittadino" in response.get_data(as_text=True)
    response = post(staff, f"{detail_url}/decline", {"decline-reason": "Non abbiamo operatori liberi a marzo."},
                    token_from=detail_url)
    assert response.status_code == 302
    mail = _mails(db, "giulia@example.org")[-1]
    assert "Non abbiamo operatori liberi a marzo." in mail.body_text
    mine = client.get(f"/t/{t.slug}/bookings").get_data(as_text=True)
    assert "Rifiutata" in mine and "Non abbiamo operatori liberi a marzo." in mine
    # A declined request can be neither accepted nor withdrawn.
    day, time = _future()
    response = post(staff, f"{detail_url}/accept", {"accept-date": day.isoformat(), "accept-time": "10:00"},
                    token_from=detail_url)
    assert response.status_code == 422
    post(client, f"/t/{t.slug}/requests/{code}/withdraw", {}, token_from=f"/t/{t.slug}/requests/{code}")
    with territory_scope(t.id):
        db.session.expire_all()
        assert db.session.get(ServiceRequest, request_id).status == ServiceRequest.DECLINED


def test_citizen_withdraws_and_others_cannot_see_it(app, client, db, make, world):
    t = world["territory"]
    login(client, world["citizen"].email)
    code = _request(client, world)
    other = app.test_client()
    login(other, make.user().email)
    assert other.get(f"/t/{t.slug}/requests/{code}").status_code == 404
    assert post(other, f"/t/{t.slug}/requests/{code}/withdraw", {}).status_code == 404

    detail = f"/t/{t.slug}/requests/{code}"
    assert "Ritira la richiesta" in client.get(detail).get_data(as_text=True)
    response = post(client, f"{detail}/withdraw", {}, token_from=detail)
    assert response.status_code == 302
    page = client.get(detail).get_data(as_text=True)
    assert "Ritirata" in page and "Ritira la richiesta" not in page
    assert client.post(f"{detail}/withdraw", data={}).status_code == 400  # no CSRF token
    with territory_scope(t.id):
        db.session.expire_all()
        assert db.session.get(ServiceRequest, _id_of(db, t, code)).status == ServiceRequest.WITHDRAWN


def test_staff_of_another_cooperative_get_404(app, client, db, make, world):
    t = world["territory"]
    login(client, world["citizen"].email)
    request_id = _id_of(db, t, _request(client, world))
    other_coop = make.cooperative(t)
    other_staff = make.staff(other_coop)
    staff = app.test_client()
    login(staff, other_staff.email)
    base = f"/t/{t.slug}/cooperative/{other_coop.id}/requests"
    assert staff.get(f"{base}/{request_id}").status_code == 404
    day, time = _future()
    response = post(staff, f"{base}/{request_id}/accept", {"accept-date": day.isoformat(), "accept-time": "10:00"},
                    token_from=base)
    assert response.status_code == 404
    assert f"/requests/{request_id}" not in staff.get(base).get_data(as_text=True)
    # Their own cooperative's page of the first cooperative: not staff there.
    assert staff.get(f"/t/{t.slug}/cooperative/{world['coop'].id}/requests/{request_id}").status_code == 403
    with territory_scope(t.id):
        db.session.expire_all()
        assert db.session.get(ServiceRequest, request_id).status == ServiceRequest.REQUESTED


def test_decide_twice_service_level(app, db, world):
    """Two decisions on one request: the second is refused and changes nothing."""
    from marketplace.models import Service, User
    from marketplace.services import DomainError, requests

    t = world["territory"]
    with app.test_request_context(), territory_scope(t.id):
        service = db.session.get(Service, world["service"].id)
        citizen = db.session.get(User, world["citizen"].id)
        staff = db.session.get(User, world["staff"].id)
        item = requests.create(service, citizen, beneficiary_name="Maria", municipality_id=world["inside"].id,
                               consent=True)
        db.session.commit()
        requests.decide(item, staff, False, reason="Nessun operatore libero")
        db.session.commit()
        with pytest.raises(DomainError):
            requests.decide(item, staff, True, starts_at=utcnow() + dt.timedelta(days=2))
        db.session.rollback()
        db.session.expire_all()
        item = db.session.get(ServiceRequest, item.id)
        assert item.status == ServiceRequest.DECLINED and item.starts_at is None


def test_demo_home_services_are_requested_and_the_citizen_has_requests(app, db, client):
    from marketplace.models import Service, Slot, Territory, User
    from tenants.scoping import unscoped

    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert runner.invoke(args=["seed-demo"]).exit_code == 0  # idempotent: no second set of requests
    with unscoped():
        territory = db.session.execute(select(Territory).where(Territory.slug == "milano")).scalar_one()
        citizen_id = db.session.execute(select(User.id).where(User.email == "citizen@demo.test")).scalar_one()
    with territory_scope(territory.id):
        requested = db.session.execute(select(Service).where(Service.booking_mode == "request")).scalars().all()
        assert requested and all(s.delivery_modes == "at_home" for s in requested)
        assert not db.session.execute(select(Slot.id).where(
            Slot.service_id.in_([s.id for s in requested]))).first()
        statuses = db.session.execute(select(ServiceRequest.status).where(
            ServiceRequest.user_id == citizen_id)).scalars().all()
        assert sorted(statuses) == ["accepted", "declined", "requested"]
    login(client, "citizen@demo.test", "demo-password")
    page = client.get("/t/milano/bookings").get_data(as_text=True)
    assert "Accettata" in page and "Rifiutata" in page


def test_a_stale_copy_cannot_overwrite_another_staff_decision(app, client, db, world):
    """Staff A opened the request (still 'requested' in A's session) while staff B declined
    it: A's accept re-reads the row under its lock and is refused."""
    from marketplace.models import User
    from marketplace.services import requests

    t, coop = world["territory"], world["coop"]
    login(client, world["citizen"].email)
    request_id = _id_of(db, t, _request(client, world))
    with app.test_request_context(), territory_scope(t.id):
        stale = db.session.get(ServiceRequest, request_id)
        assert stale.status == ServiceRequest.REQUESTED
        other = app.test_client()
        login(other, world["staff"].email)
        detail_url = f"/t/{t.slug}/cooperative/{coop.id}/requests/{request_id}"
        assert post(other, f"{detail_url}/decline", {"decline-reason": "Nessun operatore"},
                    token_from=detail_url).status_code == 302
        assert stale.status == ServiceRequest.REQUESTED  # this session has not seen it yet
        with pytest.raises(requests.AlreadyDecided):
            requests.decide(stale, db.session.get(User, world["staff"].id), True,
                            starts_at=utcnow() + dt.timedelta(days=2))
        db.session.rollback()
    with territory_scope(t.id):
        db.session.expire_all()
        item = db.session.get(ServiceRequest, request_id)
        assert item.status == ServiceRequest.DECLINED and item.starts_at is None
