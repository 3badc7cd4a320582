"""Employer welfare credits, as HR and employees use them: invitations (one, CSV), joining
(e-mailed link, company code), credit loads (form, CSV, double submit), the ledger and the
balances, spend per category, the expiry release job, and who may see what."""
from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from sqlalchemy import func, select

from marketplace.models import (
    Employee, LedgerEntry, Order, OutboxMessage, Payment, Ticket, TicketType, WelfareCredit,
)
from marketplace.models.base import utcnow
from payments import ledger
from tenants.scoping import territory_scope
from tests.conftest import login, post

TODAY = dt.date.today()
FUTURE = TODAY + dt.timedelta(days=120)
PAST = TODAY - dt.timedelta(days=1)


# ----------------------------------------------------------------------------- helpers


def en_user(make, **kw):
    kw.setdefault("locale", "en")
    return make.user(**kw)


def logged_in(app, email):
    client = app.test_client()
    login(client, email)
    return client


def mails_to(db, to):
    db.session.expire_all()
    return db.session.execute(select(OutboxMessage).where(OutboxMessage.to_email == to)
                              .order_by(OutboxMessage.id)).scalars().all()


def employee_by_email(db, territory, employer, email) -> Employee | None:
    with territory_scope(territory.id):
        db.session.expire_all()
        return db.session.execute(select(Employee).where(Employee.funder_id == employer.id,
                                                         Employee.email == email)).scalar_one_or_none()


def credits_of(db, territory, employer) -> list[WelfareCredit]:
    with territory_scope(territory.id):
        db.session.expire_all()
        return db.session.execute(select(WelfareCredit).where(WelfareCredit.funder_id == employer.id)
                                  .order_by(WelfareCredit.id)).scalars().all()


def ledger_of(db, territory, **where) -> list[LedgerEntry]:
    with territory_scope(territory.id):
        db.session.expire_all()
        query = select(LedgerEntry).order_by(LedgerEntry.id)
        for column, value in where.items():
            query = query.where(getattr(LedgerEntry, column) == value)
        return db.session.execute(query).scalars().all()


def paid_order(make, db, territory, user, service, amount_cents, credit=None, voucher=None):
    """An order of one ticket of a new slot of ``service``, paid in full by ``credit`` (or
    ``voucher``) through the ledger, as checkout does. Returns (order id, payment id)."""
    slot = make.slot(service, types=(("Intero", amount_cents, None),))
    with territory_scope(territory.id):
        ticket_type = db.session.execute(select(TicketType).where(TicketType.slot_id == slot.id)).scalar_one()
        order = Order(territory_id=territory.id, user_id=user.id, email=user.email, status=Order.PAID,
                      total_cents=amount_cents, paid_at=utcnow())
        db.session.add(order)
        db.session.flush()
        db.session.add(Ticket(territory_id=territory.id, order_id=order.id, slot_id=slot.id,
                              ticket_type_id=ticket_type.id, price_cents=amount_cents))
        payment = Payment(territory_id=territory.id, order_id=order.id,
                          provider="welfare_credit" if credit is not None else "voucher",
                          credit_id=credit.id if credit is not None else None,
                          voucher_id=voucher.id if voucher is not None else None,
                          amount_cents=amount_cents, status=Payment.CREATED)
        db.session.add(payment)
        db.session.flush()
        ledger.record(payment, LedgerEntry.CHARGE, amount_cents, f"test-charge-{payment.id}")
        db.session.commit()
        return order.id, payment.id


def refund(db, territory, payment_id, amount_cents):
    with territory_scope(territory.id):
        payment = ledger.lock_payment(payment_id)
        ledger.record(payment, LedgerEntry.REFUND, amount_cents, f"test-refund-{payment_id}-{amount_cents}")
        db.session.commit()


def upload(client, url, field, content: str | bytes, token_from, **extra):
    data = {field: (io.BytesIO(content.encode("utf-8") if isinstance(content, str) else content), "file.csv")}
    data.update(extra)
    return post(client, url, data, token_from=token_from, content_type="multipart/form-data")


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{re.escape(name)}"[^>]*value="([^"]+)"', page)
    assert match, f"no {name} in the page"
    return match.group(1)


@pytest.fixture
def world(app, make):
    territory = make.territory("bassa", default_language="en")
    employer = make.funder(territory, kind="employer", name="Acme Meccanica S.p.A.", vat_number="01234567890")
    hr = make.funder_officer(employer, email="hr@acme.example", locale="en")
    coop = make.cooperative(territory)
    elderly = make.service(coop, title="Assistenza anziani a domicilio", vertical="elderly", status="published")
    childcare = make.service(coop, title="Nido estivo", vertical="childcare", status="published")
    base = f"/t/{territory.slug}/funders/{employer.id}"
    return dict(territory=territory, employer=employer, hr=hr, hr_client=logged_in(app, hr.email),
                elderly=elderly, childcare=childcare, employees=f"{base}/employees", credits=f"{base}/credits")


# ----------------------------------------------------------------------------- invitations


def test_hr_invites_an_employee_who_joins_by_the_emailed_link(app, db, make, world):
    t, hr = world["territory"], world["hr_client"]
    page = hr.get(world["employees"])
    assert page.status_code == 200
    assert world["employer"].join_code in page.get_data(as_text=True)

    response = post(hr, f"{world['employees']}/invite",
                    {"invite-email": " Luca.Verdi@Acme.example ", "invite-full_name": "Luca Verdi"},
                    token_from=world["employees"])
    assert response.status_code == 302
    assert "Invitation sent to luca.verdi@acme.example." in hr.get(world["employees"]).get_data(as_text=True)
    employee = employee_by_email(db, t, world["employer"], "luca.verdi@acme.example")
    assert employee.status == Employee.INVITED and employee.user_id is None and employee.full_name == "Luca Verdi"
    page = hr.get(world["employees"]).get_data(as_text=True)
    assert "Luca Verdi" in page and "Invited" in page

    (mail,) = mails_to(db, "luca.verdi@acme.example")
    assert "Acme Meccanica S.p.A." in mail.subject
    link = f"/t/{t.slug}/employers/join/{employee.invite_code}"
    assert link in mail.body_text and employee.invite_code in mail.body_text

    # The employee has an account with a personal address: the link is what counts.
    luca = en_user(make, email="luca@gmail.example", full_name="Luca Verdi")
    client = app.test_client()
    assert "/account/login" in client.get(link).headers["Location"]
    login(client, luca.email)
    confirm = client.get(link)
    assert confirm.status_code == 200 and "Join Acme Meccanica S.p.A." in confirm.get_data(as_text=True)
    response = post(client, link, {}, token_from=link)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/t/{t.slug}/wallet")
    joined = employee_by_email(db, t, world["employer"], "luca.verdi@acme.example")
    assert joined.status == Employee.ACTIVE and joined.user_id == luca.id and joined.joined_at is not None
    assert "You have already joined Acme Meccanica S.p.A." in client.get(link).get_data(as_text=True)
    assert "Active" in hr.get(world["employees"]).get_data(as_text=True)

    # Someone else cannot use the same link any more.
    other = en_user(make, email="intruder@example.org")
    intruder = logged_in(app, other.email)
    refused = intruder.get(link)
    assert refused.status_code == 409 and "already been used by another account" in refused.get_data(as_text=True)
    assert post(intruder, link, {}, token_from=f"/t/{t.slug}/wallet").status_code == 409
    assert employee_by_email(db, t, world["employer"], "luca.verdi@acme.example").user_id == luca.id


def test_inviting_again_resends_and_an_active_employee_is_refused(app, db, make, world):
    t, hr, employer = world["territory"], world["hr_client"], world["employer"]
    url = f"{world['employees']}/invite"
    assert post(hr, url, {"invite-email": "anna@acme.example"}, token_from=world["employees"]).status_code == 302
    assert post(hr, url, {"invite-email": "anna@acme.example"}, token_from=world["employees"]).status_code == 302
    assert len(mails_to(db, "anna@acme.example")) == 2
    assert "Invitation sent again to anna@acme.example." in hr.get(world["employees"]).get_data(as_text=True)

    make.employee(employer, en_user(make, email="bruno@acme.example"))
    refused = post(hr, url, {"invite-email": "bruno@acme.example"}, token_from=world["employees"])
    assert refused.status_code == 422
    assert "bruno@acme.example is already an active employee." in refused.get_data(as_text=True)
    assert mails_to(db, "bruno@acme.example") == []

    bad = post(hr, url, {"invite-email": "not-an-address"}, token_from=world["employees"])
    assert bad.status_code == 422 and "Enter a valid e-mail address" in bad.get_data(as_text=True)
    with territory_scope(t.id):
        assert db.session.execute(select(func.count(Employee.id))).scalar_one() == 2


def test_hr_invites_many_from_a_csv_file(app, db, make, world):
    t, hr, employer = world["territory"], world["hr_client"], world["employer"]
    make.employee(employer, en_user(make, email="gia.attivo@acme.example"))
    template = hr.get(f"{world['employees']}/template.csv")
    assert template.status_code == 200 and template.mimetype == "text/csv"
    assert template.get_data(as_text=True).lstrip("\ufeff").startswith("email;name")

    content = ("email;nome\r\n"
               "carla@acme.example;Carla Neri\r\n"
               "\r\n"
               "DARIO@acme.example;\r\n"
               "gia.attivo@acme.example;Già Attivo\r\n")
    response = upload(hr, f"{world['employees']}/import", "csv-file", content, token_from=world["employees"])
    assert response.status_code == 302
    page = hr.get(world["employees"]).get_data(as_text=True)
    assert "2 invitations sent." in page and "1 person was already an active employee." in page
    assert employee_by_email(db, t, employer, "carla@acme.example").full_name == "Carla Neri"
    assert employee_by_email(db, t, employer, "dario@acme.example").status == Employee.INVITED
    assert len(mails_to(db, "carla@acme.example")) == 1 and len(mails_to(db, "dario@acme.example")) == 1
    assert mails_to(db, "gia.attivo@acme.example") == []


def test_a_csv_of_employees_with_bad_rows_invites_nobody(app, db, make, world):
    t, hr = world["territory"], world["hr_client"]
    content = ("email,name\n"
               "ok@acme.example,Ok\n"
               "not-an-address,Wrong\n"
               "ok@acme.example,Twice\n"
               "long@acme.example," + "x" * 130 + "\n")
    response = upload(hr, f"{world['employees']}/import", "csv-file", content, token_from=world["employees"])
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "The file has errors: nothing was saved." in page
    assert "3 problems in the file" in page
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td><td>([^<]+)</td></tr>", page)
    assert [(r[0], r[1]) for r in rows] == [("3", "E-mail"), ("4", "E-mail"), ("5", "Name")]
    assert "This address is already on line 2." in page
    with territory_scope(t.id):
        assert db.session.execute(select(func.count(Employee.id))).scalar_one() == 0
    assert db.session.execute(select(func.count(OutboxMessage.id))).scalar_one() == 0

    missing = upload(hr, f"{world['employees']}/import", "csv-file", "", token_from=world["employees"])
    assert missing.status_code == 422 and "The file is empty." in missing.get_data(as_text=True)
    no_file = post(hr, f"{world['employees']}/import", {}, token_from=world["employees"])
    assert no_file.status_code == 422 and "Choose a CSV file." in no_file.get_data(as_text=True)


def test_removing_an_employee(app, db, make, world):
    t, hr, employer = world["territory"], world["hr_client"], world["employer"]
    user = en_user(make, email="elena@acme.example")
    employee = make.employee(employer, user, full_name="Elena Riva")
    make.welfare_credit(employee, 10_000, FUTURE)
    wallet = logged_in(app, user.email)
    assert "Acme Meccanica S.p.A." in wallet.get(f"/t/{t.slug}/wallet").get_data(as_text=True)

    url = f"{world['employees']}/{employee.id}/remove"
    assert post(hr, url, {}, token_from=world["employees"]).status_code == 302
    assert employee_by_email(db, t, employer, "elena@acme.example").status == Employee.REMOVED
    page = hr.get(world["employees"]).get_data(as_text=True)
    assert "Removed" in page and "has been removed" in page
    # The credit stays (until it expires) but no longer shows in the wallet or pays.
    (credit,) = credits_of(db, t, employer)
    assert credit.status == WelfareCredit.ACTIVE and credit.balance_cents == 10_000
    assert "You have no welfare credits." in wallet.get(f"/t/{t.slug}/wallet").get_data(as_text=True)
    assert "employee removed: cannot be used" in hr.get(world["credits"]).get_data(as_text=True)
    # Loading credit for a removed employee is refused (the form no longer offers them).
    page = hr.get(world["credits"]).get_data(as_text=True)
    assert "Invite your employees first" in page
    refused = post(hr, f"{world['credits']}/load", {
        "load-employee_id": str(employee.id), "load-amount": "50,00", "load-expires_on": FUTURE.isoformat(),
        "load-token": "a-crafted-token-of-22ch"}, token_from=world["employees"])
    assert refused.status_code == 422 and "has been removed" in refused.get_data(as_text=True)
    # A removed employee cannot join again with the company code either.
    response = post(wallet, f"/t/{t.slug}/wallet/employers", {"join-code": employer.join_code},
                    token_from=f"/t/{t.slug}/wallet")
    assert response.status_code == 403 and "has removed you" in response.get_data(as_text=True)
    # Inviting them again gives them a new personal link.
    old_code = employee.invite_code
    assert post(hr, f"{world['employees']}/invite", {"invite-email": "elena@acme.example"},
                token_from=world["employees"]).status_code == 302
    again = employee_by_email(db, t, employer, "elena@acme.example")
    assert again.status == Employee.INVITED and again.invite_code != old_code and again.user_id is None
    assert wallet.get(f"/t/{t.slug}/employers/join/{old_code}").status_code == 404


# ----------------------------------------------------------------------------- joining with the company code


def test_an_employee_joins_with_the_company_code(app, db, make, world):
    t, employer = world["territory"], world["employer"]
    wallet_url = f"/t/{t.slug}/wallet"
    # HR already invited (and loaded credit for) this address: joining links that record.
    invited = make.employee(employer, email="franca@acme.example", full_name="Franca Bassi")
    make.welfare_credit(invited, 7_500, FUTURE)
    franca = en_user(make, email="franca@acme.example")
    client = logged_in(app, franca.email)
    response = post(client, f"{wallet_url}/employers", {"join-code": employer.join_code.lower()[:5] + " "
                                                        + employer.join_code[5:]}, token_from=wallet_url)
    assert response.status_code == 302
    record = employee_by_email(db, t, employer, "franca@acme.example")
    assert record.id == invited.id and record.status == Employee.ACTIVE and record.user_id == franca.id
    page = client.get(wallet_url).get_data(as_text=True)
    assert "You joined Acme Meccanica S.p.A." in page and "€75.00" in page

    # Someone HR never invited joins too: a new active employee with their e-mail.
    gino = en_user(make, email="gino@acme.example", full_name="Gino Sala")
    gino_client = logged_in(app, gino.email)
    assert post(gino_client, f"{wallet_url}/employers", {"join-code": employer.join_code},
                token_from=wallet_url).status_code == 302
    created = employee_by_email(db, t, employer, "gino@acme.example")
    assert created.status == Employee.ACTIVE and created.user_id == gino.id and created.full_name == "Gino Sala"
    # Joining twice changes nothing.
    assert post(gino_client, f"{wallet_url}/employers", {"join-code": employer.join_code},
                token_from=wallet_url).status_code == 302
    with territory_scope(t.id):
        assert db.session.execute(select(func.count(Employee.id))).scalar_one() == 2

    # An address nobody confirmed cannot claim to be an employee with the shared code.
    unconfirmed = make.user(email="hacker@acme.example", confirmed=False, locale="en")
    sneaky = logged_in(app, unconfirmed.email)
    refused = post(sneaky, f"{wallet_url}/employers", {"join-code": employer.join_code}, token_from=wallet_url)
    assert refused.status_code == 403 and "Confirm your e-mail address first" in refused.get_data(as_text=True)
    assert employee_by_email(db, t, employer, "hacker@acme.example") is None


def test_join_codes_that_cannot_be_used(app, db, make, world):
    t, employer = world["territory"], world["employer"]
    wallet_url = f"/t/{t.slug}/wallet"
    user = en_user(make, email="mario@example.org")
    client = logged_in(app, user.email)

    def join(code):
        return post(client, f"{wallet_url}/employers", {"join-code": code}, token_from=wallet_url)

    unknown = join("ZZZZZZZZZZ")
    assert unknown.status_code == 404 and "There is no employer with this code" in unknown.get_data(as_text=True)
    empty = join("")
    assert empty.status_code == 422 and "Enter the code your employer gave you." in empty.get_data(as_text=True)
    # A municipality's code is no employer's code.
    municipality = make.funder(t, kind="municipality")
    assert join(municipality.join_code).status_code == 404
    # Another territory's employer and invited employee are unknown here.
    other = make.territory("alta", default_language="en")
    other_employer = make.funder(other, kind="employer")
    other_employee = make.employee(other_employer, email="mario@example.org")
    assert join(other_employer.join_code).status_code == 404
    assert join(other_employee.invite_code).status_code == 404
    assert client.get(f"/t/{t.slug}/employers/join/{other_employee.invite_code}").status_code == 404
    page = client.get(f"/t/{t.slug}/employers/join/NOPE")
    assert page.status_code == 404 and "There is no employer with this code" in page.get_data(as_text=True)
    with territory_scope(t.id):
        assert db.session.execute(select(func.count(Employee.id))).scalar_one() == 0
    with territory_scope(other.id):
        db.session.expire_all()
        assert db.session.get(Employee, other_employee.id).status == Employee.INVITED


# ----------------------------------------------------------------------------- loading credit


def test_hr_loads_credit_with_the_form_once_even_if_submitted_twice(app, db, make, world):
    t, hr, employer = world["territory"], world["hr_client"], world["employer"]
    user = en_user(make, email="ivo@acme.example")
    employee = make.employee(employer, user, full_name="Ivo Conti")
    page = hr.get(f"{world['credits']}?employee={employee.id}").get_data(as_text=True)
    assert f'<option selected value="{employee.id}">' in page or f'value="{employee.id}" selected' in page
    token = hidden(page, "load-token")
    form = {"load-employee_id": str(employee.id), "load-amount": "1.250,50",
            "load-expires_on": FUTURE.strftime("%d/%m/%Y"), "load-note": "Piano welfare 2026", "load-token": token}
    first = post(hr, f"{world['credits']}/load", form, token_from=world["credits"])
    assert first.status_code == 302
    assert "€1,250.50 loaded for ivo@acme.example." in hr.get(world["credits"]).get_data(as_text=True)
    # The browser sends the same form again (double click, back and resubmit).
    second = post(hr, f"{world['credits']}/load", form, token_from=world["credits"])
    assert second.status_code == 302
    assert "it was not loaded twice" in hr.get(world["credits"]).get_data(as_text=True)

    (credit,) = credits_of(db, t, employer)
    assert (credit.amount_cents, credit.balance_cents, credit.expires_on) == (125_050, 125_050, FUTURE)
    assert credit.note == "Piano welfare 2026" and credit.loaded_by_id == world["hr"].id
    (entry,) = ledger_of(db, t, credit_id=credit.id)
    assert (entry.kind, entry.amount_cents, entry.funder_id, entry.order_id) == (
        LedgerEntry.CREDIT_LOAD, 125_050, employer.id, None)
    (mail,) = mails_to(db, "ivo@acme.example")
    assert "€1,250.50" in mail.subject and f"/t/{t.slug}/wallet" in mail.body_text

    page = hr.get(world["credits"]).get_data(as_text=True)
    assert "Ivo Conti" in page and "€1,250.50" in page
    assert re.search(r'id="total-loaded">€1,250.50<', page) and re.search(r'id="total-outstanding">€1,250.50<', page)
    assert "€1,250.50" in hr.get(world["employees"]).get_data(as_text=True)

    # A new form (new token) loads again: that is a second credit, on purpose.
    page = hr.get(world["credits"]).get_data(as_text=True)
    assert hidden(page, "load-token") != token
    form.update({"load-token": hidden(page, "load-token"), "load-amount": "100"})
    assert post(hr, f"{world['credits']}/load", form, token_from=world["credits"]).status_code == 302
    assert [c.amount_cents for c in credits_of(db, t, employer)] == [125_050, 10_000]


def test_the_load_form_refuses_bad_input_and_loads_nothing(app, db, make, world):
    t, hr, employer = world["territory"], world["hr_client"], world["employer"]
    employee = make.employee(employer, en_user(make, email="ugo@acme.example"))
    other_employer = make.funder(t, kind="employer")
    stranger = make.employee(other_employer, email="stranger@other.example")
    page = hr.get(world["credits"]).get_data(as_text=True)
    assert "stranger@other.example" not in page
    good = {"load-employee_id": str(employee.id), "load-amount": "150,00",
            "load-expires_on": FUTURE.isoformat(), "load-token": hidden(page, "load-token")}
    cases = [
        ({"load-amount": "abc"}, "Enter an amount in euros, like 150,00."),
        ({"load-amount": "0,00"}, "The amount must be more than zero."),
        ({"load-amount": "-5"}, "The amount cannot be negative."),
        ({"load-amount": "12,345"}, "Enter an amount in euros, like 150,00."),
        ({"load-amount": "999999"}, "Load at most"),
        ({"load-expires_on": TODAY.isoformat()}, "The expiry date must be in the future."),
        ({"load-expires_on": "31/02/2027"}, "Enter a date like 31/12/2026 or 2026-12-31."),
        ({"load-employee_id": str(stranger.id)}, "Choose one of your employees."),
        ({"load-employee_id": ""}, "Choose one of your employees."),
        ({"load-token": "short"}, "The form has expired"),
    ]
    for change, message in cases:
        response = post(hr, f"{world['credits']}/load", {**good, **change}, token_from=world["credits"])
        assert response.status_code == 422, change
        assert message in response.get_data(as_text=True), change
    assert credits_of(db, t, employer) == [] and credits_of(db, t, other_employer) == []
    assert ledger_of(db, t) == []


def test_hr_loads_credits_from_a_csv_file_once(app, db, make, world):
    t, hr, employer = world["territory"], world["hr_client"], world["employer"]
    anna = make.employee(employer, en_user(make, email="anna@acme.example"))
    make.employee(employer, email="bruno@acme.example")  # invited, not joined yet: can receive credit
    template = hr.get(f"{world['credits']}/template.csv")
    assert template.status_code == 200
    assert template.get_data(as_text=True).lstrip("\ufeff").startswith("email;amount;expiry;note")

    content = ("email;amount;expiry;note\r\n"
               f"anna@acme.example;150,00;{FUTURE.strftime('%d/%m/%Y')};Piano 2026\r\n"
               f"BRUNO@acme.example;150.00;{FUTURE.isoformat()};\r\n"
               f"anna@acme.example;€ 1.000;{FUTURE.isoformat()};Premio\r\n")
    page = hr.get(world["credits"]).get_data(as_text=True)
    token = hidden(page, "upload-token")
    response = upload(hr, f"{world['credits']}/import", "upload-file", content, token_from=world["credits"],
                      **{"upload-token": token})
    assert response.status_code == 302
    assert "3 credits loaded." in hr.get(world["credits"]).get_data(as_text=True)
    credits = credits_of(db, t, employer)
    assert [(c.amount_cents, c.balance_cents, c.note) for c in credits] == [
        (15_000, 15_000, "Piano 2026"), (15_000, 15_000, ""), (100_000, 100_000, "Premio")]
    assert [e.kind for e in ledger_of(db, t, funder_id=employer.id)] == [LedgerEntry.CREDIT_LOAD] * 3
    assert len(mails_to(db, "anna@acme.example")) == 2
    bruno_mail = mails_to(db, "bruno@acme.example")[0].body_text
    assert "/employers/join/" in bruno_mail  # not joined yet: the mail says how

    # The same upload sent again loads nothing more.
    again = upload(hr, f"{world['credits']}/import", "upload-file", content, token_from=world["credits"],
                   **{"upload-token": token})
    assert again.status_code == 302
    assert "This file had already been loaded" in hr.get(world["credits"]).get_data(as_text=True)
    assert len(credits_of(db, t, employer)) == 3

    # A comma-separated file with the amount in quotes works too.
    page = hr.get(world["credits"]).get_data(as_text=True)
    response = upload(hr, f"{world['credits']}/import", "upload-file",
                      f'email,amount,expiry\nanna@acme.example,"20,00",{FUTURE.isoformat()}\n'.encode("cp1252"),
                      token_from=world["credits"], **{"upload-token": hidden(page, "upload-token")})
    assert response.status_code == 302
    assert sum(c.balance_cents for c in credits_of(db, t, employer) if c.employee_id == anna.id) == 117_000


def test_a_csv_of_credits_with_bad_rows_loads_nothing(app, db, make, world):
    t, hr, employer = world["territory"], world["hr_client"], world["employer"]
    make.employee(employer, en_user(make, email="anna@acme.example"))
    make.employee(employer, email="gone@acme.example", status=Employee.REMOVED)
    make.employee(make.funder(t, kind="employer"), email="other@elsewhere.example")
    content = ("email;amount;expiry\r\n"
               f"anna@acme.example;150,00;{FUTURE.isoformat()}\r\n"
               f"nobody@acme.example;150,00;{FUTURE.isoformat()}\r\n"
               f"anna@acme.example;dieci;{FUTURE.isoformat()}\r\n"
               f"anna@acme.example;150,00;{PAST.strftime('%d/%m/%Y')}\r\n"
               f"gone@acme.example;150,00;{FUTURE.isoformat()}\r\n"
               f"other@elsewhere.example;150,00;{FUTURE.isoformat()}\r\n"
               f"anna@acme.example;150,00,{FUTURE.isoformat()};x;y\r\n")
    page = hr.get(world["credits"]).get_data(as_text=True)
    response = upload(hr, f"{world['credits']}/import", "upload-file", content, token_from=world["credits"],
                      **{"upload-token": hidden(page, "upload-token")})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "The file has errors: nothing was saved." in page
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td><td>([^<]+)</td></tr>", page)
    assert [(r[0], r[1]) for r in rows] == [("3", "E-mail"), ("4", "Amount"), ("5", "Expiry"), ("6", "E-mail"),
                                             ("7", "E-mail"), ("8", "File")]
    assert "No employee has this e-mail address: invite them first." in page
    assert "The expiry date must be in the future." in page
    assert "This employee has been removed." in page
    assert credits_of(db, t, employer) == [] and ledger_of(db, t) == []
    assert mails_to(db, "anna@acme.example") == []

    missing = upload(hr, f"{world['credits']}/import", "upload-file", "email;note\nanna@acme.example;x\n",
                     token_from=world["credits"], **{"upload-token": hidden(page, "upload-token")})
    assert missing.status_code == 422
    text = missing.get_data(as_text=True)
    assert "This column is missing." in text and "<td>Amount</td>" in text and "<td>Expiry</td>" in text


# ----------------------------------------------------------------------------- spend and totals


def test_spend_per_category_and_totals_come_from_the_ledger(app, db, make, world):
    t, hr, employer = world["territory"], world["hr_client"], world["employer"]
    users = [en_user(make, email=f"worker{n}@acme.example") for n in range(6)]
    credits = [make.welfare_credit(make.employee(employer, u), 10_000, FUTURE) for u in users]
    # Five people book elderly care (30 EUR each), one books childcare (45 EUR) and gets 15 EUR back.
    for user, credit in zip(users[:5], credits[:5]):
        paid_order(make, db, t, user, world["elderly"], 3_000, credit=credit)
    _, payment_id = paid_order(make, db, t, users[5], world["childcare"], 4_500, credit=credits[5])
    refund(db, t, payment_id, 1_500)
    # Another employer's and a municipality's money are not this employer's.
    other = make.funder(t, kind="employer")
    stranger = en_user(make, email="stranger@example.org")
    paid_order(make, db, t, stranger, world["elderly"], 2_000,
               credit=make.welfare_credit(make.employee(other, stranger), 5_000, FUTURE))
    programme = make.programme(make.funder(t, kind="municipality"))
    paid_order(make, db, t, stranger, world["childcare"], 2_500, voucher=make.voucher(programme, stranger))
    # One credit expired unused: it goes back.
    expired = make.welfare_credit(make.employee(employer, email="left@acme.example"), 2_000, PAST)
    with territory_scope(t.id):
        from marketplace.services import welfare

        assert welfare.release_expired_credits() == 1
        db.session.commit()

    page = hr.get(world["credits"]).get_data(as_text=True)
    spend = re.findall(r'<tr><th scope="row">([^<]+)</th><td class="text-end">([^<]+)</td>'
                       r'<td class="text-end">([^<]+)</td></tr>', page)
    assert spend == [("Childcare", "&lt;5", "€30.00"), ("Elderly care", "5", "€150.00")]
    assert re.search(r'id="total-loaded">€620.00<', page)
    assert re.search(r'id="total-spent">€180.00<', page)
    assert re.search(r'id="total-released">€20.00<', page)
    assert re.search(r'id="total-outstanding">€420.00<', page)
    # The ledger and the balances agree.
    assert sum(c.balance_cents for c in credits_of(db, t, employer) if c.status == WelfareCredit.ACTIVE) == 42_000
    (release,) = ledger_of(db, t, credit_id=expired.id, kind=LedgerEntry.CREDIT_RELEASE)
    assert release.amount_cents == -2_000


# ----------------------------------------------------------------------------- expiry


def test_the_expiry_job_releases_expired_credits_once_and_only_in_its_territory(app, db, make, world, run_jobs):
    from marketplace.cli import RELEASE_CREDITS_CRON, cron_scheduler
    from marketplace.jobs import release_expired_credits_everywhere, release_expired_credits_job

    t, employer = world["territory"], world["employer"]
    user = en_user(make, email="olga@acme.example")
    employee = make.employee(employer, user)
    spent = make.welfare_credit(employee, 10_000, TODAY + dt.timedelta(days=1))
    paid_order(make, db, t, user, world["elderly"], 4_000, credit=spent)
    with territory_scope(t.id):  # it expired yesterday, with 60 EUR left
        db.session.get(WelfareCredit, spent.id).expires_on = PAST
        db.session.commit()
    used_up = make.welfare_credit(employee, 3_000, TODAY + dt.timedelta(days=1))
    paid_order(make, db, t, user, world["childcare"], 3_000, credit=used_up)
    with territory_scope(t.id):
        db.session.get(WelfareCredit, used_up.id).expires_on = PAST
        db.session.commit()
    last_day = make.welfare_credit(employee, 5_000, TODAY)   # still usable today
    other = make.territory("alta")
    far_employee = make.employee(make.funder(other, kind="employer"), email="far@example.org")
    far = make.welfare_credit(far_employee, 8_000, PAST)

    with app.app_context():
        assert release_expired_credits_job(t.id) == 2
        assert release_expired_credits_job(t.id) == 0   # twice: nothing more
    with territory_scope(t.id):
        db.session.expire_all()
        first, second, third = (db.session.get(WelfareCredit, c.id) for c in (spent, used_up, last_day))
        assert (first.status, first.balance_cents) == (WelfareCredit.RELEASED, 0) and first.released_at
        assert (second.status, second.balance_cents) == (WelfareCredit.RELEASED, 0)
        assert (third.status, third.balance_cents) == (WelfareCredit.ACTIVE, 5_000)
    releases = ledger_of(db, t, kind=LedgerEntry.CREDIT_RELEASE)
    assert [(e.credit_id, e.amount_cents, e.funder_id, e.order_id) for e in releases] == [
        (spent.id, -6_000, employer.id, None)]  # nothing left on the used-up one: no entry
    with territory_scope(other.id):
        db.session.expire_all()
        assert db.session.get(WelfareCredit, far.id).status == WelfareCredit.ACTIVE
        assert ledger_of(db, other, kind=LedgerEntry.CREDIT_RELEASE) == []

    # The employee sees it in the wallet.
    wallet = logged_in(app, user.email).get(f"/t/{t.slug}/wallet").get_data(as_text=True)
    assert "Returned to the employer on expiry" in wallet

    # The hourly job of the scheduler does every territory.
    with app.app_context():
        (cron_job,) = [j for j in cron_scheduler(connection=None).get_jobs()
                       if j.func is release_expired_credits_everywhere]
        assert cron_job.cron == RELEASE_CREDITS_CRON == "17 * * * *"
        assert cron_job.queue_name == app.config["QUEUE_PREFIX"] + "default"
        assert cron_job.func(*cron_job.args, **cron_job.kwargs) == {t.slug: 0, other.slug: 1}
        assert cron_job.func() == {t.slug: 0, other.slug: 0}
    with territory_scope(other.id):
        db.session.expire_all()
        assert db.session.get(WelfareCredit, far.id).status == WelfareCredit.RELEASED
        assert [e.amount_cents for e in ledger_of(db, other, kind=LedgerEntry.CREDIT_RELEASE)] == [-8_000]


# ----------------------------------------------------------------------------- who may see what


def test_who_may_manage_an_employer(app, db, make, world):
    t, employer = world["territory"], world["employer"]
    employee = make.employee(employer, email="x@acme.example")
    other = make.territory("alta", default_language="en")
    far_employer = make.funder(other, kind="employer")
    far_employee = make.employee(far_employer, email="far@example.org")
    other_employer = make.funder(t, kind="employer")
    near_employee = make.employee(other_employer, email="near@example.org")
    municipality = make.funder(t, kind="municipality")

    def urls(funder_id, employee_id):
        base = f"/t/{t.slug}/funders/{funder_id}"
        return [("GET", f"{base}/employees"), ("POST", f"{base}/employees/invite"),
                ("POST", f"{base}/employees/import"), ("GET", f"{base}/employees/template.csv"),
                ("POST", f"{base}/employees/{employee_id}/remove"), ("GET", f"{base}/credits"),
                ("POST", f"{base}/credits/load"), ("POST", f"{base}/credits/import"),
                ("GET", f"{base}/credits/template.csv")]

    def ask(client, method, url):
        if method == "GET":
            return client.get(url)
        return post(client, url, {"invite-email": "new@acme.example"}, token_from="/account/login")

    hr = world["hr_client"]
    make.delegation(employer, "review")  # the employer delegated the management to the coordinators
    coordinator = logged_in(app, make.coordinator(t, locale="en").email)
    for client in (hr, coordinator):
        # Another territory's employer: not found.
        for method, url in urls(far_employer.id, far_employee.id):
            assert ask(client, method, url).status_code == 404, url
        # Another employer's employee under this employer: not found.
        assert ask(client, "POST", f"/t/{t.slug}/funders/{employer.id}/employees/{near_employee.id}/remove"
                   ).status_code == 404
        # A municipality has no employees.
        assert client.get(f"/t/{t.slug}/funders/{municipality.id}/employees").status_code in (403, 404)
    assert coordinator.get(f"/t/{t.slug}/funders/{municipality.id}/employees").status_code == 404
    officer = logged_in(app, make.funder_officer(municipality, locale="en").email)
    assert officer.get(f"/t/{t.slug}/funders/{municipality.id}/employees").status_code == 404
    assert officer.get(f"/t/{t.slug}/funders/{municipality.id}/credits").status_code == 404

    # A citizen, and an officer of another employer: forbidden.
    citizen = logged_in(app, en_user(make).email)
    other_hr = logged_in(app, make.funder_officer(other_employer, locale="en").email)
    far_hr = logged_in(app, make.funder_officer(far_employer, locale="en").email)  # HR of the same id elsewhere
    for client in (citizen, other_hr, officer, far_hr):
        for method, url in urls(employer.id, employee.id):
            assert ask(client, method, url).status_code == 403, url
    # Anonymous: to the login page.
    anonymous = app.test_client()
    for method, url in urls(employer.id, employee.id):
        response = ask(anonymous, method, url)
        assert response.status_code == 302 and "/account/login" in response.headers["Location"], url
    # Nothing was changed by all of that.
    assert employee_by_email(db, t, employer, "x@acme.example").status == Employee.INVITED
    assert employee_by_email(db, t, employer, "new@acme.example") is None
    with territory_scope(other.id):
        db.session.expire_all()
        assert db.session.get(Employee, far_employee.id).status == Employee.INVITED
    # The coordinator and the employer's HR are served.
    for client in (hr, coordinator):
        for method, url in urls(employer.id, employee.id):
            if method == "GET":
                assert client.get(url).status_code == 200, url
