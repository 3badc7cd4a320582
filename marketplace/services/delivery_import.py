"""Import of delivery records from a CSV or XLSX file, by a job, with progress.

``check_file`` reads an upload's header before anything is stored (refusing files that are
not CSV/XLSX, empty files, unknown and missing columns); ``start`` stores the file, makes the
``DeliveryImport`` row and enqueues ``jobs.import_deliveries`` (after the caller's commit);
``run`` — the job's body — reads the rows streaming, checks each with
``deliveries.validate``, saves the good ones with ``deliveries.save`` (source IMPORT) and
commits every ``BATCH`` rows with its progress. A run that stopped half-way (FAILED) resumes
after the rows it committed; re-importing a file makes no duplicates (``external_id``).

Everything runs inside a territory scope; ``start`` leaves the commit to its caller, ``run``
commits itself.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import logging
import time
import zipfile
from dataclasses import dataclass
from typing import Iterator

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from marketplace import storage
from marketplace.extensions import db
from marketplace.models import Cooperative, DeliveryImport, DeliveryRecord, OutcomeIndicator, Service, User
from marketplace.models.base import utcnow
from marketplace.models.delivery import ServiceIndicator
from marketplace.queue import enqueue
from marketplace.services import DomainError, deliveries
from marketplace.services.slots import _csv_cell, xlsx_append

log = logging.getLogger("marketplace.imports")

MAX_BYTES = 20 * 1024 * 1024       # ~250,000 rows of CSV
BATCH = 500                        # rows per transaction (and per progress update)
MAX_KEPT_ERRORS = 1000             # errors kept for the report; all are counted
FILE_COLUMN = "(file)"              # the "column" of an error that stopped the reading of the file
JOB_TIMEOUT = 2 * 60 * 60          # seconds a worker lets one import run (RQ's default is 180)
XLSX_MAGIC = b"PK\x03\x04"
MAX_COLUMNS = 256                  # cells read per row: a header has ~15 columns and the indicators
RATIO_FLOOR = 1024 * 1024          # members smaller than this expand to little whatever their ratio
MAX_MEMBERS = 1000                 # a workbook has a dozen parts
# Defaults of the settings of the same names (config.py), for use outside an app.
LIMITS = {"IMPORT_MAX_UNCOMPRESSED": 50 * 1000 * 1000, "IMPORT_MAX_RATIO": 100,
          "IMPORT_PARSE_SECONDS": 120, "IMPORT_MAX_ROWS": 200_000}
COLUMN_HELP = {
    "external_id": _l("Your own unique code for this delivery: at most 64 letters, digits and . _ / - "
                      "(no spaces). A row whose code was already imported is skipped, so the same file can "
                      "be imported again safely."),
    "service_id": _l("The number of the service, from the list below."),
    "beneficiary_ref": _l("Your reference for the person (e.g. the file number), never a name or a fiscal code. "
                          "A new reference registers a new beneficiary."),
    "date": _l("The day of the delivery, like 31/12/2026 or 2026-12-31: not in the future, at most five years "
               "ago."),
    "start_time": _l("Optional. The start time, like 14:30 (Italian time)."),
    "duration_minutes": _l("Minutes, a whole number from 1 to 1440."),
    "at_home": _l("yes or no (also sì, 1, 0). Empty means no."),
    "location": _l("Optional. Where, if not at home (at most 200 characters)."),
    "municipality": _l("Name or ISTAT code of the municipality; required for deliveries at home."),
    "operator": _l("Optional. Who delivered it: a staff member or a role (at most 120 characters)."),
    "activity_type": _l("Optional. The kind of activity (at most 80 characters)."),
    "funding_source": _l("Who paid, as one of the codes below. Empty means the citizen."),
    "funder": _l("Optional. The funder's name as the territory lists it."),
    "cost_eur": _l("Optional. The cost in euros, like 25,50."),
    "notes": _l("Optional. At most 2000 characters. Do not write names or health details."),
}
assert set(COLUMN_HELP) == set(deliveries.COLUMNS)


class ImportFileError(DomainError):
    """The uploaded file cannot be imported at all (nothing is stored or queued)."""

    def __init__(self, message, row: int | None = None):
        super().__init__(message, field="file")
        self.row = row


# ---------------------------------------------------------------------------- columns

def indicators_of(cooperative: Cooperative) -> list[OutcomeIndicator]:
    """The active outcome indicators some service of ``cooperative`` records, by code."""
    return list(db.session.execute(
        select(OutcomeIndicator)
        .join(ServiceIndicator, ServiceIndicator.indicator_id == OutcomeIndicator.id)
        .join(Service, Service.id == ServiceIndicator.service_id)
        .where(Service.cooperative_id == cooperative.id, OutcomeIndicator.active.is_(True))
        .distinct().order_by(OutcomeIndicator.code)
    ).scalars())


def template_columns(cooperative: Cooperative) -> list[str]:
    """The template's header: ``deliveries.COLUMNS`` then one column per outcome indicator."""
    return list(deliveries.COLUMNS) + [i.code for i in indicators_of(cooperative)]


def _known_columns() -> dict[str, str]:
    """Column names an import may use (case-insensitive) -> their canonical spelling: the
    fixed columns and the code of every active indicator of the territory."""
    known = {c.casefold(): c for c in deliveries.COLUMNS}
    for code in db.session.execute(select(OutcomeIndicator.code).where(OutcomeIndicator.active.is_(True))).scalars():
        known.setdefault(code.casefold(), code)
    return known


def template_csv(cooperative: Cooperative) -> bytes:
    """The empty template as Italian Excel opens it: UTF-8 with BOM, semicolons."""
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerow(template_columns(cooperative))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def template_xlsx(cooperative: Cooperative) -> bytes:
    """The empty template as a workbook: the header on the first sheet (text cells), what
    each column means on a second sheet."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    columns = template_columns(cooperative)
    helps = {i.code: _indicator_help(i) for i in indicators_of(cooperative)}
    book = Workbook()
    sheet = book.active
    sheet.title = str(_l("Deliveries"))[:31]
    for cell in xlsx_append(sheet, columns):
        cell.font = Font(bold=True)
        sheet.column_dimensions[cell.column_letter].width = max(12, len(cell.value) + 4)
    sheet.freeze_panes = "A2"
    guide = book.create_sheet(str(_l("Columns"))[:31])
    for cell in xlsx_append(guide, [_l("Column"), _l("Required"), _l("What to write")]):
        cell.font = Font(bold=True)
    for column in columns:
        text = str(COLUMN_HELP[column]) if column in COLUMN_HELP else helps[column]
        xlsx_append(guide, [column, _l("yes") if column in deliveries.REQUIRED else _l("no"), text])
    guide.column_dimensions["A"].width = 22
    guide.column_dimensions["B"].width = 12
    guide.column_dimensions["C"].width = 100
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _indicator_help(indicator: OutcomeIndicator) -> str:
    if indicator.kind == OutcomeIndicator.SCALE:
        how = _l("a score from 1 to 5")
    elif indicator.kind == OutcomeIndicator.YES_NO:
        how = _l("yes or no")
    elif indicator.unit:
        how = _l("a whole number, in %(unit)s", unit=indicator.unit)
    else:
        how = _l("a whole number")
    return str(_l("Optional. %(name)s: %(how)s. Only for the services that record it.",
                  name=indicator.name, how=how))


def indicator_help(indicator: OutcomeIndicator) -> str:
    """What to write in an outcome indicator's column (for the import page)."""
    return _indicator_help(indicator)


# ---------------------------------------------------------------------------- reading

def _cell_text(value, column: str | None = None) -> str:
    """An XLSX cell as the text a CSV would have (dates ISO, times HH:MM, whole numbers
    without a decimal point)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        if column == "start_time":
            return value.strftime("%H:%M")
        if column == "date" or value.time() == dt.time(0):
            return value.date().isoformat()
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value).strip()


def _limit(name: str) -> int:
    return int(current_app.config.get(name, LIMITS[name])) if has_app_context() else LIMITS[name]


def check_archive(data: bytes) -> None:
    """Refuse an XLSX whose zip directory announces more than ``IMPORT_MAX_UNCOMPRESSED``
    bytes in all, or a member (of more than 1 MiB) compressed more than ``IMPORT_MAX_RATIO``
    to 1: a zip bomb. Reads the directory only, extracts nothing; raises ImportFileError.

    A sheet is XML: real ones compress 5-20 to 1. A 133 KB file that expands to 54 MB of one
    repeated string or of empty rows is refused here, before openpyxl parses anything."""
    try:
        members = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise ImportFileError(_l("This file looks like an Excel workbook but cannot be read: save it "
                                 "again as .xlsx (Excel 2007 or later) or as CSV.")) from None
    limit, ratio = _limit("IMPORT_MAX_UNCOMPRESSED"), _limit("IMPORT_MAX_RATIO")
    total = sum(m.file_size for m in members)
    if len(members) > MAX_MEMBERS or total > limit:
        raise ImportFileError(_l("The workbook expands to more than %(n)d MB once uncompressed: split it into "
                                 "smaller files or save it as CSV.", n=limit // (1000 * 1000)))
    for member in members:
        if member.file_size > RATIO_FLOOR and member.file_size > ratio * max(member.compress_size, 1):
            raise ImportFileError(_l("The workbook is compressed far more than a spreadsheet can be "
                                     "(more than %(ratio)d to 1): it cannot be imported. Save it again from "
                                     "your spreadsheet, or as CSV.", ratio=ratio))


class ImportFile:
    """An uploaded file's rows, read streaming: ``header`` (the first non-blank row) and
    ``rows()`` -> (row number as a spreadsheet shows it, list of cell texts), blank rows
    skipped. Raises ImportFileError if the file is not a CSV or XLSX it can read (an XLSX
    passes ``check_archive`` first), when it has more than ``IMPORT_MAX_ROWS`` rows, or when
    reading goes on past ``deadline`` (a ``time.monotonic()`` value; None: no limit)."""

    def __init__(self, data: bytes, deadline: float | None = None):
        if not data.strip(b"\xef\xbb\xbf \t\r\n"):
            raise ImportFileError(_l("The file is empty."))
        self.kind = "xlsx" if data[:4] == XLSX_MAGIC else "csv"
        self._book = None
        self.deadline = deadline
        self.max_rows = _limit("IMPORT_MAX_ROWS")
        if self.kind == "xlsx":
            self._open_xlsx(data)
        else:
            self._open_csv(data)
        self.header: list[str] = []
        self.header_row = 0
        for number, cells in self._raw_rows():
            self.header = [(c if isinstance(c, str) else _cell_text(c)).strip() for c in cells]
            self.header_row = number
            break
        if not self.header:
            raise ImportFileError(_l("The file is empty."))
        while self.header and not self.header[-1]:
            self.header.pop()

    def _open_xlsx(self, data: bytes) -> None:
        from openpyxl import load_workbook

        check_archive(data)
        try:
            self._book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            self._sheet = self._book.worksheets[0]
        except Exception:  # noqa: BLE001 - any zip openpyxl cannot read (BadZipFile, KeyError, ...)
            raise ImportFileError(_l("This file looks like an Excel workbook but cannot be read: save it "
                                     "again as .xlsx (Excel 2007 or later) or as CSV.")) from None

    def _open_csv(self, data: bytes) -> None:
        head = data[:8192]
        controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
        if b"\x00" in head or controls > len(head) // 100:
            raise ImportFileError(_l("This is not a CSV or XLSX file: save the spreadsheet as CSV (UTF-8) "
                                     "or as Excel workbook (.xlsx)."))
        try:
            self._text = codecs.decode(data, "utf-8-sig")
        except UnicodeDecodeError:
            try:
                self._text = data.decode("cp1252")
            except UnicodeDecodeError:
                raise ImportFileError(_l("The file's text encoding is not recognised: save it from your "
                                         "spreadsheet as CSV UTF-8.")) from None
        first = next((line for line in self._text.splitlines() if line.strip()), "")
        self.delimiter = ";" if first.count(";") >= first.count(",") else ","

    def _limits(self, number: int) -> None:
        """Stop reading (ImportFileError at ``number``) beyond the row limit or the deadline."""
        if number > self.max_rows:
            raise ImportFileError(_l("The file has more than %(n)d rows: split it into smaller files.",
                                     n=self.max_rows), row=number)
        if self.deadline is not None and number % 100 == 0 and time.monotonic() > self.deadline:
            raise ImportFileError(_l("Reading the file took too long and was stopped at row %(n)d: split it "
                                     "into smaller files.", n=number), row=number)

    def _raw_rows(self) -> Iterator[tuple[int, list[str]]]:
        if self.kind == "xlsx":
            # The sheet's declared dimension pads every row; a forged one (A1:XFD1048576) must
            # not make 16,384 cells of each.
            width = min(self._sheet.max_column or MAX_COLUMNS, MAX_COLUMNS)
            rows = self._sheet.iter_rows(values_only=True, max_col=width)
            for number, values in enumerate(rows, start=1):
                self._limits(number)
                cells = [_cell_text(v) if not isinstance(v, (dt.datetime, dt.date, dt.time)) else v
                         for v in values]
                if any(c not in ("", None) for c in cells):
                    yield number, cells
        else:
            reader = csv.reader(io.StringIO(self._text, newline=""), delimiter=self.delimiter)
            number = 0
            while True:
                number += 1
                self._limits(number)
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error:
                    raise ImportFileError(_l("Row %(n)d cannot be read: check its quotation marks and that no cell "
                                             "is extremely long.", n=number), row=number) from None
                if any(c.strip() for c in cells):
                    yield number, cells

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """The data rows under the header, cells as text; XLSX dates and times converted
        by the column they are in."""
        columns = self.header
        for number, cells in self._raw_rows():
            if number <= self.header_row:
                continue
            if self.kind == "xlsx":
                cells = [_cell_text(c, columns[i].casefold() if i < len(columns) else None)
                         if isinstance(c, (dt.datetime, dt.date, dt.time)) else c for i, c in enumerate(cells)]
            yield number, cells

    def count(self) -> int:
        return sum(1 for _ in self.rows())

    def close(self) -> None:
        if self._book is not None:
            self._book.close()


def check_header(header: list[str]) -> list[str]:
    """The header's canonical column names; raises ImportFileError for an unknown,
    repeated or missing required column (must run in the territory's scope)."""
    known = _known_columns()
    unknown = [name for name in header if name.casefold() not in known]
    if unknown:
        shown = ", ".join(f"“{name}”" if name else str(_l("(an empty name)")) for name in unknown[:10])
        raise ImportFileError(_l("Unknown columns: %(columns)s. Use the column names of the template; the first "
                                 "row of the file must name the columns.", columns=shown))
    columns = [known[name.casefold()] for name in header]
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise ImportFileError(_l("These columns appear more than once: %(columns)s.", columns=", ".join(repeated)))
    missing = [c for c in deliveries.REQUIRED if c not in columns]
    if missing:
        raise ImportFileError(_l("Required columns are missing: %(columns)s.", columns=", ".join(missing)))
    return columns


def check_file(data: bytes) -> ImportFile:
    """Open an upload and check its header and that it has at least one row; raises
    ImportFileError with the reason. The caller closes the returned file."""
    if len(data) > MAX_BYTES:
        raise ImportFileError(_l("The file is larger than %(n)d MB.", n=MAX_BYTES // (1024 * 1024)))
    sheet = ImportFile(data)
    try:
        sheet.header = check_header(sheet.header)
        if next(sheet.rows(), None) is None:
            raise ImportFileError(_l("The file has no rows under the header."))
    except ImportFileError:
        sheet.close()
        raise
    return sheet


# ---------------------------------------------------------------------------- start

def start(cooperative: Cooperative, filename: str, data: bytes, created_by: User | None = None) -> DeliveryImport:
    """Check the file, store it and queue its import (the job runs after the caller
    commits). Raises ImportFileError, with nothing stored, if the file cannot be imported."""
    check_file(data).close()
    kind = "xlsx" if data[:4] == XLSX_MAGIC else "csv"
    stored = storage.save(cooperative.territory_id, data, suffix=kind)
    item = DeliveryImport(territory_id=cooperative.territory_id, cooperative_id=cooperative.id,
                          filename=storage.display_name(filename, kind, default="import"), storage_key=stored.key,
                          status=DeliveryImport.QUEUED,
                          created_by_id=created_by.id if created_by is not None else None, errors=[])
    db.session.add(item)
    db.session.flush()
    _enqueue(item)
    return item


def resume(item: DeliveryImport) -> None:
    """Queue a FAILED import again: it goes on after the rows it committed."""
    if item.status != DeliveryImport.FAILED:
        raise DomainError(_l("Only an import that stopped can be resumed."))
    item.status = DeliveryImport.QUEUED
    item.finished_at = None
    _enqueue(item)


def _enqueue(item: DeliveryImport) -> None:
    from marketplace.jobs import import_deliveries

    enqueue(import_deliveries, item.territory_id, item.id, queue="reports", job_timeout=JOB_TIMEOUT)


def of_cooperative(cooperative: Cooperative, limit: int = 20) -> list[DeliveryImport]:
    """The cooperative's latest imports, newest first."""
    return list(db.session.execute(
        select(DeliveryImport).where(DeliveryImport.cooperative_id == cooperative.id)
        .order_by(DeliveryImport.created_at.desc(), DeliveryImport.id.desc()).limit(limit)
    ).scalars())


# ---------------------------------------------------------------------------- the job

@dataclass
class _State:
    processed: int
    imported: int
    duplicates: int
    error_count: int
    errors: list
    seen: dict          # external id -> first row number in the file


def run(import_id: int) -> DeliveryImport | None:
    """Import the rows of ``import_id`` (inside its territory's scope). Idempotent: a DONE
    import is left alone; a FAILED or interrupted one goes on after its committed rows.
    On an unexpected error the import is marked FAILED, the committed rows stay, and the
    error is raised again (the job is seen as failed)."""
    item = db.session.get(DeliveryImport, import_id)
    if item is None or item.status == DeliveryImport.DONE:
        return item
    try:
        _run(item)
    except ImportFileError as exc:  # the file itself is broken further down: say where, keep what was saved
        db.session.rollback()
        item = db.session.get(DeliveryImport, import_id)
        item.status = DeliveryImport.FAILED
        item.finished_at = utcnow()
        item.error_count += 1
        item.errors = list(item.errors or []) + [[exc.row or 0, FILE_COLUMN, str(exc.message)]]
        db.session.commit()
        return item
    except Exception:
        db.session.rollback()
        log.exception("import %s failed after %s rows", import_id, item.processed_rows)
        item = db.session.get(DeliveryImport, import_id)
        item.status = DeliveryImport.FAILED
        item.finished_at = utcnow()
        db.session.commit()
        raise
    return item


def _run(item: DeliveryImport) -> None:
    cooperative = db.session.get(Cooperative, item.cooperative_id)
    user = db.session.get(User, item.created_by_id) if item.created_by_id else None
    # Parsing is bounded here, in the job (inline or a worker): IMPORT_MAX_ROWS rows, and
    # IMPORT_PARSE_SECONDS of wall-clock time for counting and reading them.
    deadline = time.monotonic() + _limit("IMPORT_PARSE_SECONDS")
    sheet = ImportFile(storage.read(item.storage_key), deadline=deadline)
    try:
        columns = sheet.header = check_header(sheet.header)
        item.status = DeliveryImport.RUNNING
        item.total_rows = sheet.count()
        db.session.commit()
        state = _State(item.processed_rows, item.imported, item.duplicates, item.error_count,
                       list(item.errors or []), {})
        done = item.processed_rows
        batch: list[tuple[int, list[str]]] = []
        lookup = deliveries.Lookup.load(cooperative, external_ids=True)
        for index, (number, cells) in enumerate(sheet.rows()):
            if index < done:  # committed by an earlier run: only remember its external id
                external_id = _value(columns, cells, "external_id")
                if external_id:
                    state.seen.setdefault(external_id, number)
                continue
            batch.append((number, cells))
            if len(batch) >= BATCH:
                lookup = _commit_batch(item, cooperative, user, columns, batch, state, lookup)
                batch = []
        if batch:
            lookup = _commit_batch(item, cooperative, user, columns, batch, state, lookup)
        item.status = DeliveryImport.DONE
        item.total_rows = state.processed
        item.finished_at = utcnow()
        db.session.commit()
    finally:
        sheet.close()


def _value(columns: list[str], cells: list, name: str) -> str:
    try:
        return str(cells[columns.index(name)] or "").strip()
    except (ValueError, IndexError):
        return ""


def _commit_batch(item, cooperative, user, columns, batch, state: _State, lookup):
    """Validate and save one batch of rows and commit it with the import's progress. A
    unique-key clash (a concurrent import or API push saved the same external id) rolls the
    batch back and runs it once more, with fresh lookups: the clashing rows are duplicates
    then. Returns the lookup to go on with."""
    from sqlalchemy.exc import IntegrityError

    for attempt in (1, 2):
        saved = _State(state.processed, state.imported, state.duplicates, state.error_count,
                       list(state.errors), dict(state.seen))
        try:
            for number, cells in batch:
                _import_row(cooperative, user, columns, number, cells, saved, lookup)
            item.processed_rows = saved.processed
            item.imported = saved.imported
            item.duplicates = saved.duplicates
            item.error_count = saved.error_count
            item.errors = list(saved.errors)
            db.session.commit()
        except IntegrityError:
            if attempt == 2:
                raise
            db.session.rollback()
            cooperative = db.session.get(Cooperative, item.cooperative_id)
            lookup = deliveries.Lookup.load(cooperative, external_ids=True)
            continue
        state.__dict__.update(saved.__dict__)
        return lookup
    return lookup


def _import_row(cooperative, user, columns, number: int, cells: list, state: _State, lookup) -> None:
    state.processed += 1
    problems: list[tuple[str, str]] = []
    if any(str(c or "").strip() for c in cells[len(columns):]):
        problems.append(("", str(_l("This row has more cells than the header has columns."))))
    raw = {column: (cells[i] if i < len(cells) else "") for i, column in enumerate(columns)}
    external_id = str(raw.get("external_id") or "").strip()
    if external_id in state.seen:
        problems.append(("external_id", str(_l("This external id is already on row %(n)d of the file.",
                                               n=state.seen[external_id]))))
    elif external_id:
        state.seen[external_id] = number
    clean = None
    if not problems:
        clean, problems = deliveries.validate(raw, lookup)
    if problems:
        state.error_count += len(problems)
        room = MAX_KEPT_ERRORS - len(state.errors)
        state.errors.extend([number, column, reason] for column, reason in problems[:max(0, room)])
        return
    _record, created = deliveries.save(clean, lookup, DeliveryRecord.IMPORT, created_by=user)
    if created:
        state.imported += 1
    else:
        state.duplicates += 1


# ---------------------------------------------------------------------------- reports

def stopped_by_the_file(item: DeliveryImport) -> bool:
    """A FAILED import that stopped because its file cannot be read to the end (resuming
    would stop again: the file must be corrected and imported again)."""
    return item.status == DeliveryImport.FAILED and bool(item.errors) and item.errors[-1][1] == FILE_COLUMN


def rows_refused(item: DeliveryImport) -> int:
    """Rows processed that were neither imported nor duplicates (they had errors)."""
    return max(0, item.processed_rows - item.imported - item.duplicates)


def progress(item: DeliveryImport) -> dict:
    """The import's state for the progress page's script (plain values)."""
    finished = item.status in (DeliveryImport.DONE, DeliveryImport.FAILED)
    percent = 100 if item.status == DeliveryImport.DONE else (
        int(item.processed_rows * 100 / item.total_rows) if item.total_rows else 0)
    return {"id": item.id, "status": item.status, "finished": finished, "total_rows": item.total_rows,
            "processed_rows": item.processed_rows, "imported": item.imported, "duplicates": item.duplicates,
            "rows_refused": rows_refused(item), "error_count": item.error_count, "percent": percent}


def errors_csv(item: DeliveryImport) -> bytes:
    """The kept errors as Italian Excel opens them (UTF-8 with BOM, semicolons): row;
    column; reason, every cell safe from formula injection."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([str(_l("row")), str(_l("column")), str(_l("reason"))])
    for number, column, reason in item.errors or []:
        writer.writerow([str(number), _csv_cell(str(column)), _csv_cell(str(reason))])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
