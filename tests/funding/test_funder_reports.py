"""Funders see their money at work: budget, committed, spent net of refunds, remaining,
spending by cooperative / service / month, beneficiaries with small-cell suppression, the
CSV / XLSX exports and the period statement PDF; only their own officers (and the
territory's coordinators) get in.

Every expected figure below is worked out by hand from ``money_world`` (amounts in cents):

Municipality "Comune di Valle Serena", period 2025:
- Buoni infanzia: budget 100000; vouchers v1-v4 of 20000 (v5 cancelled) -> committed 80000;
  spent in 2025: o1 10000 + o2 5000 + o3 (6000 - 3000 refunded) + o6 2000 (the rest by
  card) + o8 (3000 - 3000) = 20000; to date + o7 5000 (December 2024) = 25000;
  remaining 100000 - 80000 = 20000.
- Buoni anziani: budget 50000; v6 10000 committed; spent o4 3000; remaining 40000.
- Totals: budget 150000, committed 90000, spent 23000, to date 28000, remaining 60000.
- By cooperative: Aurora (childcare) o1 + o2 + o6 = 17000; Betulla (elderly) o3 net + o4 = 6000.
- By month: 2025-03 15000; 2025-04 3000 + 3000 + 0 = 6000; 2025-05 2000; other months 0.
- Beneficiaries in 2025: c1, c2, c3, c4, c5 -> 5; from March to April: c1, c2, c3, c5 -> 4 -> "<5"
  (c2's April order was refunded in full, but her March one counts).
Employer "Azienda Alfa", 2025: loaded 20000 + 4000, released 4000, spent o5 5000,
outstanding 15000, one employee reached ("<5").
"""
from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from marketplace.models import Membership
from marketplace.services import funder_reports
from marketplace.services.funder_reports import suppress
from tenants.scoping import territory_scope
from tests.conftest import login
from tests.funding import money_world

YEAR = "from=2025-01-01&to=2025-12-31"
SPRING = "from=2025-03-01&to=2025-04-30"


def eur(cents: int) -> str:
    """An amount as the English pages show it."""
    return f"€{cents // 100:,}.{cents % 100:02d}"


@pytest.fixture
def world(app, make):
    w = money_world.build(app, make)
    w.officer = make.funder_officer(w.comune, email="ufficio@comune.example", locale="en")
    w.hr = make.funder_officer(w.azienda, email="hr@alfa.example", locale="en")
    w.coordinator = make.coordinator(w.territory, email="coord@valle.example", locale="en")
    w.base = f"/t/{w.territory.slug}/funders"
    return w


def _page(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def _csv_rows(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))


def _csv_value(rows, label):
    return next(row[1] for row in rows if row and row[0] == label)


def test_suppress_hides_counts_below_five():
    assert [suppress(n) for n in (0, 1, 4, 5, 6, 120)] == ["<5", "<5", "<5", "5", "6", "120"]


def test_voucher_dashboard_figures_match_the_hand_computed_ones(app, db, world):
    import datetime as dt

    with app.test_request_context(), territory_scope(world.territory.id):
        from marketplace.models import Funder

        report = funder_reports.dashboard(db.session.get(Funder, world.comune.id), dt.date(2025, 1, 1),
                                          dt.date(2025, 12, 31))
    by_title = {p.title: p for p in report.programmes}
    infanzia, anziani = by_title["Buoni infanzia 2025"], by_title["Buoni anziani 2025"]
    assert (infanzia.budget_cents, infanzia.committed_cents, infanzia.spent_cents, infanzia.spent_to_date_cents,
            infanzia.remaining_cents) == (100_000, 80_000, 20_000, 25_000, 20_000)
    assert (anziani.budget_cents, anziani.committed_cents, anziani.spent_cents, anziani.remaining_cents) == \
        (50_000, 10_000, 3_000, 40_000)
    assert (report.budget_cents, report.committed_cents, report.spent_cents, report.spent_to_date_cents,
            report.remaining_cents) == (150_000, 90_000, 23_000, 28_000, 60_000)
    assert [(s.label, s.amount_cents) for s in report.by_cooperative] == [
        ("Cooperativa Aurora", 17_000), ("Cooperativa Betulla", 6_000)]
    assert [(s.label, s.detail, s.amount_cents) for s in report.by_service] == [
        ("Doposcuola Arcobaleno", "Cooperativa Aurora", 17_000), ("Centro diurno Glicine", "Cooperativa Betulla", 6_000)]
    months = {s.label: s.amount_cents for s in report.by_month}
    assert len(months) == 12 and months["2025-03"] == 15_000 and months["2025-04"] == 6_000
    assert months["2025-05"] == 2_000 and sum(months.values()) == report.spent_cents
    assert report.beneficiaries == "5"
    assert dict((status, count) for status, _label, count in report.applications)["approved"] == "5"
    assert dict((status, count) for status, _label, count in report.applications)["rejected"] == "<5"
    # v1-v4 and v6 issued in February 2025 (v5 is cancelled); all five were used.
    assert (report.vouchers_issued, report.vouchers_used) == ("5", "5")
    assert (report.vouchers_unused, report.vouchers_expired) == ("<5", "<5")


def test_officer_sees_the_dashboard_of_the_year(client, world):
    login(client, world.officer.email)
    page = _page(client, f"{world.base}/{world.comune.id}/dashboard?{YEAR}")
    assert "Comune di Valle Serena" in page
    assert f'id="figure-budget">{eur(150_000)}<' in page
    assert f'id="figure-committed">{eur(90_000)}<' in page
    assert f'id="figure-spent">{eur(23_000)}<' in page
    assert f'id="figure-remaining">{eur(60_000)}<' in page
    assert 'id="figure-beneficiaries">5<' in page
    assert "<caption" in page and "Spending by cooperative" in page
    assert "Cooperativa Aurora" in page and eur(17_000) in page and eur(6_000) in page
    assert "Buoni infanzia 2025" in page and eur(25_000) in page
    # Exports of the same period are one click away.
    assert f"/funders/{world.comune.id}/dashboard.csv?from=2025-01-01&amp;to=2025-12-31" in page
    assert f"/funders/{world.comune.id}/statement.pdf?from=2025-01-01&amp;to=2025-12-31" in page


def test_the_period_filters_spending_and_suppresses_small_counts(client, world):
    login(client, world.officer.email)
    page = _page(client, f"{world.base}/{world.comune.id}/dashboard?{SPRING}")
    assert f'id="figure-spent">{eur(21_000)}<' in page          # March 15000 + April 6000
    assert 'id="figure-beneficiaries">&lt;5<' in page            # four people
    assert f'id="figure-budget">{eur(150_000)}<' in page         # budgets do not depend on the period
    assert "2025-03" in page and "2025-04" in page and "2025-05" not in page
    rows = _csv_rows(client.get(f"{world.base}/{world.comune.id}/dashboard.csv?{SPRING}").data)
    assert _csv_value(rows, "Beneficiaries reached") == "<5"
    assert _csv_value(rows, "Spent in the period (net of refunds)") == "210,00"
    rows = _csv_rows(client.get(f"{world.base}/{world.comune.id}/dashboard.csv?{YEAR}").data)
    assert _csv_value(rows, "Beneficiaries reached") == "5"


def test_this_calendar_year_is_the_default_period(client, world):
    from marketplace.services.funder_reports import local_today

    login(client, world.officer.email)
    page = _page(client, f"{world.base}/{world.comune.id}/dashboard")
    year = local_today().year
    assert f'value="{year}-01-01"' in page and f'value="{year}-12-31"' in page
    assert f'id="figure-spent">{eur(0)}<' in page                # everything was in 2025
    assert f'id="figure-committed">{eur(90_000)}<' in page


def test_csv_export_holds_the_figures(client, world):
    login(client, world.officer.email)
    response = client.get(f"{world.base}/{world.comune.id}/dashboard.csv?{YEAR}")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    rows = _csv_rows(response.data)
    assert _csv_value(rows, "Funder") == "Comune di Valle Serena"
    assert _csv_value(rows, "Budget") == "1500,00"
    assert _csv_value(rows, "Committed") == "900,00"
    assert _csv_value(rows, "Spent in the period (net of refunds)") == "230,00"
    assert _csv_value(rows, "Remaining (budget minus committed)") == "600,00"
    assert ["Cooperativa Aurora", "170,00"] in rows and ["Cooperativa Betulla", "60,00"] in rows
    assert ["2025-03", "150,00"] in rows and ["2025-04", "60,00"] in rows
    assert ["Approved", "5"] in rows and ["Rejected", "<5"] in rows


def test_csv_cells_never_start_a_formula(app, client, db, make, world):
    from marketplace.models import Service

    with app.app_context(), territory_scope(world.territory.id):
        db.session.get(Service, world.doposcuola.id).title = "=HYPERLINK(\"http://evil\")"
        db.session.commit()
    login(client, world.officer.email)
    body = client.get(f"{world.base}/{world.comune.id}/dashboard.csv?{YEAR}").data.decode("utf-8-sig")
    assert "'=HYPERLINK" in body and ";=HYPERLINK" not in body and "\n=HYPERLINK" not in body
    book = load_workbook(io.BytesIO(client.get(f"{world.base}/{world.comune.id}/dashboard.xlsx?{YEAR}").data))
    cell = book["By service"]["A2"]
    assert cell.value == "=HYPERLINK(\"http://evil\")" and cell.data_type == "s"


def test_xlsx_export_has_one_sheet_per_table(client, world):
    login(client, world.officer.email)
    response = client.get(f"{world.base}/{world.comune.id}/dashboard.xlsx?{YEAR}")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["Summary", "Programmes", "Applications", "By cooperative", "By service",
                               "By category", "By month"]
    summary = {row[0]: row[1] for row in book["Summary"].iter_rows(min_row=2, values_only=True)}
    assert summary["Budget"] == 1500 and summary["Spent in the period (net of refunds)"] == 230
    assert summary["Beneficiaries reached"] == 5
    by_coop = [row for row in book["By cooperative"].iter_rows(min_row=2, values_only=True)]
    assert by_coop == [("Cooperativa Aurora", 170), ("Cooperativa Betulla", 60)]
    months = {row[0]: row[1] for row in book["By month"].iter_rows(min_row=2, values_only=True)}
    assert months["2025-03"] == 150 and months["2025-05"] == 20 and months["2025-07"] == 0
    spring = load_workbook(io.BytesIO(client.get(f"{world.base}/{world.comune.id}/dashboard.xlsx?{SPRING}").data))
    summary = {row[0]: row[1] for row in spring["Summary"].iter_rows(min_row=2, values_only=True)}
    assert summary["Beneficiaries reached"] == "<5"


def test_period_statement_pdf(app, client, db, world):
    import datetime as dt

    from marketplace.models import Funder

    login(client, world.officer.email)
    response = client.get(f"{world.base}/{world.comune.id}/statement.pdf?{YEAR}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF") and len(response.data) > 5_000
    assert b"http://" not in response.data and b"https://" not in response.data
    # The text the PDF is made of (no PDF text extractor is installed).
    with app.test_request_context(), territory_scope(world.territory.id):
        html = funder_reports.period_statement_html(db.session.get(Funder, world.comune.id), dt.date(2025, 1, 1),
                                                    dt.date(2025, 12, 31))
    assert "Comune di Valle Serena" in html and world.territory.name in html
    assert "01/01/2025" in html and "31/12/2025" in html
    assert "230,00" in html                      # the total, in the app's default (Italian) format
    assert "Cooperativa Aurora" in html and "Doposcuola Arcobaleno" in html and "2025-03" in html
    assert "DejaVu Sans" in html and "http" not in html.replace("http-equiv", "")


def test_pdfs_fetch_nothing_from_outside(app, monkeypatch):
    from urllib import request

    opened = []  # WeasyPrint's fetcher opens URLs through urllib's OpenerDirector
    monkeypatch.setattr(request.OpenerDirector, "open", lambda self, *a, **kw: opened.append(a) or 1 / 0)
    with app.app_context():
        pdf = funder_reports._pdf('<p>Rendiconto</p><img src="http://127.0.0.1:9/logo.png" alt="">'
                                  '<link rel="stylesheet" href="https://example.org/x.css">'
                                  '<img src="file:///etc/passwd" alt="">')
    assert pdf.startswith(b"%PDF") and opened == []


def test_employer_dashboard(app, client, db, world):
    login(client, world.hr.email)
    page = _page(client, f"{world.base}/{world.azienda.id}/dashboard?{YEAR}")
    assert "Azienda Alfa S.p.A." in page
    assert eur(24_000) in page                                   # loaded
    assert f'id="figure-spent">{eur(5_000)}<' in page
    assert eur(4_000) in page and eur(15_000) in page            # released, outstanding
    assert 'id="figure-beneficiaries">&lt;5<' in page
    assert "Cooperativa Aurora" in page and "Cooperativa Betulla" not in page
    assert "Buoni infanzia 2025" not in page
    rows = _csv_rows(client.get(f"{world.base}/{world.azienda.id}/dashboard.csv?{YEAR}").data)
    assert _csv_value(rows, "Credits loaded") == "240,00"
    assert _csv_value(rows, "Released back on expiry") == "40,00"
    assert _csv_value(rows, "Outstanding balance") == "150,00"
    assert ["Cooperativa Aurora", "50,00"] in rows
    assert client.get(f"{world.base}/{world.azienda.id}/statement.pdf?{YEAR}").data.startswith(b"%PDF")


def test_the_dashboard_follows_the_ledger_in_real_time(app, client, db, world):
    login(client, world.officer.email)
    url = f"{world.base}/{world.comune.id}/dashboard?{YEAR}"
    assert f'id="figure-spent">{eur(23_000)}<' in _page(client, url)
    money_world.refund(world.territory, world.o2, 1_000, money_world.at(2025, 6, 1, 10), "o2:refund")
    assert f'id="figure-spent">{eur(22_000)}<' in _page(client, url)


@pytest.mark.parametrize("query, message", [
    ("from=2025-13-01", "Write the date as YYYY-MM-DD"),
    ("from=yesterday", "Write the date as YYYY-MM-DD"),
    ("to=2025-02-30", "Write the date as YYYY-MM-DD"),
    ("from=2025-05-01&to=2025-04-01", "The start of the period must not be after its end."),
    ("from=1800-01-01", "Choose a date between 2000 and 2100."),
    ("to=9999-12-31", "Choose a date between 2000 and 2100."),
])
def test_bad_dates_get_a_clear_message(client, world, query, message):
    login(client, world.officer.email)
    for path in ("dashboard", "dashboard.csv", "dashboard.xlsx", "statement.pdf"):
        response = client.get(f"{world.base}/{world.comune.id}/{path}?{query}")
        assert response.status_code == 422, path
        assert message in response.get_data(as_text=True)


def test_coordinators_see_every_funder_of_their_territory(client, make, world):
    # Each funder delegated "read aggregates" to the coordinators (tests/test_privacy_security.py
    # shows that without it they get 403).
    make.delegation(world.comune, "read")
    make.delegation(world.azienda, "read")
    login(client, world.coordinator.email)
    assert client.get(f"{world.base}/{world.comune.id}/dashboard?{YEAR}").status_code == 200
    assert client.get(f"{world.base}/{world.azienda.id}/dashboard.csv?{YEAR}").status_code == 200


def _as(app, email):
    client = app.test_client()
    login(client, email)
    return client


def test_only_the_funders_own_officers_get_in(app, client, make, world):
    for path in ("dashboard", "dashboard.csv", "dashboard.xlsx", "statement.pdf"):
        anonymous = client.get(f"{world.base}/{world.comune.id}/{path}?{YEAR}")
        assert anonymous.status_code == 302 and "/account/login" in anonymous.headers["Location"]
    # The employer's HR officer is a funder too, but not of the municipality.
    hr = _as(app, world.hr.email)
    for path in ("dashboard", "dashboard.csv", "dashboard.xlsx", "statement.pdf"):
        assert hr.get(f"{world.base}/{world.comune.id}/{path}?{YEAR}").status_code == 403
    citizen = _as(app, world.people[0].email)
    assert citizen.get(f"{world.base}/{world.comune.id}/dashboard?{YEAR}").status_code == 403
    staff = _as(app, make.staff(world.aurora, email="staff@aurora.example").email)
    assert staff.get(f"{world.base}/{world.comune.id}/dashboard.csv?{YEAR}").status_code == 403


def test_another_territorys_funder_is_not_found(app, make, world):
    other = make.territory("monte")
    stranger = make.funder(other, name="Comune di Monte")
    officer = _as(app, make.funder_officer(stranger, email="ufficio@monte.example", locale="en").email)
    # Their own funder through this territory's address, and this territory's funder through theirs.
    assert officer.get(f"{world.base}/{stranger.id}/dashboard").status_code == 404
    for path in ("dashboard", "dashboard.csv", "dashboard.xlsx", "statement.pdf"):
        assert officer.get(f"/t/monte/funders/{world.comune.id}/{path}?{YEAR}").status_code == 404
    assert officer.get(f"/t/monte/funders/{stranger.id}/dashboard").status_code == 200
    # This territory's coordinator and officer do not reach the other territory's funder.
    coordinator = _as(app, world.coordinator.email)
    assert coordinator.get(f"{world.base}/{stranger.id}/dashboard").status_code == 404
    assert coordinator.get(f"/t/monte/funders/{stranger.id}/dashboard").status_code == 403
    assert _as(app, world.officer.email).get(f"/t/monte/funders/{stranger.id}/dashboard.csv").status_code == 403
