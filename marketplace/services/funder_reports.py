"""What funders see of their money at work, and what each funder owes a cooperative.

Every figure is computed now, from the ledger and the voucher / credit tables, with SQL
aggregates (GROUP BY in the database, no rows loaded to be added up in Python, no cache).
Every function runs inside a territory scope (queries are also filtered by the funder's
territory explicitly) and reads only: nothing here writes.

Money (integer cents) is never suppressed; every count of people shown to a funder goes
through ``suppress`` (small-cell suppression: fewer than 5 is "<5").

Dates: a period is a pair of dates, both included. A ledger entry belongs to the UTC date
(and the UTC month, ``YYYY-MM``) of its ``created_at``; a delivered service to the UTC month
of its slot's ``ends_at``. Near midnight this can differ from the date in Italy by an hour
or two: the same rule is used everywhere, so the totals always add up.

An order's tickets are all of one slot: the ledger reaches a service and its cooperative
through ``order -> min(ticket.slot_id) -> slot -> service -> cooperative``.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import Decimal

from flask import render_template
from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import and_, case, func, literal, literal_column, or_, select

from marketplace.extensions import db
from marketplace.models import (
    Application, Cooperative, Employee, Funder, LedgerEntry, Order, Programme, Service, Slot, Territory, Ticket, User,
    Voucher, WelfareCredit,
)
from marketplace.models.base import utcnow
from marketplace.models.catalogue import VERTICALS
from marketplace.services import DomainError
from marketplace.services.slots import LOCAL_TZ, _csv_cell, xlsx_append, xlsx_set

SMALL_CELL = 5
FIRST_YEAR, LAST_YEAR = 2000, 2100
MONEY_KINDS = (LedgerEntry.CHARGE, LedgerEntry.REFUND)

APPLICATION_STATUS_LABELS = {
    Application.DRAFT: _l("Draft"),
    Application.SUBMITTED: _l("Submitted"),
    Application.NEEDS_INFO: _l("More information asked"),
    Application.APPROVED: _l("Approved"),
    Application.REJECTED: _l("Rejected"),
    Application.WITHDRAWN: _l("Withdrawn"),
}


def suppress(n: int | None) -> str:
    """A count of people as a funder may see it: fewer than 5 (zero included, so that
    cells cannot be told apart by subtraction) is "<5"; 5 or more is the number."""
    n = int(n or 0)
    return f"<{SMALL_CELL}" if n < SMALL_CELL else str(n)


# --- periods ---------------------------------------------------------------------------

def local_today() -> dt.date:
    return utcnow().astimezone(LOCAL_TZ).date()


def default_period(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """This calendar year, 1 January to 31 December."""
    today = today or local_today()
    return dt.date(today.year, 1, 1), dt.date(today.year, 12, 31)


def parse_period(date_from: str | None, date_to: str | None) -> tuple[dt.date, dt.date]:
    """The period typed in a form or a URL (``YYYY-MM-DD``; empty: this calendar year's
    bound). Raises DomainError (field ``from`` or ``to``) for a date that is not one, out of
    range, or a start after the end."""
    default_from, default_to = default_period()
    start = _parse_date(date_from, default_from, "from")
    end = _parse_date(date_to, default_to, "to")
    if start > end:
        raise DomainError(_l("The start of the period must not be after its end."), field="from")
    return start, end


def _parse_date(text: str | None, default: dt.date, name: str) -> dt.date:
    text = (text or "").strip()
    if not text:
        return default
    try:
        day = dt.date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise DomainError(_l("Write the date as YYYY-MM-DD, e.g. 2026-01-31."), field=name)
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise DomainError(_l("Choose a date between %(first)d and %(last)d.", first=FIRST_YEAR, last=LAST_YEAR),
                          field=name)
    return day


def _bounds(date_from: dt.date, date_to: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """UTC instants: from the start of ``date_from`` to the start of the day after ``date_to``."""
    start = dt.datetime.combine(date_from, dt.time(), tzinfo=dt.timezone.utc)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)
    return start, end


def parse_month(text: str) -> tuple[dt.datetime, dt.datetime]:
    """``YYYY-MM`` -> the UTC instants starting that month and the next. Raises DomainError."""
    try:
        year, month = (int(part) for part in text.split("-"))
        if len(text) != 7 or not FIRST_YEAR <= year <= LAST_YEAR or not 1 <= month <= 12:
            raise ValueError(text)
    except ValueError:
        raise DomainError(_l("No such month.")) from None
    start = dt.datetime(year, month, 1, tzinfo=dt.timezone.utc)
    end = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=dt.timezone.utc)
    return start, end


def _month_of(column):
    """``YYYY-MM`` of a UTC datetime column, computed by the database."""
    # Constants inline, not bound: PostgreSQL must see the same expression in SELECT and
    # GROUP BY (two bound parameters would be two different expressions to it).
    if db.session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone(literal_column("'UTC'"), column), literal_column("'YYYY-MM'"))
    return func.substr(column, literal_column("1"), literal_column("7"))  # SQLite: UTC datetimes as ISO text


def months_between(date_from: dt.date, date_to: dt.date) -> list[str]:
    months, year, month = [], date_from.year, date_from.month
    while (year, month) <= (date_to.year, date_to.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


# --- the dashboard ---------------------------------------------------------------------

@dataclass
class ProgrammeFigures:
    id: int
    title: str
    status: str
    budget_cents: int
    committed_cents: int       # face value of the vouchers not cancelled
    spent_cents: int           # net of refunds, in the period
    spent_to_date_cents: int   # net of refunds, ever
    remaining_cents: int       # budget - committed


@dataclass
class SpendLine:
    label: str
    amount_cents: int
    detail: str = ""   # by service: its cooperative


@dataclass
class Dashboard:
    """A funder's figures for a period. Counts of people are already suppressed strings."""

    funder: Funder
    territory_name: str
    date_from: dt.date
    date_to: dt.date
    generated_at: dt.datetime
    is_employer: bool
    spent_cents: int                    # net spend of the funder's money in the period
    beneficiaries: str                  # people reached in the period (suppressed)
    # voucher funders
    programmes: list[ProgrammeFigures] = field(default_factory=list)
    budget_cents: int = 0
    committed_cents: int = 0
    spent_to_date_cents: int = 0
    remaining_cents: int = 0
    applications: list[tuple[str, str, str]] = field(default_factory=list)  # (status, label, count)
    vouchers_issued: str = ""
    vouchers_used: str = ""
    vouchers_unused: str = ""
    vouchers_expired: str = ""
    # employers
    loaded_cents: int = 0
    released_cents: int = 0
    outstanding_cents: int = 0
    # both
    by_cooperative: list[SpendLine] = field(default_factory=list)
    by_service: list[SpendLine] = field(default_factory=list)
    by_vertical: list[SpendLine] = field(default_factory=list)
    by_month: list[SpendLine] = field(default_factory=list)


def _order_slot():
    """order_id -> the slot of its tickets (one slot per order)."""
    return (select(Ticket.order_id.label("order_id"), func.min(Ticket.slot_id).label("slot_id"))
            .group_by(Ticket.order_id).subquery("order_slot"))


def _spend_filter(funder: Funder, start: dt.datetime | None = None, end: dt.datetime | None = None):
    """Ledger rows of the funder's money paying orders (charges and refunds), in a period."""
    conditions = [LedgerEntry.territory_id == funder.territory_id, LedgerEntry.funder_id == funder.id,
                  LedgerEntry.kind.in_(MONEY_KINDS)]
    conditions.append(LedgerEntry.credit_id.is_not(None) if funder.is_employer else LedgerEntry.voucher_id.is_not(None))
    if start is not None:
        conditions += [LedgerEntry.created_at >= start, LedgerEntry.created_at < end]
    return and_(*conditions)


def _sum(query) -> int:
    return int(db.session.execute(query).scalar_one() or 0)


def _net_spend(funder: Funder, start=None, end=None) -> int:
    return _sum(select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(_spend_filter(funder, start, end)))


def _spend_by(funder: Funder, start, end, *group) -> list:
    """Net spend in the period grouped by columns of slot / service / cooperative."""
    order_slot = _order_slot()
    amount = func.sum(LedgerEntry.amount_cents)
    return db.session.execute(
        select(*group, amount.label("amount"))
        .select_from(LedgerEntry)
        .join(order_slot, order_slot.c.order_id == LedgerEntry.order_id)
        .join(Slot, Slot.id == order_slot.c.slot_id)
        .join(Service, Service.id == Slot.service_id)
        .join(Cooperative, Cooperative.id == Service.cooperative_id)
        .where(_spend_filter(funder, start, end))
        .group_by(*group)
        .order_by(amount.desc(), *group)
    ).all()


def _beneficiaries(funder: Funder, start, end) -> int:
    """Distinct voucher holders (employees for an employer) with a net charge > 0."""
    if funder.is_employer:
        who = WelfareCredit.employee_id
        joined = select(who).select_from(LedgerEntry).join(WelfareCredit, WelfareCredit.id == LedgerEntry.credit_id)
        people = Employee.id
    else:
        who = Voucher.holder_id
        joined = select(who).select_from(LedgerEntry).join(Voucher, Voucher.id == LedgerEntry.voucher_id)
        people = User.id
    reached = (joined.where(_spend_filter(funder, start, end), who.is_not(None))
               .group_by(who).having(func.sum(LedgerEntry.amount_cents) > 0))
    # Counted on a mapped table (not on the bare subquery) so territory scoping sees the query.
    return _sum(select(func.count(people)).where(people.in_(reached)))


def dashboard(funder: Funder, date_from: dt.date, date_to: dt.date) -> Dashboard:
    """The funder's figures for the period (dates included). Budget, committed and
    remaining are as of now; spend, applications (by submission, or creation for drafts),
    vouchers (by issue date) and beneficiaries are those of the period."""
    start, end = _bounds(date_from, date_to)
    territory = db.session.get(Territory, funder.territory_id)
    result = Dashboard(
        funder=funder, territory_name=territory.name if territory else "", date_from=date_from, date_to=date_to,
        generated_at=utcnow(), is_employer=funder.is_employer, spent_cents=_net_spend(funder, start, end),
        beneficiaries=suppress(_beneficiaries(funder, start, end)),
    )
    if funder.is_employer:
        _credit_figures(result, funder, start, end)
    else:
        _voucher_figures(result, funder, start, end)

    result.by_cooperative = [SpendLine(name, int(amount)) for _id, name, amount in
                             _spend_by(funder, start, end, Cooperative.id, Cooperative.name)]
    result.by_service = [SpendLine(title, int(amount), coop) for _id, title, coop, amount in
                         _spend_by(funder, start, end, Service.id, Service.title, Cooperative.name)]
    result.by_vertical = [SpendLine(str(VERTICALS.get(vertical, vertical)), int(amount)) for vertical, amount in
                          _spend_by(funder, start, end, Service.vertical)]
    month = _month_of(LedgerEntry.created_at)
    per_month = dict(db.session.execute(
        select(month, func.sum(LedgerEntry.amount_cents)).where(_spend_filter(funder, start, end)).group_by(month)
    ).all())
    result.by_month = [SpendLine(m, int(per_month.get(m) or 0)) for m in months_between(date_from, date_to)]
    return result


def _voucher_figures(result: Dashboard, funder: Funder, start, end) -> None:
    in_territory = Programme.territory_id == funder.territory_id
    committed = (select(Voucher.programme_id, func.sum(Voucher.amount_cents).label("amount"))
                 .where(Voucher.funder_id == funder.id, Voucher.status != Voucher.CANCELLED)
                 .group_by(Voucher.programme_id).subquery("committed"))

    def spent(start_=None, end_=None):
        return (select(Voucher.programme_id, func.sum(LedgerEntry.amount_cents).label("amount"))
                .select_from(LedgerEntry).join(Voucher, Voucher.id == LedgerEntry.voucher_id)
                .where(_spend_filter(funder, start_, end_)).group_by(Voucher.programme_id).subquery())

    in_period, ever = spent(start, end), spent()
    rows = db.session.execute(
        select(Programme.id, Programme.title, Programme.status, Programme.budget_cents,
               func.coalesce(committed.c.amount, 0), func.coalesce(in_period.c.amount, 0),
               func.coalesce(ever.c.amount, 0))
        .outerjoin(committed, committed.c.programme_id == Programme.id)
        .outerjoin(in_period, in_period.c.programme_id == Programme.id)
        .outerjoin(ever, ever.c.programme_id == Programme.id)
        .where(Programme.funder_id == funder.id, in_territory)
        .order_by(Programme.starts_on.desc(), Programme.id.desc())
    ).all()
    for pid, title, status, budget, committed_cents, spent_cents, to_date in rows:
        result.programmes.append(ProgrammeFigures(
            id=pid, title=title, status=status, budget_cents=int(budget), committed_cents=int(committed_cents),
            spent_cents=int(spent_cents), spent_to_date_cents=int(to_date),
            remaining_cents=int(budget) - int(committed_cents)))
    result.budget_cents = sum(p.budget_cents for p in result.programmes)
    result.committed_cents = sum(p.committed_cents for p in result.programmes)
    result.spent_to_date_cents = sum(p.spent_to_date_cents for p in result.programmes)
    result.remaining_cents = result.budget_cents - result.committed_cents

    when = func.coalesce(Application.submitted_at, Application.created_at)
    counts = dict(db.session.execute(
        select(Application.status, func.count(Application.id))
        .join(Programme, Programme.id == Application.programme_id)
        .where(Programme.funder_id == funder.id, in_territory, when >= start, when < end)
        .group_by(Application.status)
    ).all())
    result.applications = [(status, str(APPLICATION_STATUS_LABELS[status]), suppress(counts.get(status, 0)))
                           for status in Application.STATUSES]

    today = local_today()
    used = Voucher.balance_cents < Voucher.amount_cents
    issued, n_used, n_expired = db.session.execute(
        select(func.count(Voucher.id),
               func.coalesce(func.sum(case((used, 1), else_=0)), 0),
               func.coalesce(func.sum(case((and_(~used, Voucher.valid_until < today), 1), else_=0)), 0))
        .where(Voucher.funder_id == funder.id, Voucher.territory_id == funder.territory_id,
               Voucher.status != Voucher.CANCELLED, Voucher.issued_at >= start, Voucher.issued_at < end)
    ).one()
    result.vouchers_issued = suppress(issued)
    result.vouchers_used = suppress(n_used)
    result.vouchers_expired = suppress(n_expired)
    result.vouchers_unused = suppress(int(issued) - int(n_used) - int(n_expired))


def _credit_figures(result: Dashboard, funder: Funder, start, end) -> None:
    def total(kind):
        return _sum(select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
            LedgerEntry.territory_id == funder.territory_id, LedgerEntry.funder_id == funder.id,
            LedgerEntry.kind == kind, LedgerEntry.created_at >= start, LedgerEntry.created_at < end))

    result.loaded_cents = total(LedgerEntry.CREDIT_LOAD)
    result.released_cents = -total(LedgerEntry.CREDIT_RELEASE)
    result.outstanding_cents = _sum(
        select(func.coalesce(func.sum(WelfareCredit.balance_cents), 0))
        .where(WelfareCredit.funder_id == funder.id, WelfareCredit.territory_id == funder.territory_id,
               WelfareCredit.status == WelfareCredit.ACTIVE))


# --- exports of the dashboard ----------------------------------------------------------

def euros(cents: int) -> str:
    """Cents as a plain amount for spreadsheets in Italian: ``-1234,50`` (no thousands dot)."""
    sign = "-" if cents < 0 else ""
    cents = abs(int(cents))
    return f"{sign}{cents // 100},{cents % 100:02d}"


def _tables(report: Dashboard) -> list[tuple[str, list[str], list[list]]]:
    """The dashboard as (title, header, rows); money as int cents, counts as strings."""
    money = _("Amount (EUR)")
    summary: list[list] = [
        [_("Funder"), report.funder.name],
        [_("Territory"), report.territory_name],
        [_("Period"), f"{report.date_from:%d/%m/%Y} – {report.date_to:%d/%m/%Y}"],
        [_("Generated on"), report.generated_at.astimezone(LOCAL_TZ).strftime("%d/%m/%Y %H:%M")],
    ]
    if report.is_employer:
        summary += [[_("Credits loaded"), report.loaded_cents], [_("Spent (net of refunds)"), report.spent_cents],
                    [_("Released back on expiry"), report.released_cents],
                    [_("Outstanding balance"), report.outstanding_cents]]
    else:
        summary += [[_("Budget"), report.budget_cents], [_("Committed"), report.committed_cents],
                    [_("Spent in the period (net of refunds)"), report.spent_cents],
                    [_("Spent to date (net of refunds)"), report.spent_to_date_cents],
                    [_("Remaining (budget minus committed)"), report.remaining_cents],
                    [_("Vouchers issued"), report.vouchers_issued], [_("Vouchers used"), report.vouchers_used],
                    [_("Vouchers not used yet"), report.vouchers_unused],
                    [_("Vouchers expired unused"), report.vouchers_expired]]
    summary.append([_("Beneficiaries reached"), report.beneficiaries])
    tables = [(_("Summary"), [_("Figure"), _("Value")], summary)]
    if not report.is_employer:
        tables.append((_("Programmes"), [_("Programme"), _("Budget"), _("Committed"), _("Spent in the period"),
                                         _("Spent to date"), _("Remaining")],
                       [[p.title, p.budget_cents, p.committed_cents, p.spent_cents, p.spent_to_date_cents,
                         p.remaining_cents] for p in report.programmes]))
        tables.append((_("Applications"), [_("Status"), _("Applications")],
                       [[label, count] for _status, label, count in report.applications]))
    tables += [
        (_("By cooperative"), [_("Cooperative"), money], [[s.label, s.amount_cents] for s in report.by_cooperative]),
        (_("By service"), [_("Service"), _("Cooperative"), money],
         [[s.label, s.detail, s.amount_cents] for s in report.by_service]),
        (_("By category"), [_("Category"), money], [[s.label, s.amount_cents] for s in report.by_vertical]),
        (_("By month"), [_("Month"), money], [[s.label, s.amount_cents] for s in report.by_month]),
    ]
    return tables


# Summary rows whose value is money (the others are text or suppressed counts).
def _is_money(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def dashboard_csv(funder: Funder, date_from: dt.date, date_to: dt.date) -> str:
    """The dashboard as Italian Excel opens it: UTF-8 with BOM, semicolons, one table after
    another (a title line, a header, rows, a blank line); amounts in euros with a comma."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    for title, header, rows in _tables(dashboard(funder, date_from, date_to)):
        writer.writerow([_csv_cell(title)])
        writer.writerow([_csv_cell(h) for h in header])
        for row in rows:
            writer.writerow([euros(v) if _is_money(v) else _csv_cell(str(v)) for v in row])
        writer.writerow([])
    return "\ufeff" + out.getvalue()


def dashboard_xlsx(funder: Funder, date_from: dt.date, date_to: dt.date) -> bytes:
    """The dashboard as an Excel workbook, one sheet per table; amounts in euros (numbers),
    text always stored as text (never as a formula)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    used_titles: set[str] = set()
    for title, header, rows in _tables(dashboard(funder, date_from, date_to)):
        sheet = book.create_sheet(_sheet_title(title, used_titles))
        for cell in xlsx_append(sheet, header):
            cell.font = Font(bold=True)
        for r, row in enumerate(rows, start=2):
            for c, value in enumerate(row, start=1):
                if _is_money(value):
                    cell = sheet.cell(row=r, column=c, value=Decimal(value) / 100)
                    cell.number_format = "#,##0.00"
                elif isinstance(value, str) and value.isascii() and value.isdigit():
                    sheet.cell(row=r, column=c, value=int(value))
                else:  # text ("=..." stays text, not a formula)
                    xlsx_set(sheet.cell(row=r, column=c), str(value))
        for column in sheet.columns:
            width = max(len(str(cell.value or "")) for cell in column)
            sheet.column_dimensions[column[0].column_letter].width = min(60, max(10, width + 2))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _sheet_title(title: str, used: set[str]) -> str:
    clean = "".join(ch for ch in str(title) if ch not in "[]:*?/\\")[:31] or "Sheet"
    candidate, n = clean, 2
    while candidate in used:
        candidate = f"{clean[:28]} {n}"
        n += 1
    used.add(candidate)
    return candidate


# --- PDF -------------------------------------------------------------------------------

def _pdf(html: str) -> bytes:
    """HTML -> PDF with WeasyPrint, fetching nothing: only inline ``data:`` resources."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols=("data",), fail_on_errors=False)
    return HTML(string=html, url_fetcher=fetcher, base_url=None).write_pdf()


def period_statement_html(funder: Funder, date_from: dt.date, date_to: dt.date) -> str:
    """The HTML the period statement PDF is made from (needs an app context)."""
    return render_template("funder/statement_pdf.html", report=dashboard(funder, date_from, date_to))


def period_statement_pdf(funder: Funder, date_from: dt.date, date_to: dt.date) -> bytes:
    """A statement of the period for the funder's accounts: totals, movements per
    cooperative and service, a line per month. No signature."""
    return _pdf(period_statement_html(funder, date_from, date_to))


# --- what each funder owes a cooperative -----------------------------------------------

@dataclass
class StatementRow:
    starts_at: dt.datetime      # the slot's start (UTC)
    service: str
    order_code: str
    reference: str              # the voucher code, or "welfare credit"
    tickets: int
    amount_cents: int


@dataclass
class StatementMonth:
    month: str                  # YYYY-MM
    funder_id: int
    funder_name: str
    amount_cents: int


def _owed(cooperative: Cooperative, now: dt.datetime):
    """Per order and funding source: the net money of funders' vouchers / credits for
    delivered services of the cooperative (order paid, slot not cancelled and ended)."""
    money = (select(LedgerEntry.order_id.label("order_id"), LedgerEntry.funder_id.label("funder_id"),
                    LedgerEntry.voucher_id.label("voucher_id"), LedgerEntry.credit_id.label("credit_id"),
                    func.sum(LedgerEntry.amount_cents).label("net"))
             .where(LedgerEntry.territory_id == cooperative.territory_id, LedgerEntry.kind.in_(MONEY_KINDS),
                    LedgerEntry.funder_id.is_not(None), LedgerEntry.order_id.is_not(None),
                    or_(LedgerEntry.voucher_id.is_not(None), LedgerEntry.credit_id.is_not(None)))
             .group_by(LedgerEntry.order_id, LedgerEntry.funder_id, LedgerEntry.voucher_id, LedgerEntry.credit_id)
             .subquery("money"))
    tickets = (select(Ticket.order_id.label("order_id"), func.min(Ticket.slot_id).label("slot_id"),
                      func.sum(case((Ticket.status == Ticket.VALID, 1), else_=0)).label("tickets"))
               .group_by(Ticket.order_id).subquery("order_tickets"))
    conditions = (Service.cooperative_id == cooperative.id, Order.status == Order.PAID,
                  Slot.status != Slot.CANCELLED, Slot.ends_at < now)
    return money, tickets, conditions


def _owed_from(money, tickets, *columns):
    return (select(*columns).select_from(Order)
            .join(money, money.c.order_id == Order.id)
            .join(tickets, tickets.c.order_id == Order.id)
            .join(Slot, Slot.id == tickets.c.slot_id)
            .join(Service, Service.id == Slot.service_id))


def cooperative_statement_months(cooperative: Cooperative) -> list[StatementMonth]:
    """Months (of the slots' end, UTC) x funders with money owed to the cooperative for
    delivered services, newest month first."""
    money, tickets, conditions = _owed(cooperative, utcnow())
    month = _month_of(Slot.ends_at)
    total = func.sum(money.c.net)
    rows = db.session.execute(
        _owed_from(money, tickets, month.label("month"), Funder.id, Funder.name, total)
        .join(Funder, Funder.id == money.c.funder_id)
        .where(*conditions)
        .group_by(month, Funder.id, Funder.name)
        .having(total > 0)
        .order_by(month.desc(), Funder.name)
    ).all()
    return [StatementMonth(m, fid, name, int(amount)) for m, fid, name, amount in rows]


def cooperative_statement(cooperative: Cooperative, funder: Funder, month: str) -> list[StatementRow]:
    """What ``funder`` owes ``cooperative`` for services delivered in ``month`` (YYYY-MM,
    UTC; slots ended by now) and paid with its vouchers / credits, net of refunds: one row
    per order and voucher (or credit), by date and service. Raises DomainError for a bad month."""
    start, end = parse_month(month)
    money, tickets, conditions = _owed(cooperative, utcnow())
    credit_label = _("welfare credit")
    reference = case((money.c.voucher_id.is_not(None), Voucher.code), else_=literal(credit_label))
    rows = db.session.execute(
        _owed_from(money, tickets, Slot.starts_at, Service.title, Order.code, reference, tickets.c.tickets,
                   money.c.net)
        .outerjoin(Voucher, Voucher.id == money.c.voucher_id)
        .where(*conditions, money.c.funder_id == funder.id, money.c.net > 0,
               Slot.ends_at >= start, Slot.ends_at < end)
        .order_by(Slot.starts_at, Service.title, Order.code, reference)
    ).all()
    return [StatementRow(starts_at, title, code, ref, int(n or 0), int(net))
            for starts_at, title, code, ref, n, net in rows]


def cooperative_statement_csv(cooperative: Cooperative, funder: Funder, month: str) -> str:
    """The monthly statement as Italian Excel opens it (UTF-8 with BOM, semicolons), with a
    total line; ready to attach to the invoice."""
    rows = cooperative_statement(cooperative, funder, month)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([_csv_cell(str(v)) for v in (
        _("Date"), _("Service"), _("Booking code"), _("Voucher or credit"), _("Tickets"), _("Amount (EUR)"))])
    for row in rows:
        writer.writerow([row.starts_at.astimezone(LOCAL_TZ).strftime("%d/%m/%Y %H:%M"), _csv_cell(row.service),
                         _csv_cell(row.order_code), _csv_cell(row.reference), str(row.tickets),
                         euros(row.amount_cents)])
    writer.writerow([_("Total"), "", "", "", str(sum(r.tickets for r in rows)),
                     euros(sum(r.amount_cents for r in rows))])
    return "\ufeff" + out.getvalue()


def cooperative_statement_html(cooperative: Cooperative, funder: Funder, month: str) -> str:
    """The HTML the monthly statement PDF is made from (needs an app context)."""
    rows = cooperative_statement(cooperative, funder, month)
    territory = db.session.get(Territory, cooperative.territory_id)
    return render_template("cooperative/statement_pdf.html", cooperative=cooperative, funder=funder, month=month,
                           rows=rows, territory_name=territory.name if territory else "",
                           total_cents=sum(r.amount_cents for r in rows), tickets=sum(r.tickets for r in rows),
                           generated_at=utcnow(), local_tz=LOCAL_TZ)


def cooperative_statement_pdf(cooperative: Cooperative, funder: Funder, month: str) -> bytes:
    return _pdf(cooperative_statement_html(cooperative, funder, month))
