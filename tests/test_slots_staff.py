"""Cooperative staff manage the dates of a service: slots, ticket types, attendees,
cancellation and check-in at the door, through HTTP."""
from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from marketplace.models import Cooperative, Order, Service, Slot, Territory, Ticket, TicketType, User
from marketplace.services import booking
from tenants.scoping import territory_scope
from tests.conftest import login, post

ROME = ZoneInfo("Europe/Rome")


@dataclasses.dataclass
class Desk:
    territory: Territory
    coop: Cooperative
    staff: User
    service: Service
    slot_id: int      # a slot in 7 days, capacity 10, one free ticket type
    type_id: int
    base: str         # /t/cremona/cooperative/<coop>/services/<service>/slots


@pytest.fixture
def desk(client, make, db) -> Desk:
    territory = make.territory("cremona")
    coop = make.cooperative(territory, name="Il Girasole")
    staff = make.staff(coop, locale="en", full_name="Giulia Staff")
    service = make.service(coop, title="Laboratorio di ceramica", status="published")
    slot = make.slot(service, capacity=10, types=(("Gratuito", 0, None),))
    with territory_scope(territory.id):
        type_id = db.session.execute(select(TicketType.id).where(TicketType.slot_id == slot.id)).scalar_one()
    login(client, staff.email)
    return Desk(territory, coop, staff, service, slot.id, type_id,
                f"/t/cremona/cooperative/{coop.id}/services/{service.id}/slots")


def _book(db, territory_id, slot_id, type_id, names, email="famiglia@example.org", pay=True) -> list[str]:
    """Hold (and confirm, free) seats; returns the ticket codes."""
    with territory_scope(territory_id):
        order = booking.hold(slot_id, {type_id: len(names)}, email=email, participants=names)
        if pay:
            booking.confirm_free(order)
        db.session.commit()
        return [t.code for t in order.tickets]


def _count(db, territory_id, model=Slot) -> int:
    with territory_scope(territory_id):
        return db.session.execute(select(func.count(model.id))).scalar_one()


def _day(days: int) -> dt.date:
    return dt.datetime.now(ROME).date() + dt.timedelta(days=days)


def _slot_data(**overrides) -> dict:
    data = {"date": _day(10).strftime("%d/%m/%Y"), "start_time": "18:30", "end_time": "20:00",
            "capacity": "25", "price": "12,50", "note": "Ingresso dal cortile"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_staff_create_one_date_in_local_time_with_an_intero_ticket(client, db, desk):
    page = client.get(desk.base + "/new")
    assert page.status_code == 200 and "<h1>" in page.get_data(as_text=True)
    response = post(client, desk.base + "/new", _slot_data(), token_from=desk.base + "/new")
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    with territory_scope(desk.territory.id):
        slot = db.session.execute(select(Slot).where(Slot.id != desk.slot_id)).scalar_one()
        local_start = dt.datetime.combine(_day(10), dt.time(18, 30), tzinfo=ROME)
        assert slot.starts_at == local_start.astimezone(dt.timezone.utc)
        assert slot.ends_at - slot.starts_at == dt.timedelta(minutes=90)
        assert (slot.capacity, slot.status, slot.note) == (25, Slot.OPEN, "Ingresso dal cortile")
        assert [(t.name, t.price_cents, t.quota) for t in slot.ticket_types] == [("Intero", 1250, None)]
        new_id = slot.id
    assert response.headers["Location"].endswith(f"/slots/{new_id}")
    listing = client.get(desk.base).get_data(as_text=True)
    assert "6:30" in listing and "25" in listing  # English locale: 6:30 PM


def test_new_dates_can_copy_the_tickets_of_another_date(client, db, desk):
    with territory_scope(desk.territory.id):
        slot = db.session.get(Slot, desk.slot_id)
        slot.ticket_types.append(TicketType(territory_id=desk.territory.id, name="Ridotto", price_cents=500,
                                            quota=4, position=1))
        db.session.commit()
    response = post(client, desk.base + "/new", _slot_data(copy_from=str(desk.slot_id), price=""),
                    token_from=desk.base + "/new")
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    with territory_scope(desk.territory.id):
        new = db.session.execute(select(Slot).where(Slot.id != desk.slot_id)).scalar_one()
        assert [(t.name, t.price_cents, t.quota) for t in new.ticket_types] == [("Gratuito", 0, None), ("Ridotto", 500, 4)]


@pytest.mark.parametrize("overrides,message", [
    ({"end_time": "17:00"}, "The end time must be after the start time."),
    ({"capacity": "0"}, "The capacity must be at least 1."),
    ({"date": _day(-2).strftime("%d/%m/%Y")}, "This date and time are in the past."),
    ({"price": "-5"}, "A price cannot be negative."),
    ({"price": ""}, "Enter the price (0 for free)."),
    ({"date": "31/02/2027"}, "Enter a date"),
])
def test_bad_dates_are_refused_with_a_message_and_nothing_is_saved(client, db, desk, overrides, message):
    response = post(client, desk.base + "/new", _slot_data(**overrides), token_from=desk.base + "/new")
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _count(db, desk.territory.id) == 1
    assert _count(db, desk.territory.id, TicketType) == 1


def test_ticket_types_are_added_with_their_limits(client, db, desk):
    url = f"{desk.base}/{desk.slot_id}"
    data = {"name": "Ridotto", "price": "8,50", "quota": "4", "min_per_order": "0", "max_per_order": "4"}
    response = post(client, url + "/ticket-types", data, token_from=url)
    assert response.status_code == 302
    for bad, message in (({"quota": "11"}, "capacity of the date"), ({"price": "-1"}, "cannot be negative"),
                         ({"price": "abc"}, "like 12,50")):
        response = post(client, url + "/ticket-types", {**data, **bad}, token_from=url)
        assert response.status_code == 422 and message in response.get_data(as_text=True)
    with territory_scope(desk.territory.id):
        types = db.session.execute(select(TicketType).order_by(TicketType.id)).scalars().all()
        assert [(t.name, t.price_cents, t.quota, t.max_per_order) for t in types] == [
            ("Gratuito", 0, None, 10), ("Ridotto", 850, 4, 4)]


def test_weekly_dates_skip_the_exceptions(client, db, desk):
    monday = _day(7) + dt.timedelta(days=(7 - _day(7).weekday()) % 7)
    data = {"weekdays": ["0", "2"], "from_date": monday.strftime("%d/%m/%Y"),
            "to_date": (monday + dt.timedelta(days=20)).isoformat(),
            "exceptions": f"{(monday + dt.timedelta(days=9)).strftime('%d/%m/%Y')},  {(monday + dt.timedelta(days=14)).strftime('%d/%m/%Y')}",
            "start_time": "09:00", "end_time": "12:00", "capacity": "8", "price": "0"}
    url = desk.base + "/weekly"
    assert client.get(url).status_code == 200
    response = post(client, url, data, token_from=url)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    with territory_scope(desk.territory.id):
        made = db.session.execute(select(Slot).where(Slot.id != desk.slot_id).order_by(Slot.starts_at)).scalars().all()
        days = [s.starts_at.astimezone(ROME).date() for s in made]
        assert days == [monday + dt.timedelta(days=n) for n in (0, 2, 7, 16)]
        assert {s.starts_at.astimezone(ROME).time() for s in made} == {dt.time(9, 0)}
        assert all([t.name for t in s.ticket_types] == ["Intero"] and s.capacity == 8 for s in made)

    for bad, message in (({"to_date": (monday + dt.timedelta(weeks=27)).isoformat()}, "26 weeks"),
                         ({"exceptions": "25/12, domani"}, "is not a date"),
                         ({"weekdays": []}, "Choose at least one day"),
                         ({"to_date": (monday - dt.timedelta(days=1)).isoformat()}, "on or after")):
        response = post(client, url, {**data, **bad}, token_from=url)
        assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert _count(db, desk.territory.id) == 5


def test_attendee_list_and_csv_show_paid_and_held_bookings(client, db, desk):
    _book(db, desk.territory.id, desk.slot_id, desk.type_id, ["Anna Rossi"], email="anna@example.org")
    _book(db, desk.territory.id, desk.slot_id, desk.type_id, ["=Luca Bianchi"], email="luca@example.org", pay=False)
    page = client.get(f"{desk.base}/{desk.slot_id}").get_data(as_text=True)
    assert "Anna Rossi" in page and "Luca Bianchi" in page and "2 of 10 seats taken" in page
    response = client.get(f"{desk.base}/{desk.slot_id}/attendees.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["Participant", "Ticket", "Booking code", "E-mail", "Checked in"]
    assert ["Anna Rossi", "Gratuito"] == rows[1][:2] and rows[1][3] == "anna@example.org"
    assert rows[2][0] == "'=Luca Bianchi"  # no formula reaches Excel


def test_check_in_at_the_door(client, db, desk, make):
    (code,) = _book(db, desk.territory.id, desk.slot_id, desk.type_id, ["Anna Rossi"])
    (unpaid,) = _book(db, desk.territory.id, desk.slot_id, desk.type_id, ["Marco Neri"], pay=False)
    other = make.slot(desk.service, starts_in=dt.timedelta(days=8))
    with territory_scope(desk.territory.id):
        other_type = db.session.execute(select(TicketType.id).where(TicketType.slot_id == other.id)).scalar_one()
    (elsewhere,) = _book(db, desk.territory.id, other.id, other_type, ["Sara Verdi"])
    beta = make.territory("beta")
    beta_service = make.service(make.cooperative(beta), status="published")
    beta_slot = make.slot(beta_service)
    with territory_scope(beta.id):
        beta_type = db.session.execute(select(TicketType.id).where(TicketType.slot_id == beta_slot.id)).scalar_one()
    (foreign,) = _book(db, beta.id, beta_slot.id, beta_type, ["Piero Blu"])

    url = f"{desk.base}/{desk.slot_id}/check-in"
    assert client.get(url).status_code == 200
    typed = " ".join([code[:4].lower(), code[4:]])
    response = post(client, url, {"code": typed}, token_from=url)
    assert response.status_code == 200 and "Anna Rossi" in response.get_data(as_text=True)
    with territory_scope(desk.territory.id):
        ticket = db.session.execute(select(Ticket).where(Ticket.code == code)).scalar_one()
        assert ticket.checked_in_at is not None and ticket.checked_in_by_id == desk.staff.id

    again = post(client, url, {"code": code}, token_from=url)
    assert again.status_code == 200 and "Already checked in at" in again.get_data(as_text=True)

    for bad, message in ((elsewhere, "another date"), (unpaid, "not valid"), (foreign, "No ticket has this code"),
                         ("ZZZZZZZZZZ", "No ticket has this code"), ("", "Enter the ticket code")):
        response = post(client, url, {"code": bad}, token_from=url)
        assert response.status_code == 422 and message in response.get_data(as_text=True), bad
    with territory_scope(desk.territory.id):
        assert db.session.execute(select(func.count(Ticket.id)).where(Ticket.checked_in_at.isnot(None))).scalar_one() == 1
    with territory_scope(beta.id):
        assert db.session.execute(select(Ticket.checked_in_at).where(Ticket.code == foreign)).scalar_one() is None


def test_cancel_a_date_needs_confirmation_and_a_reason_and_cancels_its_bookings(client, db, desk):
    _book(db, desk.territory.id, desk.slot_id, desk.type_id, ["Anna Rossi", "Luca Rossi"])
    url = f"{desk.base}/{desk.slot_id}"
    page = client.get(url).get_data(as_text=True)
    assert "2 people have paid for this date." in page and "refunded in full" in page
    assert 'for="reason"' in page
    refused = post(client, url + "/cancel", {"reason": "Maltempo"}, token_from=url)
    assert refused.status_code == 422 and "Tick the box" in refused.get_data(as_text=True)
    no_reason = post(client, url + "/cancel", {"confirm": "y"}, token_from=url)
    assert no_reason.status_code == 422 and "why the date is cancelled" in no_reason.get_data(as_text=True)
    with territory_scope(desk.territory.id):
        assert db.session.get(Slot, desk.slot_id).status == Slot.OPEN
    response = post(client, url + "/cancel", {"confirm": "y", "reason": "Maltempo"}, token_from=url)
    assert response.status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert "Cancelled" in page and "Maltempo" in page and "Nothing to refund" in page
    with territory_scope(desk.territory.id):
        slot = db.session.get(Slot, desk.slot_id)
        assert slot.status == Slot.CANCELLED and slot.cancel_reason == "Maltempo"
        assert {o.status for o in db.session.execute(select(Order)).scalars()} == {Order.CANCELLED}
    assert post(client, url + "/cancel", {"confirm": "y", "reason": "Ancora"}, token_from=url).status_code == 422


def test_staff_of_another_cooperative_get_nothing(app, db, desk, make):
    other_coop = make.cooperative(desk.territory)
    outsider = make.staff(other_coop, locale="en")
    own_service = make.service(other_coop)
    client = app.test_client()
    login(client, outsider.email)
    for path in ("", "/new", "/weekly", f"/{desk.slot_id}", f"/{desk.slot_id}/check-in",
                 f"/{desk.slot_id}/attendees.csv"):
        assert client.get(desk.base + path).status_code == 403, path
    # Through their own cooperative, the service and slot of another one are not found.
    own_base = f"/t/cremona/cooperative/{other_coop.id}/services"
    assert client.get(f"{own_base}/{desk.service.id}/slots").status_code == 404
    assert client.get(f"{own_base}/{own_service.id}/slots/{desk.slot_id}").status_code == 404
    response = post(client, f"{own_base}/{own_service.id}/slots/{desk.slot_id}/cancel",
                    {"confirm": "y", "reason": "x"})
    assert response.status_code == 404
    with territory_scope(desk.territory.id):
        assert db.session.get(Slot, desk.slot_id).status == Slot.OPEN


def test_a_citizen_cancelling_a_stale_copy_does_not_undo_the_staff_cancellation(app, client, db, desk):
    """The citizen's page was loaded (order still confirmed in that session) while staff
    cancelled the date: the citizen's cancel re-reads the order under its row lock and
    leaves the staff's cancellation, its time and its reason, as they are."""
    codes = _book(db, desk.territory.id, desk.slot_id, desk.type_id, ["Anna Rossi"])
    url = f"{desk.base}/{desk.slot_id}"
    with app.test_request_context(), territory_scope(desk.territory.id):
        stale = db.session.execute(select(Order).join(Ticket).where(Ticket.code == codes[0])).scalar_one()
        assert stale.status == Order.PAID
        assert post(client, url + "/cancel", {"confirm": "y", "reason": "Maltempo"},
                    token_from=url).status_code == 302
        assert stale.status == Order.PAID  # this session has not seen it yet
        booking.cancel_free(stale)
        db.session.commit()
    with territory_scope(desk.territory.id):
        db.session.expire_all()
        order = db.session.execute(select(Order).join(Ticket).where(Ticket.code == codes[0])).scalar_one()
        slot = db.session.get(Slot, desk.slot_id)
        assert order.status == Order.CANCELLED and order.cancel_reason == "Maltempo"
        assert order.cancelled_at == slot.cancelled_at  # not re-stamped by the late click
