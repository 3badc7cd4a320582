"""Cooperatives see what each funder owes them, month by month, for services delivered and
paid with that funder's vouchers or welfare credits (net of refunds), as a page, a CSV and a
PDF to attach to their invoice. Only their own staff get in.

Expected figures, worked out by hand from ``money_world`` (amounts in cents):
- Aurora, March 2025 (the childcare date ended on 28 March), Comune di Valle Serena:
  o1 (voucher v1, 2 tickets, 10000), o2 (v2, 1 ticket, 5000), o7 (v1, 1 ticket, 5000, paid
  in December 2024 for the same date) = 20000. o6 (v4, 2000) is for a date still to come:
  not owed yet. Azienda Alfa: o5 (welfare credit, 1 ticket, 5000).
- Betulla, April 2025 (the day centre ended on 20 April), Comune di Valle Serena:
  o3 (v3, 6000 - 3000 refunded, 1 ticket left) + o4 (v6, 1 ticket, 3000) = 6000; o8 was
  refunded in full and cancelled: not owed.
"""
from __future__ import annotations

import csv
import io

import pytest

from tests.conftest import login
from tests.funding import money_world


def eur(cents: int) -> str:
    return f"€{cents // 100:,}.{cents % 100:02d}"


@pytest.fixture
def world(app, make):
    w = money_world.build(app, make)
    w.aurora_staff = make.staff(w.aurora, email="staff@aurora.example", locale="en")
    w.betulla_staff = make.staff(w.betulla, email="staff@betulla.example", locale="en")
    w.aurora_base = f"/t/{w.territory.slug}/cooperative/{w.aurora.id}/statements"
    w.betulla_base = f"/t/{w.territory.slug}/cooperative/{w.betulla.id}/statements"
    return w


def _as(app, email):
    client = app.test_client()
    login(client, email)
    return client


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200, response.get_data(as_text=True)[:1000]
    assert response.data.startswith("\ufeff".encode())
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.reader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";"))


def test_the_cooperative_home_links_to_the_statements(app, world):
    page = _as(app, world.aurora_staff.email).get(f"/t/valle/cooperative/{world.aurora.id}/").get_data(as_text=True)
    assert f'href="{world.aurora_base}"' in page


def test_months_and_funders_with_what_is_owed(app, world):
    client = _as(app, world.aurora_staff.email)
    response = client.get(world.aurora_base)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<caption" in page
    assert "2025-03" in page and "Comune di Valle Serena" in page and eur(20_000) in page
    assert "Azienda Alfa S.p.A." in page and eur(5_000) in page
    # The later date has not happened yet: nothing is owed for it.
    assert "2025-05" not in page and eur(2_000) not in page
    assert "2025-04" not in page                                      # Betulla's day centre
    assert f"{world.aurora_base}/{world.comune.id}/2025-03.csv" in page
    assert f"{world.aurora_base}/{world.comune.id}/2025-03.pdf" in page

    page = _as(app, world.betulla_staff.email).get(world.betulla_base).get_data(as_text=True)
    assert "2025-04" in page and eur(6_000) in page and "Azienda Alfa" not in page


def test_voucher_statement_lists_delivered_orders_net_of_refunds(app, world):
    client = _as(app, world.aurora_staff.email)
    rows = _csv(client.get(f"{world.aurora_base}/{world.comune.id}/2025-03.csv"))
    assert rows[0] == ["Date", "Service", "Booking code", "Voucher or credit", "Tickets", "Amount (EUR)"]
    body = {(r[2], r[3]): (r[1], r[4], r[5]) for r in rows[1:-1]}
    assert body == {
        (world.o1.code, world.v1.code): ("Doposcuola Arcobaleno", "2", "100,00"),
        (world.o2.code, world.v2.code): ("Doposcuola Arcobaleno", "1", "50,00"),
        (world.o7.code, world.v1.code): ("Doposcuola Arcobaleno", "1", "50,00"),
    }
    assert all(r[0] == "28/03/2025 11:00" for r in rows[1:-1])     # 10:00 UTC, in Italy
    assert rows[-1] == ["Total", "", "", "", "4", "200,00"]
    assert world.o6.code not in str(rows)                            # not delivered yet
    assert world.o5.code not in str(rows)                            # paid by the employer

    page = client.get(f"{world.aurora_base}/{world.comune.id}/2025-03").get_data(as_text=True)
    assert f'id="statement-total">{eur(20_000)}<' in page and world.v1.code in page

    rows = _csv(client.get(f"{world.aurora_base}/{world.azienda.id}/2025-03.csv"))
    assert [r[2:] for r in rows[1:]] == [[world.o5.code, "welfare credit", "1", "50,00"],
                                          ["", "", "1", "50,00"]]


def test_refunds_and_cancelled_orders_are_not_owed(app, world):
    client = _as(app, world.betulla_staff.email)
    rows = _csv(client.get(f"{world.betulla_base}/{world.comune.id}/2025-04.csv"))
    body = {r[2]: (r[3], r[4], r[5]) for r in rows[1:-1]}
    assert body == {world.o3.code: (world.v3.code, "1", "30,00"), world.o4.code: (world.v6.code, "1", "30,00")}
    assert world.o8.code not in str(rows)
    assert rows[-1][-1] == "60,00"
    # Another month, or a funder that paid nothing here: an empty statement.
    assert _csv(client.get(f"{world.betulla_base}/{world.comune.id}/2025-03.csv"))[1:] == [
        ["Total", "", "", "", "0", "0,00"]]
    assert _csv(client.get(f"{world.betulla_base}/{world.azienda.id}/2025-04.csv"))[-1][-1] == "0,00"


def test_a_refund_after_the_month_lowers_what_is_owed(app, world):
    with app.app_context():
        money_world.refund(world.territory, world.o2, 2_000, money_world.at(2025, 6, 3, 10), "o2:late")
    rows = _csv(_as(app, world.aurora_staff.email).get(f"{world.aurora_base}/{world.comune.id}/2025-03.csv"))
    assert rows[-1][-1] == "180,00"


def test_statement_pdf(app, db, world):
    from marketplace.models import Cooperative, Funder
    from marketplace.services import funder_reports
    from tenants.scoping import territory_scope

    client = _as(app, world.aurora_staff.email)
    response = client.get(f"{world.aurora_base}/{world.comune.id}/2025-03.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF") and len(response.data) > 3_000
    with app.test_request_context(), territory_scope(world.territory.id):
        html = funder_reports.cooperative_statement_html(
            db.session.get(Cooperative, world.aurora.id), db.session.get(Funder, world.comune.id), "2025-03")
    assert "Cooperativa Aurora" in html and "Comune di Valle Serena" in html and "2025-03" in html
    assert world.v1.code in html and world.o7.code in html and "200,00" in html
    assert world.o6.code not in html


def test_bad_months_and_unknown_funders_are_not_found(app, make, world):
    client = _as(app, world.aurora_staff.email)
    for month in ("2025-13", "2025-3", "march", "1800-01"):
        assert client.get(f"{world.aurora_base}/{world.comune.id}/{month}.csv").status_code == 404
    other = make.territory("monte")
    stranger = make.funder(other, name="Comune di Monte")
    assert client.get(f"{world.aurora_base}/{stranger.id}/2025-03.csv").status_code == 404
    assert client.get(f"{world.aurora_base}/999999/2025-03.pdf").status_code == 404


def test_only_the_cooperatives_own_staff_get_in(app, client, make, world):
    urls = [world.betulla_base, f"{world.betulla_base}/{world.comune.id}/2025-04",
            f"{world.betulla_base}/{world.comune.id}/2025-04.csv", f"{world.betulla_base}/{world.comune.id}/2025-04.pdf"]
    for url in urls:
        anonymous = client.get(url)
        assert anonymous.status_code == 302 and "/account/login" in anonymous.headers["Location"]
    aurora = _as(app, world.aurora_staff.email)
    citizen = _as(app, world.people[0].email)
    officer = _as(app, make.funder_officer(world.comune, email="ufficio@comune.example").email)
    for url in urls:
        assert aurora.get(url).status_code == 403
        assert citizen.get(url).status_code == 403
        assert officer.get(url).status_code == 403
    # Another territory's cooperative is not found from here, and this one not from there.
    other = make.territory("monte")
    elsewhere = make.cooperative(other, name="Cooperativa Monte")
    assert aurora.get(f"/t/valle/cooperative/{elsewhere.id}/statements").status_code == 404
    assert aurora.get(f"/t/monte/cooperative/{world.aurora.id}/statements").status_code == 404
