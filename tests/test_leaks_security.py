"""Issue 12, least privilege and output: uploaded documents keep the extension of their
detected type, API tokens of a suspended cooperative or past their expiry stop working,
messages that quote user input are escaped, XLSX exports never hold a formula, and private
downloads are never cached. Everything through HTTP."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from marketplace.models import Slot
from tenants.scoping import territory_scope
from tests.conftest import login, post

SCRIPT = "<script>alert(1)</script>"


# ---------------------------------------------------------------------------- escaping

def test_a_message_quoting_user_input_is_escaped(client, make, db):
    """A DomainError built with lazy_gettext("“%(value)s” is not a date", value=...) and
    shown as a form error: Jinja escapes what the user typed."""
    territory = make.territory("cremona")
    coop = make.cooperative(territory, name="Il Girasole")
    staff = make.staff(coop, locale="en")
    service = make.service(coop, status="published")
    login(client, staff.email)
    url = f"/t/cremona/cooperative/{coop.id}/services/{service.id}/slots/weekly"
    monday = dt.date.today() + dt.timedelta(days=7 - dt.date.today().weekday() + 7)
    data = {"weekdays": ["0"], "from_date": monday.isoformat(), "to_date": (monday + dt.timedelta(days=14)).isoformat(),
            "exceptions": SCRIPT, "start_time": "09:00", "end_time": "12:00", "capacity": "8", "price": "0"}
    response = post(client, url, data, token_from=url)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "is not a date" in html
    assert "&lt;script&gt;alert(1)" in html
    assert "<script>alert(1)" not in html
    with territory_scope(territory.id):
        assert db.session.execute(select(Slot)).first() is None


# ---------------------------------------------------------------------------- XLSX exports

FORMULA_FUNDER = '=HYPERLINK("http://evil.example","Comune")'
FORMULA_COOP = "=cmd|' /C calc'!A0"
FORMULA_SERVICE = "+SUM(1,2)"


def test_xlsx_report_cells_are_text_never_formulas(app, client, db, make, run_jobs):
    """A rendicontazione in Excel: the funder's, cooperative's and service's names that
    start like a formula come back as string cells holding that very text."""
    import io
    import re

    from openpyxl import load_workbook

    from marketplace.models import Cooperative, Funder, Service
    from marketplace.services import deliveries

    territory = make.territory()
    coop = make.cooperative(territory, name="Cooperativa Aurora")
    service = make.service(coop, status="published", title="Assistenza domiciliare")
    make.municipality(territory, name="Crema", population=34_000)
    funder = make.funder(territory, name="Comune di Crema")
    coordinator = make.coordinator(territory, locale="en")
    with app.app_context(), territory_scope(territory.id):
        lookup = deliveries.Lookup.load(db.session.get(Cooperative, coop.id))
        for n in range(6):
            clean, errors = deliveries.validate(dict(
                external_id=f"H-{n}", service_id=str(service.id), beneficiary_ref=f"P{n}", date="2026-03-03",
                duration_minutes="60", at_home="yes", municipality="Crema", funding_source="municipal_contract",
                funder="Comune di Crema", cost_eur="25"), lookup, today=dt.date(2026, 11, 25))
            assert not errors, errors
            deliveries.save(clean, lookup, "import")
        # Renamed after the records name them: names chosen by a cooperative or a funder.
        db.session.get(Funder, funder.id).name = FORMULA_FUNDER
        db.session.get(Cooperative, coop.id).name = FORMULA_COOP
        db.session.get(Service, service.id).title = FORMULA_SERVICE
        db.session.commit()
    login(client, coordinator.email)
    base = f"/t/{territory.slug}/coordinator/reports"
    response = post(client, base, {"funder_id": str(funder.id), "date_from": "2026-01-01",
                                   "date_to": "2026-12-31", "format": "xlsx"}, token_from=base)
    assert response.status_code == 302
    report_id = int(re.search(r"/reports/(\d+)$", response.headers["Location"]).group(1))
    run_jobs()
    download = client.get(f"{base}/{report_id}/download")
    assert download.status_code == 200
    sheet = load_workbook(io.BytesIO(download.data)).active
    cells = {cell.value: cell for row in sheet.iter_rows() for cell in row if cell.value is not None}
    for text in (FORMULA_FUNDER, FORMULA_COOP, FORMULA_SERVICE):
        assert text in cells, sorted(map(str, cells))
        assert cells[text].data_type == "s"
    assert all(cell.data_type != "f" for cell in cells.values())
    assert any(isinstance(value, int) for value in cells)  # counts stay numbers
