"""XLSX imports are bounded: a zip bomb is refused from the archive's directory before
openpyxl parses anything, and the job reads at most IMPORT_MAX_ROWS rows within
IMPORT_PARSE_SECONDS, stopping with an error report instead of holding a worker."""
from __future__ import annotations

import io
import time
import zipfile

import pytest
from sqlalchemy import func, select

from marketplace.models import DeliveryImport, DeliveryRecord
from tenants.scoping import territory_scope
from tests.delivery.test_imports import HEADER, _csv, _import, _row, _upload, world  # noqa: F401 (fixture)


def _xlsx(rows: list[list]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _bomb(world, sheet_xml_extra: str) -> bytes:
    """A real workbook (header and one good row) whose first sheet also holds ``extra`` XML
    inside its <sheetData>, recompressed at level 9."""
    good = _xlsx([HEADER, list(_row(world, 1).values())])
    source = zipfile.ZipFile(io.BytesIO(good))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"</sheetData>", sheet_xml_extra.encode() + b"</sheetData>")
            target.writestr(info.filename, data)
    return out.getvalue()


def _count(db, world, model) -> int:
    with territory_scope(world.territory.id):
        return db.session.execute(select(func.count(model.id))).scalar_one()


def test_a_sheet_of_one_huge_repeated_string_is_refused_before_parsing(client, db, world, monkeypatch):
    bomb = _bomb(world, '<row r="3"><c r="A3" t="inlineStr"><is><t>' + "A" * 20_000_000 + "</t></is></c></row>")
    assert len(bomb) < 200_000  # 20 MB of sheet in a small upload
    parsed = []
    monkeypatch.setattr("openpyxl.load_workbook", lambda *a, **k: parsed.append(1))
    started = time.monotonic()
    response = _upload(client, world, bomb, "deliveries.xlsx")
    assert response.status_code == 422
    assert "compressed far more than a spreadsheet can be (more than 100 to 1)" in response.get_data(as_text=True)
    assert time.monotonic() - started < 5 and not parsed  # the directory only: nothing was parsed
    assert _count(db, world, DeliveryImport) == 0  # nothing stored, no job


def test_many_empty_rows_beyond_the_uncompressed_limit_are_refused(client, db, world, monkeypatch):
    monkeypatch.setitem(client.application.config, "IMPORT_MAX_RATIO", 10_000)  # only the total counts here
    monkeypatch.setitem(client.application.config, "IMPORT_MAX_UNCOMPRESSED", 2_000_000)
    bomb = _bomb(world, "".join(f'<row r="{n}"/>' for n in range(3, 200_000)))
    response = _upload(client, world, bomb, "deliveries.xlsx")
    assert response.status_code == 422
    assert "expands to more than 2 MB once uncompressed" in response.get_data(as_text=True)
    assert _count(db, world, DeliveryImport) == 0


def test_an_ordinary_workbook_passes_the_archive_check(client, db, world, run_jobs):
    state = _import(client, world, run_jobs, _xlsx([HEADER] + [list(_row(world, n).values()) for n in range(50)]),
                    "deliveries.xlsx")
    assert (state["status"], state["imported"]) == ("done", 50), state


def test_the_job_stops_after_import_max_rows_with_an_error_report(client, db, world, run_jobs, monkeypatch):
    monkeypatch.setitem(client.application.config, "IMPORT_MAX_ROWS", 20)
    state = _import(client, world, run_jobs, _csv([_row(world, n) for n in range(40)]))
    assert state["status"] == "failed" and state["imported"] == 0, state
    page = client.get(state["url"]).get_data(as_text=True)
    assert "The file has more than 20 rows: split it into smaller files." in page
    assert _count(db, world, DeliveryRecord) == 0


def test_the_job_stops_when_reading_takes_longer_than_import_parse_seconds(client, db, world, run_jobs,
                                                                             monkeypatch):
    monkeypatch.setitem(client.application.config, "IMPORT_PARSE_SECONDS", 0)
    state = _import(client, world, run_jobs, _csv([_row(world, n) for n in range(250)]))
    assert state["status"] == "failed", state
    page = client.get(state["url"]).get_data(as_text=True)
    assert "Reading the file took too long and was stopped at row 100" in page


@pytest.mark.parametrize("members", [2000])
def test_an_archive_of_thousands_of_members_is_refused(client, db, world, members):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for n in range(members):
            target.writestr(f"x/{n}.xml", b"<a/>")
    response = _upload(client, world, out.getvalue(), "deliveries.xlsx")
    assert response.status_code == 422 and "once uncompressed" in response.get_data(as_text=True)
