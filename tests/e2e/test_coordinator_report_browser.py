"""A coordinator goes from the coordination page to the territory dashboard, the impact
view and the reports page, asks for a funder's rendicontazione, watches it being made and
downloads it — in the browser, with axe on every page (the site in English)."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import Cooperative, ReportRun
from marketplace.services import deliveries
from tenants.scoping import territory_scope

pytestmark = pytest.mark.e2e

PASSWORD = "password-coordinamento"


def _world(app, make):
    territory = make.territory("lodi", name="Welfare Lodi")
    coop = make.cooperative(territory, name="Cooperativa Sole")
    service = make.service(coop, status="published", title="Assistenza domiciliare", vertical="elderly")
    make.municipality(territory, name="Codogno", population=15_000)
    make.funder(territory, name="Comune di Codogno")
    make.coordinator(territory, email="coord@lodi.example", password=PASSWORD, locale="en")
    today = dt.date.today()
    with app.app_context(), territory_scope(territory.id):
        lookup = deliveries.Lookup.load(db.session.get(Cooperative, coop.id))
        for n in range(12):
            clean, errors = deliveries.validate(dict(
                external_id=f"V{n}", service_id=str(service.id), beneficiary_ref=f"P{n % 6}",
                date=(today - dt.timedelta(days=5 + n)).isoformat(), duration_minutes="60", at_home="yes",
                municipality="Codogno", funding_source="municipal_contract", funder="Comune di Codogno",
                cost_eur="24"), lookup)
            assert not errors, errors
            deliveries.save(clean, lookup, "form")
        db.session.commit()
    return territory


def test_from_the_dashboard_to_a_downloaded_report(browser, live_server, app, make, a11y, run_jobs):
    territory = _world(app, make)
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto("/t/lodi/account/login")
    page.get_by_role("link", name="English").click()
    page.get_by_label("E-mail address").fill("coord@lodi.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto("/t/lodi/coordinator/")
    a11y.check(page)
    page.get_by_role("link", name="Territory dashboard").first.click()
    page.get_by_role("heading", name="Territory dashboard").wait_for()
    a11y.check(page)
    page.goto("/t/lodi/coordinator/")
    page.get_by_role("link", name="Impact evaluation").click()
    page.get_by_role("heading", name="Impact evaluation").wait_for()
    assert page.get_by_text("Codogno").first.is_visible()
    a11y.check(page)
    page.goto("/t/lodi/coordinator/")
    page.get_by_role("link", name="Reports for funders").click()
    a11y.check(page)
    page.get_by_label("Funder").select_option(label="Comune di Codogno")
    page.locator("label", has_text="Excel (XLSX)").click()
    page.get_by_role("button", name="Make the report").click()
    page.wait_for_url(re.compile(r"/t/lodi/coordinator/reports/\d+$"))
    run_jobs()  # with Redis the job waits for a worker; inline it has already run
    download_link = page.get_by_role("link", name="Download the report")
    if not download_link.is_visible():
        page.get_by_role("link", name="Refresh").click()
    a11y.check(page)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the report").click()
    assert download.value.suggested_filename.startswith("rendicontazione-comune-di-codogno")
    import io

    from openpyxl import load_workbook

    with open(download.value.path(), "rb") as handle:  # the browser's copy has no .xlsx name
        book = load_workbook(io.BytesIO(handle.read()))
    cells = [c for row in book.active.iter_rows(values_only=True) for c in row if c is not None]
    assert "Comune di Codogno" in cells and "288,00" in cells  # 12 visits x 24 EUR
    with app.app_context(), territory_scope(territory.id):
        run = db.session.execute(select(ReportRun)).scalar_one()
        assert run.status == ReportRun.READY and run.created_by is not None
    context.close()
