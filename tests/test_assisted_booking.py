"""Staff book for a citizen who is not online: at the territory's help desk or at a
cooperative's counter. Found or created by e-mail or phone, consent recorded, paid at the
desk or by an e-mailed link, confirmation to the citizen, tickets checked in at the door."""
from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from marketplace.models import LedgerEntry, Membership, Order, OutboxMessage, Payment, Ticket, User
from marketplace.models.base import utcnow
from tenants.scoping import territory_scope, unscoped
from tests.conftest import login, post


@pytest.fixture
def desk(app, make):
    """A territory with a cooperative's free and paid dates, a help-desk operator and a
    citizen who already has an account and is known in the territory."""
    territory = make.territory("pianura")
    coop = make.cooperative(territory, name="Cooperativa Girasole")
    service = make.service(coop, status="published", title="Visita al museo")
    free = make.slot(service, capacity=5, types=(("Gratuito", 0, None),))
    paid = make.slot(service, capacity=5, types=(("Intero", 1200, None), ("Ridotto", 800, None)))
    operator = make.user(email="sportello@pianura.example", full_name="Paola Sportello", locale="en")
    make.membership(territory, operator, Membership.HELP_DESK)
    citizen = make.user(email="Mario.Rossi@example.org", full_name="Mario Rossi", phone="333 123 4567")
    # Known in this territory (the cooperative serves him): desks may find him. An account with no
    # record here is not found (tests/test_privacy_security.py).
    make.beneficiary(coop, user_id=citizen.id)
    free_type, = _type_ids(app, free)
    paid_types = _type_ids(app, paid)
    return SimpleNamespace(territory=territory, coop=coop, service=service, free=free, paid=paid,
                           free_type=free_type, paid_types=paid_types, operator=operator, citizen=citizen,
                           base=f"/t/{territory.slug}/helpdesk")


def _type_ids(app, slot) -> list[int]:
    from marketplace.extensions import db
    from marketplace.models import TicketType

    with app.app_context(), unscoped():
        return list(db.session.execute(select(TicketType.id).where(TicketType.slot_id == slot.id)
                                       .order_by(TicketType.position)).scalars())


def _find(client, d, contact):
    return post(client, f"{d.base}/", {"find-contact": contact}, token_from=f"{d.base}/")


def _book(client, d, slot, citizen_id, data, base=None):
    base = base or d.base
    return post(client, f"{base}/book/{slot.id}?citizen={citizen_id}", data, token_from=f"{base}/")


def _outbox(db, to):
    return db.session.execute(select(OutboxMessage).where(OutboxMessage.to_email == to)
                              .order_by(OutboxMessage.id)).scalars().all()


def _orders(db, territory):
    with territory_scope(territory.id):
        db.session.expire_all()
        return db.session.execute(select(Order).order_by(Order.id)).scalars().all()


def test_operator_finds_a_citizen_by_email_and_by_phone(client, desk):
    login(client, desk.operator.email)
    page = _find(client, desk, "  mario.rossi@EXAMPLE.org ").get_data(as_text=True)
    assert "Mario Rossi" in page and f"citizen={desk.citizen.id}" in page
    # The same number written another way (international prefix, no spaces).
    page = _find(client, desk, "+39 333-1234567").get_data(as_text=True)
    assert "Mario Rossi" in page
    page = _find(client, desk, "0039 3331234567").get_data(as_text=True)
    assert "Mario Rossi" in page
    page = _find(client, desk, "333 765 4321").get_data(as_text=True)
    assert "Mario Rossi" not in page and "No account has this e-mail or phone number" in page
    # Partial matches find nobody: the desk is not a directory of citizens.
    assert "Mario Rossi" not in _find(client, desk, "mario").get_data(as_text=True)


def test_a_citizen_id_not_found_at_the_desk_cannot_be_booked_for(client, desk, db):
    login(client, desk.operator.email)
    response = client.get(f"{desk.base}/book/{desk.free.id}?citizen={desk.citizen.id}")
    assert response.status_code == 302 and response.headers["Location"].endswith("/helpdesk/")
    response = _book(client, desk, desk.free, desk.citizen.id, {f"qty-{desk.free_type}": "1", "consent": "y"})
    assert response.status_code == 302
    assert _orders(db, desk.territory) == []


def test_new_citizen_booked_a_free_date_with_consent(app, client, desk, db):
    login(client, desk.operator.email)
    response = post(client, f"{desk.base}/citizens/new", {
        "new-full_name": "Anna Bianchi", "new-email": "Anna.Bianchi@example.org", "new-phone": "",
        "new-language": "it"}, token_from=f"{desk.base}/")
    assert response.status_code == 302
    anna = db.session.execute(select(User).where(User.email == "anna.bianchi@example.org")).scalar_one()
    assert anna.password_hash == "" and anna.locale == "it"
    assert f"citizen={anna.id}" in response.headers["Location"]
    welcome = _outbox(db, "anna.bianchi@example.org")
    assert len(welcome) == 1 and "/account/reset/" in welcome[0].body_text

    dates = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Visita al museo" in dates and f"/helpdesk/book/{desk.free.id}?citizen={anna.id}" in dates

    response = _book(client, desk, desk.free, anna.id, {
        f"qty-{desk.free_type}": "2", "participant": ["Anna Bianchi", "Luca Bianchi"], "consent": "y"})
    assert response.status_code == 302
    (order,) = _orders(db, desk.territory)
    assert (order.user_id, order.booked_by_id, order.channel) == (anna.id, desk.operator.id, Order.HELP_DESK)
    assert order.status == Order.PAID and order.consent_at is not None
    assert order.email == "anna.bianchi@example.org"
    with territory_scope(desk.territory.id):
        codes = [t.code for t in db.session.get(Order, order.id).tickets]

    # The printable confirmation the operator hands over.
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert order.code in page and all(c in page for c in codes) and "Luca Bianchi" in page
    assert "Booked on your behalf by Paola Sportello at the Territorio Pianura help desk" in page
    # The citizen's confirmation, in Italian (their language).
    mails = _outbox(db, "anna.bianchi@example.org")
    assert len(mails) == 2
    assert mails[1].subject.startswith("Prenotazione confermata") and all(c in mails[1].body_text for c in codes)

    # Anna chooses a password with the link she was sent and sees who booked for her.
    link = re.search(r"https?://\S+/account/reset/\S+", welcome[0].body_text).group(0)
    path = link.split("localhost", 1)[1]
    citizen_client = app.test_client()
    response = post(citizen_client, path, {"password": "anna-new-password-1", "confirm": "anna-new-password-1"},
                    token_from=path)
    assert response.status_code == 302
    login(citizen_client, "anna.bianchi@example.org", "anna-new-password-1")
    page = citizen_client.get(f"/t/{desk.territory.slug}/bookings/{order.code}").get_data(as_text=True)
    assert "Paola Sportello" in page
    assert all(c in page for c in codes)

    # The operator's list of the bookings they made.
    assert order.code in client.get(f"{desk.base}/bookings").get_data(as_text=True)


def test_citizen_with_a_phone_only_gets_no_e_mail_and_pays_at_the_desk(client, desk, db):
    login(client, desk.operator.email)
    before = db.session.execute(select(func.count(OutboxMessage.id))).scalar_one()
    response = post(client, f"{desk.base}/citizens/new", {
        "new-full_name": "Giuseppe Verdi", "new-email": "", "new-phone": "0372 40 50 60", "new-language": "it"},
        token_from=f"{desk.base}/")
    assert response.status_code == 302
    giuseppe = db.session.execute(select(User).where(User.full_name == "Giuseppe Verdi")).scalar_one()
    assert giuseppe.phone == "+390372405060" and not giuseppe.has_email
    # Found again by phone, the second time he comes.
    assert "Giuseppe Verdi" in _find(client, desk, "037240 5060").get_data(as_text=True)
    # A second account for the same phone without an e-mail is refused.
    response = post(client, f"{desk.base}/citizens/new", {
        "new-full_name": "G. Verdi", "new-phone": "+39 0372 405060", "new-language": "it"}, token_from=f"{desk.base}/")
    assert response.status_code == 422 and "already exists" in response.get_data(as_text=True)

    # No e-mail: the payment link cannot be chosen.
    response = _book(client, desk, desk.paid, giuseppe.id,
                     {f"qty-{desk.paid_types[0]}": "1", "consent": "y", "payment": "link"})
    assert response.status_code == 422 and "no e-mail address" in response.get_data(as_text=True)
    response = _book(client, desk, desk.paid, giuseppe.id,
                     {f"qty-{desk.paid_types[0]}": "1", "consent": "y", "payment": "desk"})
    assert response.status_code == 302
    (order,) = _orders(db, desk.territory)
    assert order.status == Order.PAID and order.email == ""
    assert db.session.execute(select(func.count(OutboxMessage.id))).scalar_one() == before


def test_missing_consent_is_refused_and_holds_nothing(client, desk, db):
    login(client, desk.operator.email)
    _find(client, desk, desk.citizen.email)
    response = _book(client, desk, desk.free, desk.citizen.id, {f"qty-{desk.free_type}": "1"})
    assert response.status_code == 422
    assert "Confirm that the citizen agreed to this booking" in response.get_data(as_text=True)
    assert _orders(db, desk.territory) == []
    assert _outbox(db, desk.citizen.email) == []


def test_paid_at_the_desk_confirms_the_payment_through_the_ledger(app, client, desk, db):
    login(client, desk.operator.email)
    _find(client, desk, desk.citizen.email)
    adult, reduced = desk.paid_types
    response = _book(client, desk, desk.paid, desk.citizen.id,
                     {f"qty-{adult}": "1", f"qty-{reduced}": "1", "consent": "y", "payment": "desk"})
    assert response.status_code == 302
    (order,) = _orders(db, desk.territory)
    assert order.status == Order.PAID and order.total_cents == 2000 and order.paid_at is not None
    with territory_scope(desk.territory.id):
        (payment,) = db.session.execute(select(Payment).where(Payment.order_id == order.id)).scalars().all()
        assert (payment.provider, payment.status, payment.amount_cents) == ("desk", Payment.CONFIRMED, 2000)
        assert f"-u{desk.operator.id}" in payment.provider_ref  # who took the money
        entries = db.session.execute(select(LedgerEntry).where(LedgerEntry.order_id == order.id)).scalars().all()
        assert [(e.kind, e.amount_cents, e.provider) for e in entries] == [(LedgerEntry.CHARGE, 2000, "desk")]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "20,00" in page or "20.00" in page
    assert any(order.code in m.body_text for m in _outbox(db, "mario.rossi@example.org"))

    # Cash is given back at the desk: the citizen cannot cancel it online and lose it.
    citizen_client = app.test_client()
    login(citizen_client, desk.citizen.email)
    detail = f"/t/{desk.territory.slug}/bookings/{order.code}"
    assert "Prenotato per tuo conto da Paola Sportello allo sportello di Territorio Pianura" in \
        citizen_client.get(detail).get_data(as_text=True)
    post(citizen_client, f"{detail}/cancel", {}, token_from=detail)
    (order,) = _orders(db, desk.territory)
    assert order.status == Order.PAID


def test_payment_link_holds_the_seats_longer_and_e_mails_the_checkout(app, client, desk, db):
    login(client, desk.operator.email)
    _find(client, desk, "3331234567")
    response = _book(client, desk, desk.paid, desk.citizen.id,
                     {f"qty-{desk.paid_types[0]}": "2", "consent": "y", "payment": "link"})
    assert response.status_code == 302
    (order,) = _orders(db, desk.territory)
    assert order.status == Order.PENDING and order.total_cents == 2400
    hours = app.config["ASSISTED_HOLD_HOURS"]
    assert utcnow() + dt.timedelta(hours=hours - 1) < order.hold_expires_at <= utcnow() + dt.timedelta(hours=hours)
    (mail,) = _outbox(db, "mario.rossi@example.org")
    assert f"/t/{desk.territory.slug}/bookings/{order.code}/checkout" in mail.body_text
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "link to pay online" in page


def test_the_hold_for_a_payment_link_never_outlasts_the_date(app, client, make, desk, db):
    soon = make.slot(desk.service, capacity=5, starts_in=dt.timedelta(hours=3), types=(("Intero", 500, None),))
    (type_id,) = _type_ids(app, soon)
    with territory_scope(desk.territory.id):
        from marketplace.models import Slot

        starts = db.session.get(Slot, soon.id).starts_at
    login(client, desk.operator.email)
    _find(client, desk, desk.citizen.email)
    assert _book(client, desk, soon, desk.citizen.id,
                 {f"qty-{type_id}": "1", "consent": "y", "payment": "link"}).status_code == 302
    (order,) = _orders(db, desk.territory)
    assert order.hold_expires_at == starts


def test_the_full_date_rule_still_applies(app, client, make, desk, db):
    small = make.slot(desk.service, capacity=1, types=(("Gratuito", 0, None),))
    (type_id,) = _type_ids(app, small)
    login(client, desk.operator.email)
    _find(client, desk, desk.citizen.email)
    response = _book(client, desk, small, desk.citizen.id, {f"qty-{type_id}": "2", "consent": "y"})
    assert response.status_code == 422 and "only 1 seats are left" in response.get_data(as_text=True)
    assert _book(client, desk, small, desk.citizen.id, {f"qty-{type_id}": "1", "consent": "y"}).status_code == 302
    response = _book(client, desk, small, desk.citizen.id, {f"qty-{type_id}": "1", "consent": "y"})
    assert response.status_code == 422 and "this date is full" in response.get_data(as_text=True)
    assert len(_orders(db, desk.territory)) == 1


def test_only_help_desk_operators_and_coordinators_use_the_help_desk(app, client, make, desk):
    citizen_client = app.test_client()
    login(citizen_client, desk.citizen.email)
    assert citizen_client.get(f"{desk.base}/").status_code == 403
    assert _find(citizen_client, desk, desk.citizen.email).status_code == 403
    staff_client = app.test_client()
    login(staff_client, make.staff(desk.coop).email)
    assert staff_client.get(f"{desk.base}/").status_code == 403
    coordinator_client = app.test_client()
    login(coordinator_client, make.coordinator(desk.territory).email)
    assert "Mario Rossi" in _find(coordinator_client, desk, desk.citizen.email).get_data(as_text=True)
    # Another territory's operator is nobody here.
    other = make.territory("montagna")
    outsider = make.user()
    make.membership(other, outsider, Membership.HELP_DESK)
    outsider_client = app.test_client()
    login(outsider_client, outsider.email)
    assert outsider_client.get(f"{desk.base}/").status_code == 403
    assert outsider_client.get(f"/t/{other.slug}/helpdesk/").status_code == 200
    # The operator role gives no coordination rights.
    login(client, desk.operator.email)
    assert client.get(f"/t/{desk.territory.slug}/coordinator/").status_code == 403


def test_cooperative_staff_book_their_own_services_and_check_in_the_tickets(app, client, make, desk, db):
    staff = make.staff(desk.coop, full_name="Carla Girasole", locale="en")
    base = f"/t/{desk.territory.slug}/cooperative/{desk.coop.id}/assisted"
    login(client, staff.email)
    page = post(client, f"{base}/", {"find-contact": desk.citizen.email}, token_from=f"{base}/").get_data(as_text=True)
    assert "Mario Rossi" in page
    # Another cooperative's published date is not theirs to book.
    other_coop = make.cooperative(desk.territory)
    other_service = make.service(other_coop, status="published", title="Laboratorio di ceramica")
    other_slot = make.slot(other_service, capacity=5)
    assert "Laboratorio di ceramica" not in client.get(f"{base}/services?citizen={desk.citizen.id}").get_data(as_text=True)
    url = f"{base}/book/{other_slot.id}?citizen={desk.citizen.id}"
    assert client.get(url).status_code == 404
    assert post(client, url, {"consent": "y"}, token_from=f"{base}/").status_code == 404

    response = _book(client, desk, desk.free, desk.citizen.id,
                     {f"qty-{desk.free_type}": "1", "participant": "Mario Rossi", "consent": "y"}, base=base)
    assert response.status_code == 302
    (order,) = _orders(db, desk.territory)
    assert (order.channel, order.booked_by_id, order.user_id) == (Order.COOPERATIVE, staff.id, desk.citizen.id)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Booked on your behalf by Carla Girasole of Cooperativa Girasole" in page
    assert order.code in client.get(f"{base}/bookings").get_data(as_text=True)

    # At the door: the attendee list marks the assisted booking and the ticket checks in.
    slot_url = f"/t/{desk.territory.slug}/cooperative/{desk.coop.id}/services/{desk.service.id}/slots/{desk.free.id}"
    assert "Booked by staff" in client.get(slot_url).get_data(as_text=True)
    with territory_scope(desk.territory.id):
        ticket_code = db.session.execute(select(Ticket.code).where(Ticket.order_id == order.id)).scalar_one()
    assert post(client, f"{slot_url}/check-in", {"code": ticket_code}, token_from=f"{slot_url}/check-in").status_code == 200
    with territory_scope(desk.territory.id):
        assert db.session.execute(select(Ticket.checked_in_at).where(Ticket.code == ticket_code)).scalar_one()

    # A help-desk operator does not see the cooperative's booking; staff of another
    # cooperative are refused at the door of this one's counter.
    operator_client = app.test_client()
    login(operator_client, desk.operator.email)
    assert operator_client.get(f"{desk.base}/bookings/{order.code}").status_code == 404
    stranger = app.test_client()
    login(stranger, make.staff(other_coop).email)
    assert stranger.get(f"{base}/").status_code == 403
    assert stranger.get(f"{base}/bookings/{order.code}").status_code == 403
    other_base = f"/t/{desk.territory.slug}/cooperative/{other_coop.id}/assisted"
    assert stranger.get(f"{other_base}/bookings/{order.code}").status_code == 404


def test_coordinator_invites_a_help_desk_operator(app, client, make, desk, db):
    coordinator = make.coordinator(desk.territory, locale="en")
    login(client, coordinator.email)
    team = f"/t/{desk.territory.slug}/coordinator/team"
    response = post(client, team, {"email": "social.point@example.org", "role": "help_desk"}, token_from=team)
    assert response.status_code == 302
    (mail,) = _outbox(db, "social.point@example.org")
    assert "help desk" in mail.subject.lower() or "sportello" in mail.subject.lower()
    link = re.search(r"https?://\S+/account/invitation/\S+", mail.body_text).group(0)
    path = link.split("localhost", 1)[1]
    newcomer = make.user(email="social.point@example.org")
    operator_client = app.test_client()
    login(operator_client, newcomer.email)
    response = post(operator_client, path, {}, token_from=path)
    assert response.status_code == 302 and response.headers["Location"].endswith("/helpdesk/")
    assert operator_client.get(f"{desk.base}/").status_code == 200
    assert "social.point@example.org" in client.get(team).get_data(as_text=True)


def test_desk_provider_refunds_without_calling_anyone(app, client, desk, db):
    """What the refund dispatcher relies on: the desk provider's refund gives a reference
    (money handed back at the desk) and the ledger records it once."""
    from marketplace.extensions import db as _db
    from payments import ledger
    from payments.providers import get_provider

    login(client, desk.operator.email)
    _find(client, desk, desk.citizen.email)
    _book(client, desk, desk.paid, desk.citizen.id, {f"qty-{desk.paid_types[0]}": "1", "consent": "y", "payment": "desk"})
    with territory_scope(desk.territory.id):
        payment = _db.session.execute(select(Payment)).scalar_one()
        provider = get_provider("desk")
        assert provider.fetch(payment.provider_ref).state == "succeeded"
        ref = provider.refund(payment, 500, idempotency_key="refund:x:0:500")
        assert ref == provider.refund(payment, 500, idempotency_key="refund:x:0:500")
        payment = ledger.lock_payment(payment.id)
        ledger.record(payment, LedgerEntry.REFUND, 500, idempotency_key=f"desk:{ref}", provider_ref=ref)
        ledger.record(payment, LedgerEntry.REFUND, 500, idempotency_key=f"desk:{ref}", provider_ref=ref)
        _db.session.commit()
        order = _db.session.get(Order, payment.order_id)
        assert ledger.balance(order) == 700


def test_the_desk_cancels_a_booking_paid_at_the_desk_and_the_ledger_gives_the_money_back(app, client, desk, db):
    login(client, desk.operator.email)
    _find(client, desk, desk.citizen.email)
    adult, reduced = desk.paid_types
    response = _book(client, desk, desk.paid, desk.citizen.id,
                     {f"qty-{adult}": "1", f"qty-{reduced}": "1", "consent": "y", "payment": "desk"})
    confirmation = response.headers["Location"]
    page = client.get(confirmation).get_data(as_text=True)
    assert "Cancel the booking" in page or "Annulla la prenotazione" in page
    (order,) = _orders(db, desk.territory)
    # Without the CSRF token nothing happens.
    assert client.post(f"{confirmation}/cancel").status_code == 400
    response = post(client, f"{confirmation}/cancel", {}, token_from=confirmation)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert ("20,00" in page or "20.00" in page) and "hand back what was paid at the desk" in page
    (order,) = _orders(db, desk.territory)
    assert order.status == Order.CANCELLED
    with territory_scope(desk.territory.id):
        entries = db.session.execute(select(LedgerEntry).where(LedgerEntry.order_id == order.id)
                                     .order_by(LedgerEntry.id)).scalars().all()
        assert [(e.kind, e.amount_cents, e.provider) for e in entries] == [
            (LedgerEntry.CHARGE, 2000, "desk"), (LedgerEntry.REFUND, -2000, "desk")]
        (payment,) = db.session.execute(select(Payment).where(Payment.order_id == order.id)).scalars().all()
        assert payment.status == Payment.REFUNDED and payment.refunded_cents == 2000
    # A second click refunds nothing more.
    post(client, f"{confirmation}/cancel", {}, token_from=confirmation)
    with territory_scope(desk.territory.id):
        assert len(db.session.execute(select(LedgerEntry).where(LedgerEntry.order_id == order.id)).all()) == 2
