"""What a citizen gets after booking: participant details, the printable tickets page with QR
codes, the .ics calendar file, the confirmation e-mail's attachments; and the check-in
page's camera scanner (progressive enhancement: typing the code always works)."""
from __future__ import annotations

import csv
import io
import re
from email import message_from_bytes
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from PIL import Image
from sqlalchemy import func, select

from marketplace.models import Order, OutboxMessage, Slot, Ticket, TicketType
from marketplace.models.catalogue import ServiceLocation
from marketplace.services import booking, tickets
from tenants.scoping import territory_scope, unscoped
from tests.conftest import login, post

ROME = ZoneInfo("Europe/Rome")


@pytest.fixture
def camp(make, db):
    """A summer camp asking each child's name and age, at a place, with one free ticket type."""
    territory = make.territory("cremona")
    coop = make.cooperative(territory, name="Il Girasole")
    service = make.service(coop, title="Centro estivo", status="published", participant_fields="name_age")
    town = make.municipality(territory, name="Crema")
    make._save(ServiceLocation(territory_id=territory.id, service_id=service.id, name="Oratorio San Luigi",
                               address="Via Roma 1", postal_code="26013", municipality_id=town.id))
    slot = make.slot(service, capacity=5, types=(("Bambino", 0, None),))
    with territory_scope(territory.id):
        type_id = db.session.execute(select(TicketType.id).where(TicketType.slot_id == slot.id)).scalar_one()
    return territory, coop, service, slot.id, type_id


def _orders(db, territory):
    with territory_scope(territory.id):
        return db.session.execute(select(func.count(Order.id))).scalar_one()


def _book_in_browser(client, territory, slot_id, type_id, people):
    url = f"/t/{territory.slug}/book/{slot_id}"
    data = {"step": "details", f"qty-{type_id}": str(len(people))}
    for i, (name, age) in enumerate(people):
        data[f"participant-{i}-name"] = name
        data[f"participant-{i}-age"] = age
    response = post(client, url, data, token_from=url)
    assert response.status_code == 302, response.get_data(as_text=True)[:1500]
    return re.search(r"/bookings/([A-Z0-9]+)", response.headers["Location"]).group(1)


def test_participants_are_asked_one_fieldset_per_seat_validated_and_stored(client, db, make, camp):
    territory, coop, service, slot_id, type_id = camp
    citizen = make.user(email="mamma@example.org", locale="en")
    login(client, citizen.email)
    url = f"/t/{territory.slug}/book/{slot_id}"

    first = client.get(url).get_data(as_text=True)
    assert "Step 1 of 2" in first and "participant-0-name" not in first

    # Step 1: the quantities; step 2 shows one labelled fieldset per seat, nothing held yet.
    step2 = post(client, url, {f"qty-{type_id}": "2"}, token_from=url)
    page = step2.get_data(as_text=True)
    assert step2.status_code == 200
    assert page.count("<fieldset") == 2 and "Participant 1" in page and "Participant 2" in page
    assert '<label class="form-label" for="participant-1-age">' in page
    assert 'name="step" value="details"' in page and f'name="qty-{type_id}" value="2"' in page
    assert _orders(db, territory) == 0

    # Missing name, age out of range, age not a number: 422, clear messages, nothing held.
    for people, message in (
        ((("", "7"), ("Luca", "9")), "Participant 1: enter the name."),
        ((("Anna", "7"), ("Luca", "")), "Participant 2: enter the age."),
        ((("Anna", "121"), ("Luca", "9")), "Participant 1: the age must be a whole number between 0 and 120."),
        ((("Anna", "sette"), ("Luca", "9")), "Participant 1: the age must be a whole number"),
    ):
        data = {"step": "details", f"qty-{type_id}": "2"}
        for i, (name, age) in enumerate(people):
            data[f"participant-{i}-name"], data[f"participant-{i}-age"] = name, age
        response = post(client, url, data, token_from=url)
        body = response.get_data(as_text=True)
        assert response.status_code == 422 and message in body, (people, body[:3000])
        assert 'aria-invalid="true"' in body and "Luca" in body  # what was typed is kept
    assert _orders(db, territory) == 0

    code = _book_in_browser(client, territory, slot_id, type_id, [("Anna Rossi", "7"), ("Luca Rossi", "0")])
    with territory_scope(territory.id):
        order = db.session.execute(select(Order).where(Order.code == code)).scalar_one()
        assert [(t.participant_name, t.participant_age) for t in order.tickets] == [("Anna Rossi", 7), ("Luca Rossi", 0)]
    detail = client.get(f"/t/{territory.slug}/bookings/{code}").get_data(as_text=True)
    assert "Anna Rossi, 7 years old" in detail and "Luca Rossi, 0 years old" in detail

    # Staff see the ages on the slot page and in the attendee CSV, in an Age column.
    staff_client = client.application.test_client()
    login(staff_client, make.staff(coop, locale="en").email)
    base = f"/t/{territory.slug}/cooperative/{coop.id}/services/{service.id}/slots/{slot_id}"
    slot_page = staff_client.get(base).get_data(as_text=True)
    assert ">Age</th>" in slot_page and "<td>7</td>" in slot_page
    rows = list(csv.reader(io.StringIO(staff_client.get(f"{base}/attendees.csv").get_data().decode("utf-8-sig")),
                           delimiter=";"))
    assert rows[0] == ["Participant", "Age", "Ticket", "Booking code", "E-mail", "Checked in"]
    assert rows[1][:3] == ["Anna Rossi", "7", "Bambino"] and rows[2][:2] == ["Luca Rossi", "0"]


def test_hold_refuses_an_age_out_of_range(app, db, camp):
    territory, _, _, slot_id, type_id = camp
    with territory_scope(territory.id):
        with pytest.raises(booking.DomainError):
            booking.hold(slot_id, {type_id: 1}, email="x@example.org", participants=[("Anna", 121)])
        db.session.rollback()
        order = booking.hold(slot_id, {type_id: 1}, email="x@example.org", participants=[("Anna", 4)])
        assert (order.tickets[0].participant_name, order.tickets[0].participant_age) == ("Anna", 4)
        db.session.rollback()


def test_tickets_page_calendar_and_access(app, client, db, make, camp):
    territory, coop, service, slot_id, type_id = camp
    citizen = make.user(email="mamma@example.org", locale="en")
    login(client, citizen.email)
    code = _book_in_browser(client, territory, slot_id, type_id, [("Anna Rossi", "7"), ("Luca Rossi", "9")])
    with territory_scope(territory.id):
        order = db.session.execute(select(Order).where(Order.code == code)).scalar_one()
        codes = [t.code for t in order.tickets]
        slot = db.session.get(Slot, slot_id)
        starts, ends = slot.starts_at, slot.ends_at

    detail = client.get(f"/t/{territory.slug}/bookings/{code}").get_data(as_text=True)
    assert f"/t/{territory.slug}/bookings/{code}/tickets" in detail
    assert f"/t/{territory.slug}/bookings/{code}/calendar.ics" in detail
    assert all(f'aria-label="QR code of ticket {c}"' in detail for c in codes)

    response = client.get(f"/t/{territory.slug}/bookings/{code}/tickets")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "css/tickets.css" in page
    for c in codes:
        assert f'<p class="ticket-code">{c}</p>' in page
        assert re.search(rf'<svg role="img" aria-label="QR code of ticket {c}"[^>]*>.*?</svg>', page, re.S)
    assert page.count("<article") == 2 and page.count("<svg") == 2
    assert "Centro estivo" in page and "Oratorio San Luigi, Via Roma 1, 26013 Crema" in page
    assert "Anna Rossi, 7 years old" in page and territory.name in page
    local = starts.astimezone(ROME)
    assert f"{local:%-I:%M}" in page  # the time as in Italy, not UTC

    ics = client.get(f"/t/{territory.slug}/bookings/{code}/calendar.ics")
    assert ics.status_code == 200 and ics.headers["Content-Type"].startswith("text/calendar")
    assert f'filename="prenotazione-{code}.ics"' in ics.headers["Content-Disposition"]
    cal = Calendar.from_ical(ics.get_data())
    (event,) = cal.walk("VEVENT")
    assert str(event["UID"]) == f"{code}-{slot_id}@localhost"
    assert event.decoded("DTSTART") == starts and event.decoded("DTEND") == ends
    assert event["DTSTART"].params["TZID"] == "Europe/Rome"
    assert cal.walk("VTIMEZONE")[0]["TZID"] == "Europe/Rome"
    assert str(event["SUMMARY"]) == "Centro estivo" and "Oratorio San Luigi" in str(event["LOCATION"])
    assert all(c in str(event["DESCRIPTION"]) for c in codes) and f"/bookings/{code}" in str(event["DESCRIPTION"])
    assert (str(event["STATUS"]), int(event["SEQUENCE"])) == ("CONFIRMED", 0)

    # Another citizen: 404 for the tickets and the calendar.
    other = app.test_client()
    login(other, make.user().email)
    assert other.get(f"/t/{territory.slug}/bookings/{code}/tickets").status_code == 404
    assert other.get(f"/t/{territory.slug}/bookings/{code}/calendar.ics").status_code == 404

    # Cancelled: the same event, now CANCELLED with a higher sequence; no tickets to show.
    post(client, f"/t/{territory.slug}/bookings/{code}/cancel", {}, token_from=f"/t/{territory.slug}/bookings/{code}")
    cal = Calendar.from_ical(client.get(f"/t/{territory.slug}/bookings/{code}/calendar.ics").get_data())
    (event,) = cal.walk("VEVENT")
    assert str(event["UID"]) == f"{code}-{slot_id}@localhost"
    assert (str(event["STATUS"]), int(event["SEQUENCE"])) == ("CANCELLED", 1)
    page = client.get(f"/t/{territory.slug}/bookings/{code}/tickets").get_data(as_text=True)
    assert "<svg" not in page and not any(c in page for c in codes)


def test_qr_png_is_a_valid_image_that_grows_with_its_content():
    small, large = tickets.qr_png("ABCDEFGHJK"), tickets.qr_png("ABCDEFGHJK" * 12)
    with Image.open(io.BytesIO(small)) as a, Image.open(io.BytesIO(large)) as b:
        assert a.format == b.format == "PNG"
        assert a.size[0] == a.size[1] and b.size[0] > a.size[0]
    svg = tickets.qr_svg("ABCDEFGHJK")
    assert svg.startswith('<svg role="img" aria-label="ABCDEFGHJK"') and "<title>ABCDEFGHJK</title>" in svg


def test_confirmation_email_lists_tickets_and_builds_its_attachments(app, client, db, make, camp, monkeypatch):
    territory, coop, service, slot_id, type_id = camp
    login(client, make.user(email="mamma@example.org", locale="en").email)
    code = _book_in_browser(client, territory, slot_id, type_id, [("Anna Rossi", "7"), ("Luca Rossi", "9")])
    with territory_scope(territory.id):
        order = db.session.execute(select(Order).where(Order.code == code)).scalar_one()
        codes, order_id = [t.code for t in order.tickets], order.id
    (mail,) = db.session.execute(select(OutboxMessage).where(OutboxMessage.to_email == "mamma@example.org")).scalars()
    assert mail.attachments == f"order:{order_id}" and mail.subject == "Booking confirmed: Centro estivo"
    assert all(c in mail.body_text for c in codes) and "Anna Rossi (7 years old)" in mail.body_text
    assert f"/bookings/{code}/tickets" in mail.body_text and f"/bookings/{code}/calendar.ics" in mail.body_text

    from marketplace.jobs import build_email, deliver_email

    with unscoped():
        email = build_email(db.session.get(OutboxMessage, mail.id))
    parts = [(p.get_content_type(), p.get_filename()) for p in email.iter_attachments()]
    assert parts[0] == ("text/calendar", f"prenotazione-{code}.ics")
    assert sorted(parts[1:]) == sorted(("image/png", f"biglietto-{c}.png") for c in codes)
    ics = next(email.iter_attachments()).get_content()
    assert Calendar.from_ical(ics).walk("VEVENT")[0]["UID"] == f"{code}-{slot_id}@localhost"

    # Sent by SMTP at delivery time with those attachments (a stand-in server records it).
    sent = []

    class FakeSMTP:
        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def starttls(self, context=None):  # smtplib.SMTP.starttls takes the TLS context
            pass

        def login(self, *args):
            pass

        def send_message(self, message):
            sent.append(message.as_bytes())

    monkeypatch.setattr("marketplace.jobs.smtplib.SMTP", FakeSMTP)
    monkeypatch.setitem(app.config, "SMTP_HOST", "mail.example.org")
    with unscoped():
        db.session.get(OutboxMessage, mail.id).sent_at = None
        db.session.commit()
    deliver_email(mail.id)
    (raw,) = sent
    received = message_from_bytes(raw)
    types = [p.get_content_type() for p in received.walk() if p.get_filename()]
    assert types.count("text/calendar") == 1 and types.count("image/png") == 2

    # The operator's outbox says the message has attachments.
    admin = app.test_client()
    login(admin, make.user(email="ops@example.org", is_platform_admin=True, locale="en").email)
    assert "With attachments" in admin.get("/admin/outbox").get_data(as_text=True)
    assert "calendar file (.ics)" in admin.get(f"/admin/outbox/{mail.id}").get_data(as_text=True)


def test_an_unknown_attachment_reference_sends_the_email_without_attachments(app, db):
    with app.test_request_context():
        assert tickets.attachments_for("order:999999") == [] and tickets.attachments_for("nonsense") == []


def test_check_in_page_offers_camera_scanning_and_typing_still_works(client, db, make):
    territory = make.territory("cremona")
    coop = make.cooperative(territory)
    service = make.service(coop, title="Laboratorio", status="published")
    slot = make.slot(service, capacity=5, types=(("Gratuito", 0, None),))
    with territory_scope(territory.id):
        type_id = db.session.execute(select(TicketType.id).where(TicketType.slot_id == slot.id)).scalar_one()
        order = booking.hold(slot.id, {type_id: 1}, email="f@example.org", participants=["Anna Rossi"])
        booking.confirm_free(order)
        db.session.commit()
        code = order.tickets[0].code
    login(client, make.staff(coop, locale="en").email)
    url = f"/t/{territory.slug}/cooperative/{coop.id}/services/{service.id}/slots/{slot.id}/check-in"
    response = client.get(url)
    page = response.get_data(as_text=True)
    # The scanner is hidden until the script finds BarcodeDetector and a camera.
    assert re.search(r'<div id="scan"[^>]*\bhidden\b', page)
    assert '<button class="btn btn-outline-primary" type="button" id="scan-start">Scan with camera</button>' in page
    assert '<script src="/static/js/checkin-scan.js" defer></script>' in page
    assert 'id="checkin-form"' in page and '<label class="form-label fw-semibold" for="code">' in page
    csp = response.headers["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]*)", csp).group(1).split()
    assert script_src == ["'self'"]  # the script is served from 'self', no inline script allowed
    assert "camera=(self)" in response.headers["Permissions-Policy"]
    script = client.get("/static/js/checkin-scan.js").get_data(as_text=True)
    assert "'BarcodeDetector' in window" in script.replace('"', "'") and "environment" in script

    typed = post(client, url, {"code": code.lower()}, token_from=url)
    assert typed.status_code == 200 and "Anna Rossi" in typed.get_data(as_text=True)
    with territory_scope(territory.id):
        assert db.session.execute(select(Ticket.checked_in_at).where(Ticket.code == code)).scalar_one() is not None
