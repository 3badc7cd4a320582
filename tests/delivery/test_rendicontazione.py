"""Rendicontazione: a coordinator asks for a funder's report for a period; a job makes it
(PDF or XLSX) with the figures computed independently here, suppresses small cells, keeps
a copy and who asked; other territories and other roles get nothing."""
from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from sqlalchemy import select

from marketplace.models import Cooperative, ReportRun
from marketplace.services import deliveries, rendicontazione
from tenants.scoping import territory_scope
from tests.conftest import login, post


@pytest.fixture
def world(app, make, db):
    territory = make.territory()
    coop = make.cooperative(territory, name="Cooperativa Aurora")
    home = make.service(coop, status="published", title="Assistenza domiciliare")
    transport = make.service(coop, status="published", title="Trasporto disabili")
    crema = make.municipality(territory, name="Crema", population=34_000)
    lodi = make.municipality(territory, name="Lodi", population=45_000)
    comune = make.funder(territory, name="Comune di Crema")
    other_funder = make.funder(territory, name="Fondazione Comunitaria", kind="foundation")
    coordinator = make.coordinator(territory)
    rows = []
    # Comune di Crema pays: 6 people at home in Crema (60 min, 25 EUR each), twice each;
    # 2 people transported in Lodi (45 min, 12 EUR). The foundation pays one more visit.
    for n in range(6):
        for day in (3, 10):
            rows.append(dict(external_id=f"H-{n}-{day}", service_id=str(home.id), beneficiary_ref=f"P{n}",
                             date=f"2026-03-{day:02d}", duration_minutes="60", at_home="yes", municipality="Crema",
                             funding_source="municipal_contract", funder="Comune di Crema", cost_eur="25"))
    for n in range(2):
        rows.append(dict(external_id=f"T-{n}", service_id=str(transport.id), beneficiary_ref=f"Q{n}",
                         date="2026-04-07", duration_minutes="45", at_home="no", municipality="Lodi",
                         funding_source="municipal_voucher", funder="Comune di Crema", cost_eur="12"))
    rows.append(dict(external_id="F-1", service_id=str(home.id), beneficiary_ref="P0", date="2026-03-20",
                     duration_minutes="90", at_home="yes", municipality="Crema", funding_source="foundation_grant",
                     funder="Fondazione Comunitaria", cost_eur="40"))
    rows.append(dict(external_id="OUT", service_id=str(home.id), beneficiary_ref="P1", date="2025-12-30",
                     duration_minutes="60", at_home="yes", municipality="Crema",
                     funding_source="municipal_contract", funder="Comune di Crema", cost_eur="25"))
    with app.app_context(), territory_scope(territory.id):
        lookup = deliveries.Lookup.load(db.session.get(Cooperative, coop.id))
        for row in rows:
            clean, errors = deliveries.validate(row, lookup, today=dt.date(2026, 11, 25))
            assert not errors, errors
            deliveries.save(clean, lookup, "import")
        db.session.commit()
    return territory, comune, other_funder, coordinator, crema, lodi


def test_the_figures_match_a_count_by_hand(app, db, world):
    territory, comune, _other, _coordinator, _crema, _lodi = world
    with territory_scope(territory.id):
        report = rendicontazione.compute(comune, dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    # 12 home visits + 2 transports; 12 h + 1.5 h; 8 people; 12 x 25 + 2 x 12 = 324 EUR.
    assert (report.total.deliveries, report.total.minutes, report.total.beneficiaries,
            report.total.cost_cents) == (14, 810, 8, 32_400)
    by_service = {line.label: (line.deliveries, line.minutes, line.beneficiaries, line.cost_cents)
                  for line in report.by_service}
    assert by_service == {"Assistenza domiciliare": (12, 720, 6, 30_000), "Trasporto disabili": (2, 90, 2, 2_400)}
    assert [(line.label, line.deliveries) for line in report.by_month] == [("2026-03", 12), ("2026-04", 2)]
    _total, _sources, services, _months, towns = (rows for _title, _head, rows in rendicontazione._rows(report))
    # Lodi has 2 people: every figure of its row is hidden; Crema's 6 are shown.
    assert ["Lodi", "<5", "<5", "<5", "<5"] in towns
    assert ["Crema", 12, "12.0", "6", "300,00"] in towns
    assert ["Trasporto disabili", "Cooperativa Aurora", 2, "1.5", "<5", "24,00"] in services


def test_a_coordinator_gets_the_pdf_and_the_excel(app, client, db, world, run_jobs):
    territory, comune, _other, coordinator, _crema, _lodi = world
    login(client, coordinator.email)
    base = f"/t/{territory.slug}/coordinator/reports"
    for fmt in ("pdf", "xlsx"):
        response = post(client, base, {"funder_id": str(comune.id), "date_from": "2026-01-01",
                                       "date_to": "2026-12-31", "format": fmt}, token_from=base)
        assert response.status_code == 302
        report_id = int(re.search(r"/reports/(\d+)$", response.headers["Location"]).group(1))
        run_jobs()  # with Redis the job waits in the "reports" queue; inline it already ran
        status = client.get(f"{base}/{report_id}?format=json").get_json()
        assert status["ready"] and status["progress"] == 100
        download = client.get(status["download"])
        assert download.status_code == 200 and download.headers["Cache-Control"] == "no-store, private"
        if fmt == "pdf":
            assert download.data.startswith(b"%PDF")
        else:
            from openpyxl import load_workbook

            sheet = load_workbook(io.BytesIO(download.data)).active
            values = [cell for row in sheet.iter_rows(values_only=True) for cell in row if cell is not None]
            assert "Comune di Crema" in values and "324,00" in values and "Fondazione Comunitaria" not in values
    listing = client.get(base).get_data(as_text=True)
    assert listing.count("Comune di Crema") >= 2 and coordinator.full_name in listing
    with territory_scope(territory.id):
        runs = db.session.execute(select(ReportRun)).scalars().all()
        assert {r.created_by_id for r in runs} == {coordinator.id} and all(r.storage_key for r in runs)


def test_the_html_of_the_pdf_holds_the_totals(app, db, world):
    territory, comune, _other, _coordinator, _crema, _lodi = world
    with app.test_request_context(), territory_scope(territory.id):
        html = rendicontazione.render_html(rendicontazione.compute(comune, dt.date(2026, 1, 1), dt.date(2026, 12, 31)))
    assert "Comune di Crema" in html and "324,00" in html and "Lodi" in html
    assert "P0" not in html and "P1" not in html  # people are counted, never named


@pytest.mark.parametrize("data,field", [
    ({"date_from": "2026-12-31", "date_to": "2026-01-01"}, "date_from"),
    ({"date_from": "2020-01-01", "date_to": "2026-01-01"}, "date_to"),
    ({"date_from": "yesterday"}, "date_from"),
    ({"format": "docx"}, "format"),
])
def test_bad_requests_are_refused_and_nothing_is_made(app, client, db, world, data, field):
    territory, comune, _other, coordinator, _crema, _lodi = world
    login(client, coordinator.email)
    base = f"/t/{territory.slug}/coordinator/reports"
    form = {"funder_id": str(comune.id), "date_from": "2026-01-01", "date_to": "2026-12-31", "format": "pdf"}
    form.update(data)
    response = post(client, base, form, token_from=base)
    assert response.status_code == 422
    with territory_scope(territory.id):
        assert db.session.execute(select(ReportRun)).scalars().all() == []


def test_other_roles_and_territories_get_nothing(app, client, db, make, world):
    territory, comune, _other, coordinator, _crema, _lodi = world
    login(client, coordinator.email)
    base = f"/t/{territory.slug}/coordinator/reports"
    post(client, base, {"funder_id": str(comune.id), "date_from": "2026-01-01", "date_to": "2026-12-31",
                        "format": "pdf"}, token_from=base)
    with territory_scope(territory.id):
        run_id = db.session.execute(select(ReportRun.id)).scalar_one()
    other = make.territory()
    outsider = make.coordinator(other)
    citizen = make.user()
    client.post("/account/logout", data={})
    for user, expected in ((outsider, 403), (citizen, 403)):
        client = app.test_client()
        login(client, user.email)
        assert client.get(f"{base}/{run_id}/download").status_code == expected
    client = app.test_client()
    login(client, outsider.email)
    assert client.get(f"/t/{other.slug}/coordinator/reports/{run_id}/download").status_code == 404
