"""Vouchers by other routes than applications: a CSV list of beneficiaries (all rows
checked first, all or nothing within the budget), printed codes for help desks, cancelling
an unused voucher."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from marketplace.models import OutboxMessage, Programme, Voucher
from tenants.scoping import territory_scope
from tests.conftest import login, post


@pytest.fixture
def world(make):
    territory = make.territory("cremona")
    funder = make.funder(territory, name="Comune di Cremona")
    officer = make.funder_officer(funder, locale="en")
    programme = make.programme(funder, title="Buoni estate", budget_cents=50_000, value_cents=10_000)
    known = make.user(email="paola@example.org", locale="en")
    base = f"/t/cremona/funders/{funder.id}/programmes/{programme.id}/vouchers"
    return dict(territory=territory, funder=funder, officer=officer, programme=programme, known=known, base=base)


def _vouchers(db, world):
    db.session.expire_all()
    with territory_scope(world["territory"].id):
        return db.session.execute(select(Voucher).order_by(Voucher.id)).scalars().all()


def _mails(db):
    db.session.expire_all()
    return db.session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()


def _upload(client, world, content: bytes, filename="beneficiari.csv"):
    return post(client, f"{world['base']}/bulk", {"file": (io.BytesIO(content), filename)},
                token_from=world["base"], content_type="multipart/form-data")


def test_bulk_issue_from_a_good_file(client, db, world):
    login(client, world["officer"].email)
    content = ("\ufeffemail;beneficiary name\n"
               "Paola@Example.org;Marta Bianchi\n"
               "\n"
               "nuovo@example.org;  Ugo   Neri \n"
               "nuovo@example.org;Ada Neri\n").encode("utf-8")
    response = _upload(client, world, content)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    vouchers = _vouchers(db, world)
    assert len(vouchers) == 3
    marta, ugo, ada = vouchers
    assert marta.holder_id == world["known"].id and marta.holder_email == "" and marta.beneficiary_name == "Marta Bianchi"
    assert ugo.holder_id is None and ugo.holder_email == "nuovo@example.org" and ugo.beneficiary_name == "Ugo Neri"
    assert ada.beneficiary_name == "Ada Neri"
    assert all(v.channel == Voucher.BULK and v.amount_cents == v.balance_cents == 10_000 for v in vouchers)
    mails = _mails(db)
    assert sorted(m.to_email for m in mails) == ["nuovo@example.org", "nuovo@example.org", "paola@example.org"]
    assert marta.code in next(m.body_text for m in mails if m.to_email == "paola@example.org")
    page = client.get(world["base"]).get_data(as_text=True)
    assert "3 vouchers" in page and "nuovo@example.org" in page and marta.code in page
    assert "Budget left: €200.00" in page
    assert client.get(world["base"] + "?page=99999999999999999999999").status_code == 200


def test_comma_separated_without_header(client, db, world):
    login(client, world["officer"].email)
    assert _upload(client, world, b"a@example.org,Primo\nb@example.org,Secondo\n").status_code == 302
    assert [v.beneficiary_name for v in _vouchers(db, world)] == ["Primo", "Secondo"]


def test_a_file_with_bad_rows_is_reported_and_nothing_issued(client, db, world):
    login(client, world["officer"].email)
    content = ("email;beneficiary name\n"
               "ok@example.org;Anna\n"
               "not-an-email;Bruno\n"
               "carla@example.org;\n"
               "ok@example.org;anna\n").encode()
    response = _upload(client, world, content)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    table = page.split('id="bad-rows"')[1].split("</table>")[0]
    assert "<th scope=\"row\">3</th><td>e-mail</td><td>not a valid e-mail address: not-an-email</td>" in table
    assert "<th scope=\"row\">4</th><td>beneficiary name</td><td>missing</td>" in table
    assert "<th scope=\"row\">5</th><td>e-mail</td><td>duplicate of row 2</td>" in table
    assert "Nothing was issued" in page
    assert _vouchers(db, world) == [] and _mails(db) == []


@pytest.mark.parametrize("content,message", [
    (b"", "The file has no beneficiaries."),
    ("email;nome\nà@x.it;Èlia\n".encode("latin-1"), "not UTF-8"),
])
def test_empty_or_badly_encoded_files(client, db, world, content, message):
    login(client, world["officer"].email)
    response = _upload(client, world, content)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert _vouchers(db, world) == []


def test_a_batch_over_the_budget_is_refused_whole(client, db, world):
    login(client, world["officer"].email)
    rows = "".join(f"p{n}@example.org;Persona {n}\n" for n in range(6))  # 6 x 100 > 500
    response = _upload(client, world, rows.encode())
    assert response.status_code == 422
    assert "Not enough budget: 6 vouchers need €600.00, €500.00 left." in response.get_data(as_text=True)
    assert _vouchers(db, world) == [] and _mails(db) == []
    assert _upload(client, world, "".join(f"p{n}@example.org;Persona {n}\n" for n in range(5)).encode()).status_code == 302
    assert len(_vouchers(db, world)) == 5


def test_printed_codes_and_the_printable_page(client, db, world):
    login(client, world["officer"].email)
    response = post(client, f"{world['base']}/printed", {"count": "3"}, token_from=world["base"])
    assert response.status_code == 302
    vouchers = _vouchers(db, world)
    assert len(vouchers) == 3
    assert all(v.channel == Voucher.PRINTED and v.holder_id is None and v.holder_email == "" for v in vouchers)
    printable_response = client.get(response.headers["Location"])
    assert printable_response.headers["Cache-Control"] == "no-store"
    printable = printable_response.get_data(as_text=True)
    assert all(v.code in printable for v in vouchers) and "€100.00" in printable
    # Too many for the budget, or a silly number: refused with a message, nothing issued.
    too_many = post(client, f"{world['base']}/printed", {"count": "3"}, token_from=world["base"])
    assert too_many.status_code == 422 and "€200.00 left" in too_many.get_data(as_text=True)
    for bad in ("0", "abc", "1000"):
        assert post(client, f"{world['base']}/printed", {"count": bad}, token_from=world["base"]).status_code == 422
    assert len(_vouchers(db, world)) == 3


def test_csv_template_download(client, world):
    login(client, world["officer"].email)
    response = client.get(f"{world['base']}/template.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.get_data(as_text=True).lstrip("\ufeff").startswith("email;beneficiary name")


def test_cancel_only_unused_vouchers(client, db, world, make):
    unused = make.voucher(world["programme"], world["known"])
    used = make.voucher(world["programme"], world["known"])
    with territory_scope(world["territory"].id):
        # Spent through the ledger in real life; here the row says so directly.
        row = db.session.get(Voucher, used.id)
        row.balance_cents = 4_000
        db.session.commit()
    login(client, world["officer"].email)
    post(client, f"{world['base']}/{unused.id}/cancel", {}, token_from=world["base"])
    refused = post(client, f"{world['base']}/{used.id}/cancel", {}, token_from=world["base"], follow_redirects=True)
    assert "This voucher has been used: it cannot be cancelled." in refused.get_data(as_text=True)
    statuses = {v.id: v.status for v in _vouchers(db, world)}
    assert statuses == {unused.id: Voucher.CANCELLED, used.id: Voucher.ACTIVE}
    assert "Budget left: €400.00" in client.get(world["base"]).get_data(as_text=True)


def test_no_issuing_outside_an_open_programme_and_tenancy(client, db, world, make):
    draft = make.programme(world["funder"], status=Programme.DRAFT)
    base = f"/t/cremona/funders/{world['funder'].id}/programmes/{draft.id}/vouchers"
    login(client, world["officer"].email)
    page = client.get(base).get_data(as_text=True)
    assert "Vouchers can be issued only while the programme is open." in page
    response = post(client, f"{base}/printed", {"count": "1"}, token_from=base)
    assert response.status_code == 422 and _vouchers(db, world) == []

    other_funder = make.funder(world["territory"])
    other_programme = make.programme(other_funder)
    foreign_voucher = make.voucher(other_programme)
    assert post(client, f"{world['base']}/{foreign_voucher.id}/cancel", {}, token_from=world["base"]).status_code == 404
    outsider = client.application.test_client()
    login(outsider, make.funder_officer(other_funder, locale="en").email)
    for url in (world["base"], f"{world['base']}/template.csv", f"{world['base']}/printed"):
        assert outsider.get(url).status_code == 403
    assert post(outsider, f"{world['base']}/printed", {"count": "1"}).status_code == 403
    assert _vouchers(db, world)[0].id == foreign_voucher.id and len(_vouchers(db, world)) == 1
