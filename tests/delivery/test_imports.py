"""Cooperative staff import delivery records from a CSV or XLSX file: the rows are checked one
by one by a job (run as a worker would when Redis is configured), the valid ones imported,
the others reported with row, column and reason; the same file imported again adds nothing."""
from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re

import pytest
from sqlalchemy import func, select

from marketplace.models import Beneficiary, Cooperative, DeliveryImport, DeliveryRecord, OutcomeValue, Territory, User
from marketplace.services import deliveries, delivery_import
from tenants.scoping import territory_scope
from tests.conftest import csrf_token, login, post

DAY = (dt.date.today() - dt.timedelta(days=10))
HEADER = ["external_id", "service_id", "beneficiary_ref", "date", "start_time", "duration_minutes", "at_home",
          "municipality", "funding_source", "cost_eur", "autonomy"]


@dataclasses.dataclass
class World:
    territory: Territory
    coop: Cooperative
    staff: User
    service_id: int
    base: str       # /t/cremona/cooperative/<coop>/deliveries


@pytest.fixture
def world(client, make) -> World:
    territory = make.territory("cremona")
    coop = make.cooperative(territory, name="Il Girasole")
    staff = make.staff(coop, locale="en")
    service = make.service(coop, status="published", title="Assistenza domiciliare")
    make.municipality(territory, name="Crema", istat_code="019035")
    autonomy = make.indicator(territory, "autonomy", kind="scale_1_5", name="Autonomia")
    make.service_indicator(service, autonomy)
    make.indicator(territory, "respite_hours", name="Ore di sollievo")
    login(client, staff.email)
    return World(territory, coop, staff, service.id, f"/t/cremona/cooperative/{coop.id}/deliveries")


def _row(world: World, n: int, **change) -> dict:
    row = {"external_id": f"GEST-{n}", "service_id": str(world.service_id), "beneficiary_ref": f"PZ-{n % 7}",
           "date": DAY.strftime("%d/%m/%Y"), "start_time": "9:30", "duration_minutes": "60", "at_home": "sì",
           "municipality": "Crema", "funding_source": "municipal_contract", "cost_eur": "25,50", "autonomy": "4"}
    row.update(change)
    return row


def _csv(rows: list[dict], header=HEADER, delimiter=";", bom=True, encoding="utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(column, "") for column in header])
    return (("\ufeff" if bom else "") + out.getvalue()).encode(encoding)


def _upload(client, world: World, data: bytes, filename: str = "deliveries.csv"):
    return client.post(f"{world.base}/import", data={
        "csrf_token": csrf_token(client, f"{world.base}/import"),
        "file": (io.BytesIO(data), filename)}, content_type="multipart/form-data")


def _import(client, world: World, run_jobs, data: bytes, filename: str = "deliveries.csv") -> dict:
    """Upload, let the job run (a worker with Redis, inline without) and read the JSON progress."""
    response = _upload(client, world, data, filename)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    run_jobs()
    state = client.get(response.headers["Location"] + "?format=json")
    assert state.status_code == 200
    return state.get_json() | {"url": response.headers["Location"]}


def _count(db, world: World, model=DeliveryRecord) -> int:
    with territory_scope(world.territory.id):
        return db.session.execute(select(func.count(model.id))).scalar_one()


def test_a_good_csv_is_imported_by_the_job(client, db, world, run_jobs):
    rows = [_row(world, n) for n in range(1, 4)]
    rows[2].update(at_home="no", municipality="", autonomy="")
    state = _import(client, world, run_jobs, _csv(rows))
    assert state["status"] == "done" and state["finished"]
    assert (state["total_rows"], state["processed_rows"], state["imported"], state["duplicates"],
            state["error_count"]) == (3, 3, 3, 0, 0)
    page = client.get(state["url"]).get_data(as_text=True)
    assert "Finished: 3 imported, 0 already known, 0 rows with errors." in page
    assert 'max="100" value="100"' in page and "import-progress.js" not in page  # nothing left to poll
    with territory_scope(world.territory.id):
        records = db.session.execute(select(DeliveryRecord).order_by(DeliveryRecord.external_id)).scalars().all()
        assert [r.external_id for r in records] == ["GEST-1", "GEST-2", "GEST-3"]
        assert {r.source for r in records} == {DeliveryRecord.IMPORT}
        assert records[0].cost_cents == 2550 and records[0].at_home and records[0].delivered_on == DAY
        assert records[0].created_by_id == world.staff.id
        assert not records[2].at_home and records[2].municipality_id is None
        assert db.session.execute(select(func.count(OutcomeValue.id))).scalar_one() == 2
    listing = client.get(f"{world.base}/import").get_data(as_text=True)
    assert "deliveries.csv" in listing and "Finished" in listing


def test_a_comma_separated_cp1252_csv_without_bom_is_read(client, db, world, run_jobs):
    rows = [_row(world, 1, notes="Visita però breve")]
    state = _import(client, world, run_jobs, _csv(rows, header=HEADER + ["notes"], delimiter=",", bom=False,
                                                     encoding="cp1252"))
    assert (state["imported"], state["error_count"]) == (1, 0)
    with territory_scope(world.territory.id):
        assert db.session.execute(select(DeliveryRecord.notes)).scalar_one() == "Visita però breve"


def test_a_good_xlsx_is_imported_with_real_dates_times_and_numbers(client, db, world, run_jobs):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["External_ID", "service_id", "beneficiary_ref", "date", "start_time", "duration_minutes",
                  "at_home", "municipality", "cost_eur", "autonomy"])
    sheet.append([1001, world.service_id, "PZ-1", dt.datetime.combine(DAY, dt.time()), dt.time(14, 30), 90,
                  True, "019035", 37.5, 5])
    sheet.append([])  # a blank row in the middle is skipped
    sheet.append(["1002", str(world.service_id), "PZ-2", DAY.isoformat(), "08:00", "45", "no", None, "12", None])
    buffer = io.BytesIO()
    book.save(buffer)
    state = _import(client, world, run_jobs, buffer.getvalue(), "deliveries.xlsx")
    assert (state["total_rows"], state["imported"], state["error_count"]) == (2, 2, 0), state
    with territory_scope(world.territory.id):
        first = db.session.execute(select(DeliveryRecord).where(DeliveryRecord.external_id == "1001")).scalar_one()
        assert first.delivered_on == DAY and first.duration_minutes == 90 and first.cost_cents == 3750
        assert first.at_home and first.municipality.name == "Crema"
        assert first.starts_at.astimezone(deliveries.LOCAL_TZ).strftime("%H:%M") == "14:30"
        assert [o.value for o in first.outcomes] == [5]


def test_bad_rows_are_reported_with_row_column_and_reason_and_good_rows_imported(client, db, world, run_jobs):
    rows = [
        _row(world, 1),
        _row(world, 2, date="31/02/2026"),                       # file row 3
        _row(world, 3, duration_minutes="0", autonomy="9"),      # file row 4: two errors
        _row(world, 4),
        _row(world, 1, beneficiary_ref="PZ-9"),                  # file row 6: same external id as row 2
        _row(world, 5, respite_hours="3"),                      # column not in this file: ignored
    ]
    state = _import(client, world, run_jobs, _csv(rows))
    assert (state["processed_rows"], state["imported"], state["duplicates"], state["rows_refused"],
            state["error_count"]) == (6, 3, 0, 3, 4)
    with territory_scope(world.territory.id):
        item = db.session.execute(select(DeliveryImport)).scalar_one()
        assert [(r, c) for r, c, _reason in item.errors] == [
            (3, "date"), (4, "duration_minutes"), (4, "autonomy"), (6, "external_id")]
        # the job writes its messages in the language it runs in: a worker's is Italian
        assert "row 2" in item.errors[3][2] or "riga 2" in item.errors[3][2]
        assert sorted(db.session.execute(select(DeliveryRecord.external_id)).scalars()) == [
            "GEST-1", "GEST-4", "GEST-5"]
    page = client.get(state["url"]).get_data(as_text=True)
    assert "Finished: 3 imported, 0 already known, 3 rows with errors." in page
    assert re.search(r'<th scope="row">3</th><td><code>date</code></td><td>Write the date as', page)
    report = client.get(state["url"] + "/errors.csv")
    assert report.status_code == 200 and report.mimetype == "text/csv"
    lines = report.get_data().decode("utf-8-sig").splitlines()
    assert lines[0] == "row;column;reason" and lines[1].startswith("3;date;Write the date as")
    assert len(lines) == 5


def test_the_same_file_imported_again_adds_nothing(client, db, world, run_jobs):
    data = _csv([_row(world, n) for n in range(1, 6)])
    first = _import(client, world, run_jobs, data)
    assert (first["imported"], first["duplicates"]) == (5, 0)
    again = _import(client, world, run_jobs, data)
    assert (again["imported"], again["duplicates"], again["error_count"]) == (0, 5, 0)
    assert _count(db, world) == 5
    assert _count(db, world, Beneficiary) == 5  # PZ-1 .. PZ-5, registered once


@pytest.mark.parametrize("data,filename,message", [
    (b"", "empty.csv", "The file is empty."),
    (b"\xef\xbb\xbf\r\n\r\n", "blank.csv", "The file is empty."),
    (b"external_id;service_id;beneficiary_ref;date;duration_minutes\r\n", "header.csv",
     "The file has no rows under the header."),
    (b"external_id;service_id;date;duration_minutes\r\nX;1;01/01/2026;30\r\n", "missing.csv",
     "Required columns are missing: beneficiary_ref."),
    (b"external_id;service_id;beneficiary_ref;date;duration_minutes;colour\r\nX;1;P;01/01/2026;30;red\r\n",
     "unknown.csv", "Unknown columns: “colour”."),
    (b"GEST-1;1;PZ-1;01/01/2026;30\r\n", "no-header.csv", "Unknown columns: “GEST-1”"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x08", "photo.csv", "This is not a CSV or XLSX file"),
    (b"PK\x03\x04 this is no workbook", "broken.xlsx", "looks like an Excel workbook but cannot be read"),
])
def test_a_file_that_cannot_be_imported_is_refused_before_anything_is_queued(client, db, world, run_jobs,
                                                                             data, filename, message):
    response = _upload(client, world, data, filename)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page and 'class="error-summary"' in page
    run_jobs()
    assert _count(db, world, DeliveryImport) == 0 and _count(db, world) == 0


def test_no_file_chosen_is_refused(client, db, world):
    response = post(client, f"{world.base}/import", {}, token_from=f"{world.base}/import")
    assert response.status_code == 422 and "Choose a CSV or XLSX file." in response.get_data(as_text=True)


def test_uploads_beyond_the_app_limit_are_read_and_beyond_the_import_limit_refused(client, db, world):
    padding = "x" * 1990
    big = _csv([_row(world, n, notes=padding) for n in range(2100)], header=HEADER + ["notes"] + ["colour"])
    assert 4 * 1024 * 1024 < len(big) < delivery_import.MAX_BYTES  # more than the app's 3 MB
    response = _upload(client, world, big)
    assert response.status_code == 422  # read whole: refused for its column, not for its size
    assert "Unknown columns: “colour”" in response.get_data(as_text=True)
    huge = b"external_id;" + b"x" * (delivery_import.MAX_BYTES + 1024)
    response = _upload(client, world, huge)
    assert response.status_code == 413
    assert _count(db, world, DeliveryImport) == 0


def test_the_progress_page_polls_while_running_and_works_without_javascript(client, db, world, make):
    with territory_scope(world.territory.id):
        item = DeliveryImport(territory_id=world.territory.id, cooperative_id=world.coop.id, filename="big.csv",
                              storage_key="t0/none.csv", status=DeliveryImport.RUNNING, total_rows=50_000,
                              processed_rows=12_500, imported=12_000, duplicates=400, error_count=120,
                              errors=[[7, "date", "Write the date as 31/12/2026 or 2026-12-31."]])
        db.session.add(item)
        db.session.commit()
        url = f"{world.base}/imports/{item.id}"
    state = client.get(url + "?format=json")
    assert state.headers["Cache-Control"] == "no-store"
    assert state.get_json() == {"id": item.id, "status": "running", "finished": False, "total_rows": 50_000,
                                "processed_rows": 12_500, "imported": 12_000, "duplicates": 400,
                                "rows_refused": 100, "error_count": 120, "percent": 25}
    page = client.get(url).get_data(as_text=True)
    assert '<progress id="import-bar" class="w-100" max="50000" value="12500">25%</progress>' in page
    assert "12500 of 50000 rows processed" in page and 'aria-live="polite"' in page
    assert "js/import-progress.js" in page and f'data-url="{url}?format=json"' in page
    assert f'href="{url}">Refresh</a>' in page


def test_a_5000_row_file_imports_correctly(client, db, world, run_jobs):
    rows = [_row(world, n, beneficiary_ref=f"PZ-{n % 300}") for n in range(1, 5001)]
    rows[4321]["duration_minutes"] = "lots"
    state = _import(client, world, run_jobs, _csv(rows))
    assert (state["total_rows"], state["imported"], state["error_count"]) == (5000, 4999, 1)
    with territory_scope(world.territory.id):
        item = db.session.execute(select(DeliveryImport)).scalar_one()
        assert item.errors[0][:2] == [4323, "duration_minutes"]  # header is row 1
    assert _count(db, world) == 4999 and _count(db, world, Beneficiary) == 300


def test_a_run_that_stops_keeps_its_committed_rows_and_resumes(client, db, world, run_jobs, monkeypatch):
    real_save = deliveries.save
    calls = {"n": 0}

    def flaky_save(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 700:
            raise RuntimeError("disk full")
        return real_save(*args, **kwargs)

    monkeypatch.setattr(deliveries, "save", flaky_save)
    data = _csv([_row(world, n) for n in range(1, 1201)])
    state = _import(client, world, run_jobs, data)
    assert (state["status"], state["processed_rows"], state["imported"]) == ("failed", 500, 500)
    assert _count(db, world) == 500  # the first batch stays
    page = client.get(state["url"]).get_data(as_text=True)
    assert "The import stopped after 500 rows." in page and "Resume the import" in page
    response = post(client, state["url"] + "/resume", token_from=state["url"])
    assert response.status_code == 302
    run_jobs()
    final = client.get(state["url"] + "?format=json").get_json()
    assert (final["status"], final["processed_rows"], final["imported"], final["duplicates"]) == (
        "done", 1200, 1200, 0)
    assert _count(db, world) == 1200


def test_templates_name_the_columns_and_the_services_outcomes(client, world):
    response = client.get(f"{world.base}/import/template.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    assert body.decode("utf-8-sig").strip() == ";".join(list(deliveries.COLUMNS) + ["autonomy"])
    response = client.get(f"{world.base}/import/template.xlsx")
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(response.get_data()))
    assert [c.value for c in book.worksheets[0][1]] == list(deliveries.COLUMNS) + ["autonomy"]
    assert book.worksheets[1]["A2"].value == "external_id"
    page = client.get(f"{world.base}/import").get_data(as_text=True)
    assert "<code>autonomy</code>" in page and "<code>respite_hours</code>" not in page
    assert "Assistenza domiciliare" in page and "<code>municipal_voucher</code>" in page


def test_the_downloaded_template_filled_in_imports(client, db, world, run_jobs):
    header = client.get(f"{world.base}/import/template.csv").get_data().decode("utf-8-sig").strip().split(";")
    state = _import(client, world, run_jobs, _csv([_row(world, 1)], header=header))
    assert (state["imported"], state["error_count"]) == (1, 0)


def test_the_error_report_is_safe_to_open_in_a_spreadsheet(app, db, world):
    with app.test_request_context(), territory_scope(world.territory.id):
        item = DeliveryImport(cooperative_id=world.coop.id, filename="x.csv", storage_key="k",
                              errors=[[2, "notes", "=HYPERLINK(\"http://evil\")"], [3, "", "+1"]])
        lines = delivery_import.errors_csv(item).decode("utf-8-sig").splitlines()
    assert lines[1:] == ["2;notes;\"'=HYPERLINK(\"\"http://evil\"\")\"", "3;;'+1"]


# ---------------------------------------------------------------------------- tenancy

def test_other_territories_and_other_cooperatives_cannot_reach_imports(client, db, world, make, run_jobs):
    state = _import(client, world, run_jobs, _csv([_row(world, 1, date="bad")]))
    import_url = state["url"]
    other_territory = make.territory("milano")
    foreign_coop = make.cooperative(other_territory)
    neighbour = make.cooperative(world.territory)
    neighbour_staff = make.staff(neighbour)
    # this cooperative or its import under another territory's URL: 404; that territory's own: 403
    assert client.get(f"/t/milano/cooperative/{world.coop.id}/deliveries/import").status_code == 404
    assert client.get(f"/t/milano/cooperative/{foreign_coop.id}/deliveries/import").status_code == 403
    assert client.get(import_url.replace("/t/cremona/", "/t/milano/")).status_code == 404
    # staff of another cooperative: 403 on this cooperative's pages
    client.post("/account/logout", data={"csrf_token": csrf_token(client, f"{world.base}/import")})
    login(client, neighbour_staff.email)
    for url in (f"{world.base}/import", f"{world.base}/import/template.csv", import_url,
                import_url + "?format=json", import_url + "/errors.csv"):
        assert client.get(url).status_code == 403, url
    own = f"/t/cremona/cooperative/{neighbour.id}/deliveries"
    # the import's id under the neighbour's own cooperative: 404
    assert client.get(own + import_url[len(world.base):]).status_code == 404
    assert client.get(own + import_url[len(world.base):] + "/errors.csv").status_code == 404
    assert post(client, own + import_url[len(world.base):] + "/resume",
                token_from=f"{own}/import").status_code == 404
    assert client.get(own + "/imports/999999").status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(app, world):
    anonymous = app.test_client()
    response = anonymous.get(f"{world.base}/import")
    assert response.status_code == 302 and "/account/login" in response.headers["Location"]


def test_a_file_broken_further_down_stops_with_the_row_that_cannot_be_read(client, db, world, run_jobs):
    data = _csv([_row(world, 1), _row(world, 2)]) + b'GEST-3;1;PZ;01/01/2026;;' + b"x" * 140_000 + b"\r\n"
    state = _import(client, world, run_jobs, data)
    assert state["status"] == "failed" and _count(db, world) == 0
    page = client.get(state["url"]).get_data(as_text=True)
    assert ("Row 4 cannot be read" in page or "La riga 4 non si riesce a leggere" in page)  # worker: Italian
    assert "The file cannot be read to the end" in page
    assert "Resume the import" not in page
