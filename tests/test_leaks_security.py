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


# ---------------------------------------------------------------------------- documents

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def applicant(make):
    territory = make.territory(default_language="en")
    funder = make.funder(territory, name="Comune di Casalmaggiore")
    programme = make.programme(funder, title="Buoni nido 2026", documents=["ISEE certificate"])
    citizen = make.user(email="giulia@example.org", full_name="Giulia Rossi", locale="en")
    officer = make.funder_officer(funder, email="ufficio@comune.example", locale="en")
    return dict(territory=territory, funder=funder, programme=programme, citizen=citizen, officer=officer,
                base=f"/t/{territory.slug}")


def _new_application(client, applicant) -> str:
    import re

    page = f"{applicant['base']}/programmes/{applicant['programme'].id}"
    response = post(client, f"{page}/apply", {}, token_from=page)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return re.search(r"/applications/([A-Z0-9]+)$", response.headers["Location"]).group(1)


def _assert_private_pdf(response, name: str):
    assert response.status_code == 200 and response.data.startswith(b"%PDF-")
    assert response.headers["Content-Type"] == "application/pdf"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f'filename="{name}"' in disposition and f"filename*=UTF-8''{name}" in disposition
    assert ".html" not in disposition and ".exe" not in disposition
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store, private"


def test_an_uploaded_document_takes_the_extension_of_its_detected_type(app, client, db, applicant):
    """A real PDF uploaded as isee.html is stored, listed and downloaded (by the citizen and
    by the funder's officer) as isee.pdf, application/pdf, an attachment nobody caches."""
    import io

    from sqlalchemy import update

    from marketplace.models import Application, ApplicationDocument

    login(client, applicant["citizen"].email)
    code = _new_application(client, applicant)
    url = f"{applicant['base']}/applications/{code}"
    response = post(client, f"{url}/documents", {"document": "0", "file": (io.BytesIO(PDF), "isee.html")},
                    token_from=url, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    with territory_scope(applicant["territory"].id):
        document = db.session.execute(select(ApplicationDocument)).scalar_one()
        assert document.filename == "isee.pdf" and document.content_type == "application/pdf"
        assert document.storage_key.endswith(".pdf")
        db.session.execute(update(Application).where(Application.code == code).values(
            status=Application.SUBMITTED, submitted_at=document.uploaded_at))
        db.session.commit()
        application_id = document.application_id
    page = client.get(url).get_data(as_text=True)
    assert "isee.pdf" in page and "isee.html" not in page
    _assert_private_pdf(client.get(f"{url}/documents/{document.id}"), "isee.pdf")

    officer = app.test_client()
    login(officer, applicant["officer"].email)
    _assert_private_pdf(officer.get(f"{applicant['base']}/funders/{applicant['funder'].id}/applications/"
                                    f"{application_id}/documents/{document.id}"), "isee.pdf")


def test_documents_stored_before_keep_downloading_with_their_detected_type(app, client, db, make, applicant):
    """Rows written before the fix kept the sender's name ("isee.html", "scan.pdf.exe"): they
    download with the extension of what the bytes are; bytes that are no document are
    application/octet-stream, never the type the row claims."""
    from marketplace import storage
    from marketplace.models import Application, ApplicationDocument

    with app.app_context(), territory_scope(applicant["territory"].id):
        item = Application(territory_id=applicant["territory"].id, programme_id=applicant["programme"].id,
                           user_id=applicant["citizen"].id, beneficiary_name="Luca Rossi", status=Application.SUBMITTED,
                           submitted_at=dt.datetime.now(dt.timezone.utc))
        db.session.add(item)
        db.session.flush()
        docs = []
        for data, filename in ((PDF, "isee.html"), (PDF, "scan.pdf.exe"), (b"<html><script>x</script>", "a.pdf")):
            stored = storage.save(item.territory_id, data, "pdf")
            doc = ApplicationDocument(territory_id=item.territory_id, application_id=item.id, label="ISEE certificate",
                                      filename=filename, content_type="application/pdf", size_bytes=stored.size,
                                      storage_key=stored.key, sha256=stored.sha256)
            db.session.add(doc)
            docs.append(doc)
        db.session.commit()
        ids, application_id = [d.id for d in docs], item.id
    login(client, applicant["officer"].email)
    base = f"{applicant['base']}/funders/{applicant['funder'].id}/applications/{application_id}/documents"
    _assert_private_pdf(client.get(f"{base}/{ids[0]}"), "isee.pdf")
    _assert_private_pdf(client.get(f"{base}/{ids[1]}"), "scan_pdf.pdf")
    odd = client.get(f"{base}/{ids[2]}")
    assert odd.status_code == 200 and odd.headers["Content-Type"] == "application/octet-stream"
    assert 'filename="a.bin"' in odd.headers["Content-Disposition"]
    assert odd.headers["X-Content-Type-Options"] == "nosniff"


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
    assert download.headers["Cache-Control"] == "no-store, private"
    assert download.headers["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert ".xlsx" in download.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(download.data)).active
    cells = {cell.value: cell for row in sheet.iter_rows() for cell in row if cell.value is not None}
    for text in (FORMULA_FUNDER, FORMULA_COOP, FORMULA_SERVICE):
        assert text in cells, sorted(map(str, cells))
        assert cells[text].data_type == "s"
    assert all(cell.data_type != "f" for cell in cells.values())
    assert any(isinstance(value, int) for value in cells)  # counts stay numbers


# ---------------------------------------------------------------------------- API tokens

TOKEN_RE = __import__("re").compile(r'id="new-token" type="text" value="([^"]+)"')


@pytest.fixture
def pusher(client, make):
    territory = make.territory("cremona")
    coop = make.cooperative(territory, name="Il Girasole")
    staff = make.staff(coop, locale="en")
    service = make.service(coop, status="published")
    make.municipality(territory, name="Crema")
    coordinator = make.coordinator(territory, locale="en")
    login(client, staff.email)
    return dict(territory=territory, coop=coop, service_id=service.id, coordinator=coordinator,
                tokens_url=f"/t/cremona/cooperative/{coop.id}/api-tokens", push_url="/api/v1/territories/cremona/deliveries")


def _make_token(client, pusher, **data) -> str:
    response = post(client, pusher["tokens_url"], {"name": "Gestionale", **data}, token_from=pusher["tokens_url"])
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return TOKEN_RE.search(response.get_data(as_text=True)).group(1)


def _push(app, pusher, token: str, n: int):
    record = {"external_id": f"SW-{n}", "service_id": pusher["service_id"], "beneficiary_ref": f"PZ-{n}",
              "date": (dt.date.today() - dt.timedelta(days=3)).isoformat(), "start_time": "10:00",
              "duration_minutes": 45, "at_home": True, "municipality": "Crema", "cost_eur": 18.5}
    return app.test_client().post(pusher["push_url"], json={"records": [record]},
                                  headers={"Authorization": f"Bearer {token}"})


def test_a_suspended_cooperatives_token_stops_working(app, client, db, pusher):
    """Works; the coordinator suspends the cooperative -> 403 with the reason, nothing
    saved; accredited again -> works again."""
    from marketplace.models import DeliveryRecord

    token = _make_token(client, pusher)
    assert _push(app, pusher, token, 1).status_code == 200
    coordinator = app.test_client()
    login(coordinator, pusher["coordinator"].email)
    detail = f"/t/cremona/coordinator/cooperatives/{pusher['coop'].id}"
    assert post(coordinator, f"{detail}/status", {"status": "suspended"}, token_from=detail).status_code == 302

    refused = _push(app, pusher, token, 2)
    assert refused.status_code == 403
    answer = refused.get_json()
    assert answer["status"] == 403 and "La cooperativa è sospesa" in answer["message"]  # Italian: the API default
    assert "suspended" in client.get(pusher["tokens_url"]).get_data(as_text=True)
    with territory_scope(pusher["territory"].id):
        assert [r.external_id for r in db.session.execute(select(DeliveryRecord)).scalars()] == ["SW-1"]

    assert post(coordinator, f"{detail}/status", {"status": "accredited"}, token_from=detail).status_code == 302
    assert _push(app, pusher, token, 3).status_code == 200


def test_a_token_carries_an_expiry_date_and_is_refused_after_it(app, client, db, pusher):
    """The form proposes a year from today; the date is shown on the page; a token past
    its date is a 401 saying it expired; a date not after today is a form error."""
    from sqlalchemy import update

    from marketplace.models import ApiToken
    from marketplace.services import api_tokens

    page = client.get(pusher["tokens_url"]).get_data(as_text=True)
    assert f'value="{api_tokens.default_expiry().isoformat()}"' in page and "Expires on" in page

    refused = post(client, pusher["tokens_url"], {"name": "Vecchio", "expires_on": api_tokens.today().isoformat()},
                   token_from=pusher["tokens_url"])
    assert refused.status_code == 422 and "Choose an expiry date after today" in refused.get_data(as_text=True)

    tomorrow = api_tokens.today() + dt.timedelta(days=1)
    token = _make_token(client, pusher, expires_on=tomorrow.isoformat())
    assert _push(app, pusher, token, 1).status_code == 200  # works up to and including its day
    with territory_scope(pusher["territory"].id):
        row = db.session.execute(select(ApiToken)).scalar_one()
        assert row.expires_on == tomorrow
        # Time passes: the day is over.
        db.session.execute(update(ApiToken).values(expires_on=api_tokens.today() - dt.timedelta(days=1)))
        db.session.commit()
    expired = _push(app, pusher, token, 2)
    assert expired.status_code == 401 and "è scaduto il" in expired.get_json()["message"]
    assert 'error="invalid_token"' in expired.headers["WWW-Authenticate"]
    listing = client.get(pusher["tokens_url"]).get_data(as_text=True)
    assert "Expired" in listing

    forever = _make_token(client, pusher, expires_on="")
    assert _push(app, pusher, forever, 3).status_code == 200
    assert "Never (until revoked)" in client.get(pusher["tokens_url"]).get_data(as_text=True)


# ---------------------------------------------------------------------------- private downloads

def test_report_downloads_are_never_cached(app, client, db, make):
    """Exports with figures of people: the territory's and the cooperative's impact CSV,
    the funder's dashboard exports and the cooperative's statements are attachments sent
    with no-store, private and nosniff."""
    territory = make.territory()
    coop = make.cooperative(territory)
    funder = make.funder(territory, name="Comune di Crema")
    coordinator = make.coordinator(territory, locale="en")
    staff = make.staff(coop, locale="en")
    officer = make.funder_officer(funder, locale="en")
    month = dt.date.today().strftime("%Y-%m")
    base = f"/t/{territory.slug}"
    for user, urls in ((coordinator, ["/coordinator/territory.csv"]),
                       (staff, [f"/cooperative/{coop.id}/dashboard.csv",
                                f"/cooperative/{coop.id}/statements/{funder.id}/{month}.csv",
                                f"/cooperative/{coop.id}/statements/{funder.id}/{month}.pdf"]),
                       (officer, [f"/funders/{funder.id}/dashboard.csv", f"/funders/{funder.id}/dashboard.xlsx",
                                  f"/funders/{funder.id}/statement.pdf"])):
        browser = app.test_client()
        login(browser, user.email)
        for url in urls:
            response = browser.get(base + url)
            assert response.status_code == 200, (url, response.status_code)
            assert response.headers["Cache-Control"] == "no-store, private", url
            assert response.headers["X-Content-Type-Options"] == "nosniff", url
            disposition = response.headers["Content-Disposition"]
            assert disposition.startswith("attachment;") and "filename*=UTF-8''" in disposition, url
            assert disposition.split('filename="')[1].split('"')[0].rsplit(".", 1)[1] == url.rsplit(".", 1)[1], url
