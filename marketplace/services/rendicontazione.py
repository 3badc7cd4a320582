"""Rendicontazione: what was delivered for one funder in a period, as PDF or XLSX.

Counts of people only, never a person: services, deliveries, hours, beneficiaries
(fewer than 5 shown as "<5"), costs and funding sources, by service, month and
municipality (a municipality row with fewer than 5 beneficiaries hides its hours and cost
too: they could point at someone). Everything is summed in the database.

``request`` records a ``ReportRun`` and queues ``build`` after commit; ``build`` (the job)
makes the file, stores a copy and marks the run ready, with its progress on the way.
"""
from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field

from flask import render_template
from flask_babel import lazy_gettext as _l
from sqlalchemy import distinct, func, select

from marketplace import storage
from marketplace.extensions import db
from marketplace.models import Cooperative, DeliveryRecord, Funder, Municipality, ReportRun, Service
from marketplace.models.base import utcnow
from marketplace.services import DomainError
from marketplace.services.deliveries import FUNDING_SOURCE_LABELS
from marketplace.services.funder_reports import SMALL_CELL, euros, suppress
from marketplace.services.slots import xlsx_append

MAX_DAYS = 3 * 366


@dataclass
class Line:
    label: str
    detail: str
    deliveries: int
    minutes: int
    beneficiaries: int
    cost_cents: int

    @property
    def hours(self) -> str:
        return f"{self.minutes / 60:.1f}"

    @property
    def small(self) -> bool:
        return self.beneficiaries < SMALL_CELL


@dataclass
class Report:
    funder: Funder
    date_from: dt.date
    date_to: dt.date
    generated_at: dt.datetime
    total: Line
    territory_name: str = ""
    by_source: list[Line] = field(default_factory=list)
    by_service: list[Line] = field(default_factory=list)
    by_month: list[Line] = field(default_factory=list)
    by_municipality: list[Line] = field(default_factory=list)


def _filter(funder: Funder, date_from: dt.date, date_to: dt.date):
    return (DeliveryRecord.funder_id == funder.id, DeliveryRecord.delivered_on >= date_from,
            DeliveryRecord.delivered_on <= date_to)


def _figures():
    return (func.count(DeliveryRecord.id), func.coalesce(func.sum(DeliveryRecord.duration_minutes), 0),
            func.count(distinct(DeliveryRecord.beneficiary_id)), func.coalesce(func.sum(DeliveryRecord.cost_cents), 0))


def compute(funder: Funder, date_from: dt.date, date_to: dt.date) -> Report:
    """The report's figures (inside the funder's territory scope)."""
    where = _filter(funder, date_from, date_to)
    total = db.session.execute(select(*_figures()).where(*where)).one()
    from marketplace.models import Territory

    territory = db.session.get(Territory, funder.territory_id)
    report = Report(funder, date_from, date_to, utcnow(), Line(str(_l("Total")), "", *map(int, total)),
                    territory_name=territory.name if territory else "")
    for source, *figures in db.session.execute(
            select(DeliveryRecord.funding_source, *_figures()).where(*where)
            .group_by(DeliveryRecord.funding_source).order_by(DeliveryRecord.funding_source)):
        report.by_source.append(Line(str(FUNDING_SOURCE_LABELS.get(source, source)), "", *map(int, figures)))
    for title, coop, *figures in db.session.execute(
            select(Service.title, Cooperative.name, *_figures())
            .join(Service, Service.id == DeliveryRecord.service_id)
            .join(Cooperative, Cooperative.id == DeliveryRecord.cooperative_id)
            .where(*where).group_by(Service.id, Service.title, Cooperative.name)
            .order_by(Cooperative.name, Service.title)):
        report.by_service.append(Line(title, coop, *map(int, figures)))
    month = func.strftime("%Y-%m", DeliveryRecord.delivered_on) if db.session.get_bind().dialect.name == "sqlite" \
        else func.to_char(DeliveryRecord.delivered_on, "YYYY-MM")
    for label, *figures in db.session.execute(
            select(month, *_figures()).where(*where).group_by(month).order_by(month)):
        report.by_month.append(Line(label, "", *map(int, figures)))
    for name, *figures in db.session.execute(
            select(func.coalesce(Municipality.name, ""), *_figures())
            .outerjoin(Municipality, Municipality.id == DeliveryRecord.municipality_id)
            .where(*where).group_by(Municipality.name).order_by(Municipality.name)):
        report.by_municipality.append(Line(name or str(_l("Not given")), "", *map(int, figures)))
    return report


def _rows(report: Report) -> list[tuple[str, list[str], list[list]]]:
    """The report's tables as (title, header, rows) with every suppression applied."""
    head = [str(_l("Deliveries")), str(_l("Hours")), str(_l("Beneficiaries")), str(_l("Cost (€)"))]

    def cells(line: Line, hide_money: bool = False) -> list:
        if hide_money and line.small:
            return [suppress(line.beneficiaries)] * 4
        return [line.deliveries, line.hours, suppress(line.beneficiaries), euros(line.cost_cents)]

    return [
        (str(_l("Total")), [""] + head, [[str(_l("Total"))] + cells(report.total)]),
        (str(_l("By funding source")), [str(_l("Funding source"))] + head,
         [[line.label] + cells(line) for line in report.by_source]),
        (str(_l("By service")), [str(_l("Service")), str(_l("Cooperative"))] + head,
         [[line.label, line.detail] + cells(line) for line in report.by_service]),
        (str(_l("By month")), [str(_l("Month"))] + head, [[line.label] + cells(line) for line in report.by_month]),
        (str(_l("By municipality")), [str(_l("Municipality"))] + head,
         [[line.label] + cells(line, hide_money=True) for line in report.by_municipality]),
    ]


def render_html(report: Report) -> str:
    return render_template("coordinator/report_pdf.html", report=report, tables=_rows(report))


def render_pdf(report: Report) -> bytes:
    from marketplace.services.funder_reports import _pdf

    return _pdf(render_html(report))


def render_xlsx(report: Report) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = str(_l("Report"))[:31]
    # Every text cell (the funder's, cooperatives' and services' names too) goes through
    # xlsx_append: "=..." stays text, never a formula.
    xlsx_append(sheet, [_l("Rendicontazione"), report.funder.name])
    xlsx_append(sheet, [_l("Period"), report.date_from.isoformat(), report.date_to.isoformat()])
    xlsx_append(sheet, [_l("Fewer than 5 beneficiaries are shown as \"<5\".")])
    for title, header, rows in _rows(report):
        xlsx_append(sheet)
        xlsx_append(sheet, [title])[0].font = Font(bold=True)
        xlsx_append(sheet, header)
        for row in rows:
            xlsx_append(sheet, [value if isinstance(value, int) else str(value) for value in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def request(funder: Funder, date_from: dt.date, date_to: dt.date, fmt: str, user) -> ReportRun:
    """Record a report to make and queue its job (after commit). Raises DomainError for a
    bad period or format. The caller commits."""
    if fmt not in (ReportRun.PDF, ReportRun.XLSX):
        raise DomainError(_l("Choose PDF or Excel."), field="format")
    if date_from > date_to:
        raise DomainError(_l("The start of the period must not be after its end."), field="date_from")
    if (date_to - date_from).days > MAX_DAYS:
        raise DomainError(_l("Choose a period of at most three years."), field="date_to")
    run = ReportRun(territory_id=funder.territory_id, funder_id=funder.id, date_from=date_from, date_to=date_to,
                    format=fmt, created_by_id=user.id if user is not None else None)
    db.session.add(run)
    db.session.flush()
    from marketplace.jobs import build_report
    from marketplace.queue import enqueue

    enqueue(build_report, funder.territory_id, run.id, queue="reports")
    return run


def build(run_id: int) -> ReportRun | None:
    """Make the report of ``run_id`` (inside its territory scope), store it and mark it
    ready; progress is committed on the way so the page can show it. Running it again on
    a ready report changes nothing."""
    run = db.session.get(ReportRun, run_id)
    if run is None or run.status == ReportRun.READY:
        return run
    run.status, run.progress, run.message = ReportRun.RUNNING, 10, ""
    db.session.commit()
    try:
        funder = db.session.get(Funder, run.funder_id)
        if funder is None:
            raise DomainError(_l("The funder of this report no longer exists."))
        report = compute(funder, run.date_from, run.date_to)
        run.progress = 60
        db.session.commit()
        data = render_pdf(report) if run.format == ReportRun.PDF else render_xlsx(report)
        stored = storage.save(run.territory_id, data, run.format)
        run.storage_key, run.size_bytes = stored.key, stored.size
        run.filename = f"rendicontazione-{_slug(funder.name)}-{run.date_from.isoformat()}-{run.date_to.isoformat()}.{run.format}"
        run.status, run.progress, run.finished_at = ReportRun.READY, 100, utcnow()
        db.session.commit()
    except Exception as exc:  # noqa: BLE001 - the run says it failed; the log has the trace
        db.session.rollback()
        run = db.session.get(ReportRun, run_id)
        run.status, run.finished_at = ReportRun.FAILED, utcnow()
        run.message = str(getattr(exc, "message", "")) or str(_l("The report could not be made. Please try again."))
        db.session.commit()
        if not isinstance(exc, DomainError):
            raise
    return run


def _slug(text: str) -> str:
    import re
    import unicodedata

    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60] or "ente"
