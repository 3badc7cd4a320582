"""Cooperative staff record deliveries: a one-off visit through the form (with outcomes),
the attendance of a date from its check-in list, and the month's list with totals."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from marketplace.models import (
    AuditEntry, Beneficiary, DeliveryRecord, Order, OutcomeValue, Payment, Ticket, TicketType,
)
from tenants.scoping import territory_scope
from tests.conftest import login, post

ROME = ZoneInfo("Europe/Rome")


def _today():
    return dt.datetime.now(ROME).date()


def _world(make):
    alpha = make.territory("alpha")
    coop = make.cooperative(alpha, name="Il Girasole")
    staff = make.staff(coop, locale="en")
    care = make.service(coop, status="published", title="Assistenza domiciliare")
    lab = make.service(coop, status="published", title="Laboratorio")
    town = make.municipality(alpha, name="Crema")
    autonomy = make.indicator(alpha, "autonomy", kind="scale_1_5", name="Autonomia")
    respite = make.indicator(alpha, "respite_hours", name="Ore di sollievo", unit="ore")
    make.service_indicator(care, autonomy)
    make.service_indicator(lab, respite)
    funder = make.funder(alpha, name="Comune di Crema")
    return alpha, coop, staff, care, lab, town, funder


def _records(db, territory_id):
    db.session.expire_all()
    with territory_scope(territory_id):
        return db.session.execute(select(DeliveryRecord).order_by(DeliveryRecord.id)).scalars().all()


def _visit(care, **kw):
    data = {"service_id": str(care.id), "beneficiary_ref": "PZ-001", "date": _today().isoformat(),
            "start_time": "09:30", "duration_minutes": "90", "at_home": "yes", "municipality": "Crema",
            "location": "", "operator": "OSS", "activity_type": "Igiene personale",
            "funding_source": "municipal_contract", "funder": "Comune di Crema", "cost_eur": "37,50",
            "notes": "", "outcome_autonomy": "4", "outcome_respite_hours": ""}
    data.update(kw)
    return data


def test_a_home_visit_is_recorded_with_its_outcomes(client, db, make):
    alpha, coop, staff, care, lab, town, funder = _world(make)
    login(client, staff.email)
    url = f"/t/alpha/cooperative/{coop.id}/deliveries/new"
    page = client.get(url).get_data(as_text=True)
    assert "Autonomia (only for: Assistenza domiciliare)" in page
    assert "Ore di sollievo (ore) (only for: Laboratorio)" in page
    assert "Municipal or district contract" in page and "Comune di Crema" in page

    response = post(client, url, _visit(care), token_from=url)
    assert response.status_code == 302
    (record,) = _records(db, alpha.id)
    with territory_scope(alpha.id):
        record = db.session.get(DeliveryRecord, record.id)
        assert record.source == DeliveryRecord.FORM and record.external_id.startswith("F-")
        assert (record.service_id, record.duration_minutes, record.at_home, record.municipality_id,
                record.funding_source, record.funder_id, record.cost_cents, record.created_by_id) == \
            (care.id, 90, True, town.id, "municipal_contract", funder.id, 3750, staff.id)
        assert [(o.indicator.code, o.value) for o in record.outcomes] == [("autonomy", 4)]
        assert record.beneficiary.external_ref == "PZ-001"
        pseudonym = record.beneficiary.pseudonym
    listing = client.get(response.headers["Location"]).get_data(as_text=True)
    assert pseudonym in listing and "PZ-001" in listing and "37.50" in listing
    # The second visit to the same person reuses the beneficiary, and the datalist offers it.
    assert 'value="PZ-001"' in client.get(url).get_data(as_text=True)
    assert post(client, url, _visit(care, outcome_autonomy="5"), token_from=url).status_code == 302
    with territory_scope(alpha.id):
        assert db.session.execute(select(func.count(Beneficiary.id))).scalar_one() == 1


def test_form_errors_are_shown_next_to_their_fields_and_nothing_is_saved(client, db, make):
    alpha, coop, staff, care, lab, town, funder = _world(make)
    login(client, staff.email)
    url = f"/t/alpha/cooperative/{coop.id}/deliveries/new"
    tomorrow = (_today() + dt.timedelta(days=1)).isoformat()
    cases = [
        ({"service_id": ""}, "service_id", "Required."),
        ({"beneficiary_ref": "PZ 1"}, "beneficiary_ref", "no spaces"),
        ({"date": tomorrow}, "date", "cannot be in the future"),
        ({"duration_minutes": "0"}, "duration_minutes", "from 1 to 1440"),
        ({"municipality": ""}, "municipality", "give the municipality"),
        ({"cost_eur": "-5"}, "cost_eur", "cannot be negative"),
        ({"outcome_autonomy": "9"}, "outcome_autonomy", "from 1 to 5"),
        ({"outcome_respite_hours": "3"}, "outcome_respite_hours", "does not record this outcome"),
        ({"funding_source": "lottery"}, "funding_source", "Use one of"),
    ]
    for change, field, message in cases:
        response = post(client, url, _visit(care, **change), token_from=url)
        body = response.get_data(as_text=True)
        assert response.status_code == 422, change
        assert f'id="{field}-error">{message}' in body or (
            f'id="{field}-error"' in body and message in body.split(f'id="{field}-error"')[1][:300]), change
    assert _records(db, alpha.id) == []
    with territory_scope(alpha.id):
        assert db.session.execute(select(func.count(Beneficiary.id))).scalar_one() == 0
    # Without the CSRF token: refused too.
    assert client.post(url, data=_visit(care)).status_code in (400, 422)
    assert _records(db, alpha.id) == []


def test_the_month_list_filters_by_service_and_totals(client, db, make):
    alpha, coop, staff, care, lab, town, funder = _world(make)
    login(client, staff.email)
    url = f"/t/alpha/cooperative/{coop.id}/deliveries/new"
    today = _today()
    last_month = today.replace(day=1) - dt.timedelta(days=1)
    for data in (_visit(care), _visit(care, duration_minutes="30", cost_eur="10"),
                 _visit(lab, at_home="no", municipality="", outcome_autonomy="", outcome_respite_hours="2",
                        cost_eur=""),
                 _visit(care, date=last_month.isoformat())):
        assert post(client, url, data, token_from=url).status_code == 302
    base = f"/t/alpha/cooperative/{coop.id}/deliveries"
    page = client.get(base).get_data(as_text=True)
    assert 'id="total-records">3<' in page and 'id="total-hours">3.5<' in page and "47.50" in page
    only_lab = client.get(f"{base}?service={lab.id}").get_data(as_text=True)
    assert 'id="total-records">1<' in only_lab and 'id="total-hours">1.5<' in only_lab
    earlier = client.get(f"{base}?month={last_month:%Y-%m}").get_data(as_text=True)
    assert 'id="total-records">1<' in earlier
    assert client.get(f"{base}?month=2026-13").status_code == 404
    with territory_scope(alpha.id):
        subjects = db.session.execute(select(AuditEntry.subject)).scalars().all()
    assert f"deliveries:{today:%Y-%m}" in subjects   # looking at records of people is logged


def _paid_order(db, territory_id, slot_id, type_id, user_id, names, price, provider=None, **payment):
    with territory_scope(territory_id):
        order = Order(territory_id=territory_id, user_id=user_id, email="famiglia@example.org",
                      status=Order.PAID, total_cents=price * len(names))
        db.session.add(order)
        db.session.flush()
        for name in names:
            db.session.add(Ticket(territory_id=territory_id, order_id=order.id, slot_id=slot_id,
                                  ticket_type_id=type_id, price_cents=price, participant_name=name))
        if provider:
            db.session.add(Payment(territory_id=territory_id, order_id=order.id, provider=provider,
                                   amount_cents=price * len(names), status=Payment.CONFIRMED, **payment))
        db.session.commit()
        return [t.code for t in order.tickets]


def test_attendance_of_a_date_becomes_delivery_records_once(client, db, make):
    alpha, coop, staff, care, lab, town, funder = _world(make)
    slot = make.slot(lab, starts_in=-dt.timedelta(hours=3), types=(("Intero", 1500, None),))
    later = make.slot(lab, starts_in=dt.timedelta(days=2), types=(("Intero", 1500, None),))
    with territory_scope(alpha.id):
        type_id = db.session.execute(select(TicketType.id).where(TicketType.slot_id == slot.id)).scalar_one()
    mother, father, single = make.user(), make.user(), make.user()
    voucher = make.voucher(make.programme(funder), holder=mother)
    employer = make.funder(alpha, kind="employer", name="Azienda Spa")
    credit = make.welfare_credit(make.employee(employer, father))
    anna, luca = _paid_order(db, alpha.id, slot.id, type_id, mother.id, ["Anna Rossi", "Luca Rossi"], 1500,
                             "voucher", voucher_id=voucher.id)
    (marco,) = _paid_order(db, alpha.id, slot.id, type_id, father.id, ["Marco Bianchi"], 1500,
                           "welfare_credit", credit_id=credit.id)
    (self_ticket,) = _paid_order(db, alpha.id, slot.id, type_id, single.id, [""], 1500, "stripe")
    _paid_order(db, alpha.id, slot.id, type_id, single.id, ["Assente"], 1500, "stripe")   # never arrived

    login(client, staff.email)
    checkin = f"/t/alpha/cooperative/{coop.id}/services/{lab.id}/slots/{slot.id}/check-in"
    for code in (anna, luca, marco, self_ticket):
        assert post(client, checkin, {"code": code}, token_from=checkin).status_code == 200
    page = client.get(checkin).get_data(as_text=True)
    assert "Record attendance as deliveries" in page and "4 checked in, 0 recorded as deliveries." in page

    action = f"/t/alpha/cooperative/{coop.id}/slots/{slot.id}/deliveries"
    done = post(client, action, {}, token_from=checkin, follow_redirects=True)
    text = done.get_data(as_text=True)
    assert done.status_code == 200 and "4 deliveries recorded." in text and "0 were already recorded." in text
    records = _records(db, alpha.id)
    with territory_scope(alpha.id):
        rows = {db.session.get(Ticket, r.ticket_id).code: (
            r.external_id, r.source, r.slot_id, r.duration_minutes, r.funding_source, r.funder_id, r.cost_cents,
            db.session.get(Beneficiary, r.beneficiary_id).external_ref,
            db.session.get(Beneficiary, r.beneficiary_id).user_id) for r in records}
        start = slot.starts_at.astimezone(ROME)
        assert {r.delivered_on for r in records} == {start.date()}
    assert rows == {
        anna: (f"T-{anna}", "checkin", slot.id, 120, "municipal_voucher", funder.id, 1500,
               f"U{mother.id}-anna-rossi", mother.id),
        luca: (f"T-{luca}", "checkin", slot.id, 120, "municipal_voucher", funder.id, 1500,
               f"U{mother.id}-luca-rossi", mother.id),
        marco: (f"T-{marco}", "checkin", slot.id, 120, "employer_credit", employer.id, 1500,
                f"U{father.id}-marco-bianchi", father.id),
        self_ticket: (f"T-{self_ticket}", "checkin", slot.id, 120, "citizen", None, 1500,
                      f"U{single.id}-self", single.id),
    }

    again = post(client, action, {}, token_from=checkin, follow_redirects=True).get_data(as_text=True)
    assert "0 deliveries recorded." in again and "4 were already recorded." in again
    assert len(_records(db, alpha.id)) == 4
    assert "4 checked in, 4 recorded as deliveries." in client.get(checkin).get_data(as_text=True)

    # The same child at another date is the same beneficiary.
    second = make.slot(lab, starts_in=-dt.timedelta(days=1), types=(("Intero", 1500, None),))
    with territory_scope(alpha.id):
        second_type = db.session.execute(select(TicketType.id).where(TicketType.slot_id == second.id)).scalar_one()
    (anna_again,) = _paid_order(db, alpha.id, second.id, second_type, mother.id, ["Anna Rossi"], 1500, "stripe")
    second_checkin = f"/t/alpha/cooperative/{coop.id}/services/{lab.id}/slots/{second.id}/check-in"
    post(client, second_checkin, {"code": anna_again}, token_from=second_checkin)
    post(client, f"/t/alpha/cooperative/{coop.id}/slots/{second.id}/deliveries", {}, token_from=second_checkin)
    with territory_scope(alpha.id):
        assert db.session.execute(select(func.count(DeliveryRecord.id))).scalar_one() == 5
        assert db.session.execute(select(func.count(Beneficiary.id)).where(
            Beneficiary.external_ref == f"U{mother.id}-anna-rossi")).scalar_one() == 1

    # A date that has not started yet records nothing.
    later_checkin = f"/t/alpha/cooperative/{coop.id}/services/{lab.id}/slots/{later.id}/check-in"
    assert "once the date has started" in client.get(later_checkin).get_data(as_text=True)
    refused = post(client, f"/t/alpha/cooperative/{coop.id}/slots/{later.id}/deliveries", {},
                   token_from=later_checkin, follow_redirects=True)
    assert "once the date has started" in refused.get_data(as_text=True)
    with territory_scope(alpha.id):
        assert db.session.execute(select(func.count(OutcomeValue.id))).scalar_one() == 0


def test_delivery_pages_respect_tenancy_and_roles(client, db, make):
    alpha, coop, staff, care, lab, town, funder = _world(make)
    other = make.cooperative(alpha)
    other_service = make.service(other, status="published")
    other_slot = make.slot(other_service, starts_in=-dt.timedelta(hours=3))
    beta = make.territory("beta")
    beta_coop = make.cooperative(beta)
    beta_slot = make.slot(make.service(beta_coop, status="published"), starts_in=-dt.timedelta(hours=3))
    pages = ("deliveries", "deliveries/new", "beneficiaries")

    login(client, make.user(locale="en").email)   # a citizen
    for page in pages:
        assert client.get(f"/t/alpha/cooperative/{coop.id}/{page}").status_code == 403, page
    login(client, make.coordinator(alpha, locale="en").email)
    for page in pages:
        assert client.get(f"/t/alpha/cooperative/{coop.id}/{page}").status_code == 403, page

    login(client, staff.email)
    for page in pages:
        assert client.get(f"/t/alpha/cooperative/{other.id}/{page}").status_code == 403, page
        assert client.get(f"/t/alpha/cooperative/{beta_coop.id}/{page}").status_code == 404, page
    token_from = f"/t/alpha/cooperative/{coop.id}/deliveries/new"
    assert post(client, f"/t/alpha/cooperative/{other.id}/deliveries/new", _visit(care),
                token_from=token_from).status_code == 403
    assert post(client, f"/t/alpha/cooperative/{coop.id}/slots/{other_slot.id}/deliveries", {},
                token_from=token_from).status_code == 404
    assert post(client, f"/t/alpha/cooperative/{coop.id}/slots/{beta_slot.id}/deliveries", {},
                token_from=token_from).status_code == 404
    # Another cooperative's service cannot be chosen in the form.
    refused = post(client, token_from, _visit(care, service_id=str(other_service.id), outcome_autonomy=""),
                   token_from=token_from)
    assert refused.status_code == 422 and "No service of this cooperative" in refused.get_data(as_text=True)
    assert _records(db, alpha.id) == []
