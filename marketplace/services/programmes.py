"""Voucher programmes (bandi): set-up, the officers' review of applications, and issuing
vouchers within the budget.

All functions run inside a territory scope and the caller's transaction; the caller
commits. E-mails are queued with ``send_mail`` in that transaction (sent after commit).

Budget rule: committed = the face value of the programme's vouchers that are not
cancelled. Every issue takes a row lock on the programme (``SELECT ... FOR UPDATE``),
recounts committed inside the lock, then writes: concurrent approvals never commit more
than the budget. Decisions on an application lock the application row first (then the
programme), so two officers cannot both decide it.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import math

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select, text
from sqlalchemy.exc import OperationalError

from marketplace.extensions import db
from marketplace.models import (
    Application, Cooperative, Funder, Municipality, Payment, Programme, Service, User, Voucher,
)
from marketplace.models.base import utcnow
from marketplace.models.catalogue import VERTICALS
from marketplace.services import DomainError
from marketplace.validation import parse_id

# Test-only switch: the concurrency test's negative control turns the programme lock off
# to show that the test can fail. Never change it elsewhere.
LOCKING = True

MAX_TITLE = 200
MAX_DESCRIPTION = 8000
MAX_LINES = 20
MAX_LINE = 500
MAX_AGE = 120
MAX_HOURS = 1000
MAX_OFFICER_TEXT = 2000
MAX_BULK_ROWS = 1000
MAX_PRINTED = 200
MAX_NAME = 120
PAGE_SIZE = 25

PROGRAMME_STATUS_LABELS = {
    Programme.DRAFT: _l("Draft"),
    Programme.OPEN: _l("Open"),
    Programme.CLOSED: _l("Closed"),
}
VALUE_KIND_LABELS = {
    Programme.FIXED: _l("Fixed amount"),
    Programme.PERCENT: _l("Percentage of the price, with a cap"),
    Programme.HOURS: _l("Hours of service"),
}
APPLICATION_STATUS_LABELS = {
    Application.DRAFT: _l("Draft"),
    Application.SUBMITTED: _l("Submitted"),
    Application.NEEDS_INFO: _l("Waiting for more information"),
    Application.APPROVED: _l("Approved"),
    Application.REJECTED: _l("Rejected"),
    Application.WITHDRAWN: _l("Withdrawn"),
}
VOUCHER_STATUS_LABELS = {
    Voucher.ACTIVE: _l("Active"),
    Voucher.CANCELLED: _l("Cancelled"),
}
CHANNEL_LABELS = {
    Voucher.APPLICATION: _l("Application"),
    Voucher.BULK: _l("List of beneficiaries"),
    Voucher.PRINTED: _l("Printed code"),
}


class InvalidProgramme(DomainError):
    """The programme's details are not consistent; ``errors`` maps fields to messages."""

    def __init__(self, errors: dict):
        field, message = next(iter(errors.items()))
        super().__init__(message, field=field)
        self.errors = errors


class BudgetExhausted(DomainError):
    """Issuing would commit more than the programme's budget."""


class Busy(DomainError):
    """The programme (or application) is locked by others for too long: try again."""


class AlreadyDecided(DomainError):
    """Someone else (or an earlier click) already moved the application."""


class BadRows(DomainError):
    """A list of beneficiaries has bad rows; ``rows`` holds (row number, column, reason)."""

    def __init__(self, rows: list[tuple[int, str, str]]):
        super().__init__(_l("Nothing was issued: correct the rows listed and upload the file again."),
                         field="file")
        self.rows = rows


def today() -> dt.date:
    return dt.date.today()


# ---------------------------------------------------------------------------- set-up

EDITABLE_WHEN_OPEN = ("description", "applications_close_on", "budget_cents")


def _lines(value) -> list[str]:
    if isinstance(value, str):
        value = value.splitlines()
    return [" ".join(str(v).split()) for v in (value or []) if str(v).strip()]


def _ids(value) -> list[int]:
    out = []
    for v in value or []:
        n = parse_id(v)
        if n is not None and n not in out:
            out.append(n)
    return out


def check(data: dict) -> tuple[dict, dict]:
    """The programme's details cleaned, and the errors found (field -> message), all at once.
    Ids of cooperatives, services and municipalities must be of this territory (scoped)."""
    errors: dict = {}
    clean: dict = {}

    def err(field, message):
        errors.setdefault(field, message)

    title = " ".join((data.get("title") or "").split())
    if not title:
        err("title", _l("Enter the programme's title."))
    elif len(title) > MAX_TITLE:
        err("title", _l("The title can be at most %(n)d characters long.", n=MAX_TITLE))
    clean["title"] = title
    description = (data.get("description") or "").strip()
    if len(description) > MAX_DESCRIPTION:
        err("description", _l("The description can be at most %(n)d characters long.", n=MAX_DESCRIPTION))
    clean["description"] = description

    budget = data.get("budget_cents")
    if budget is None:
        err("budget_cents", _l("Enter the budget in euros."))
    elif budget < 0:
        err("budget_cents", _l("The budget cannot be negative."))
    clean["budget_cents"] = budget

    for field, message in (("starts_on", _l("Enter the first day vouchers can be used.")),
                           ("ends_on", _l("Enter the last day vouchers can be used.")),
                           ("applications_open_on", _l("Enter the day applications open.")),
                           ("applications_close_on", _l("Enter the day applications close."))):
        clean[field] = data.get(field)
        if not isinstance(clean[field], dt.date):
            err(field, message)
    if "ends_on" not in errors and "starts_on" not in errors and clean["ends_on"] < clean["starts_on"]:
        err("ends_on", _l("The period must end on or after the day it starts."))
    if "applications_close_on" not in errors and "applications_open_on" not in errors \
            and clean["applications_close_on"] < clean["applications_open_on"]:
        err("applications_close_on", _l("Applications must close on or after the day they open."))
    if "applications_close_on" not in errors and "ends_on" not in errors \
            and clean["applications_close_on"] > clean["ends_on"]:
        err("applications_close_on", _l("Applications must close by the last day vouchers can be used."))

    verticals = [v for v in (data.get("eligible_verticals") or []) if v]
    if any(v not in VERTICALS for v in verticals):
        err("eligible_verticals", _l("Choose among the listed kinds of service."))
    clean["eligible_verticals"] = [v for v in VERTICALS if v in verticals]

    coop_ids = _ids(data.get("eligible_cooperative_ids"))
    if coop_ids:
        found = set(db.session.execute(select(Cooperative.id).where(
            Cooperative.id.in_(coop_ids), Cooperative.status == Cooperative.ACCREDITED)).scalars())
        if found != set(coop_ids):
            err("eligible_cooperative_ids", _l("Choose among the accredited cooperatives listed."))
    clean["eligible_cooperative_ids"] = coop_ids
    service_ids = _ids(data.get("eligible_service_ids"))
    if service_ids:
        found = set(db.session.execute(select(Service.id).where(
            Service.id.in_(service_ids), Service.status == Service.PUBLISHED)).scalars())
        if found != set(service_ids):
            err("eligible_service_ids", _l("Choose among the published services listed."))
    clean["eligible_service_ids"] = service_ids

    kind = data.get("value_kind")
    clean.update(value_kind=kind, value_cents=0, percent=None, cap_cents=None, hours=None)
    if kind not in Programme.VALUE_KINDS:
        err("value_kind", _l("Choose how much a voucher is worth."))
    elif kind == Programme.FIXED:
        value = data.get("value_cents")
        if not value or value <= 0:
            err("value_cents", _l("Enter the value of a voucher, more than zero."))
        clean["value_cents"] = value or 0
    elif kind == Programme.PERCENT:
        percent, cap = data.get("percent"), data.get("cap_cents")
        if percent is None or not 1 <= percent <= 100:
            err("percent", _l("Enter a percentage between 1 and 100."))
        if not cap or cap <= 0:
            err("cap_cents", _l("Enter the most a voucher pays in all, more than zero."))
        clean.update(percent=percent, cap_cents=cap)
    else:
        hours, value = data.get("hours"), data.get("value_cents")
        if hours is None or not 1 <= hours <= MAX_HOURS:
            err("hours", _l("Enter a number of hours between 1 and %(max)d.", max=MAX_HOURS))
        if not value or value <= 0:
            err("value_cents", _l("Enter the value of one hour, more than zero."))
        clean.update(hours=hours, value_cents=value or 0)

    municipality_ids = _ids(data.get("municipality_ids"))
    if municipality_ids:
        found = set(db.session.execute(
            select(Municipality.id).where(Municipality.id.in_(municipality_ids))).scalars())
        if found != set(municipality_ids):
            err("municipality_ids", _l("Choose among the municipalities listed."))
    clean["municipality_ids"] = municipality_ids
    for field in ("min_age", "max_age"):
        age = data.get(field)
        if age is not None and not 0 <= age <= MAX_AGE:
            err(field, _l("Enter an age between 0 and %(max)d.", max=MAX_AGE))
        clean[field] = age
    if clean["min_age"] is not None and clean["max_age"] is not None and "max_age" not in errors \
            and clean["max_age"] < clean["min_age"]:
        err("max_age", _l("The maximum age cannot be lower than the minimum age."))
    isee = data.get("max_isee_cents")
    if isee is not None and isee < 0:
        err("max_isee_cents", _l("The ISEE threshold cannot be negative."))
    clean["max_isee_cents"] = isee
    for field in ("declarations", "documents"):
        lines = _lines(data.get(field))
        if len(lines) > MAX_LINES:
            err(field, _l("Write at most %(n)d lines.", n=MAX_LINES))
        elif any(len(line) > MAX_LINE for line in lines):
            err(field, _l("Each line can be at most %(n)d characters long.", n=MAX_LINE))
        clean[field] = lines
    return clean, errors


def create(funder: Funder, data: dict, created_by: User | None = None) -> Programme:
    """A new DRAFT programme of ``funder``. Raises InvalidProgramme with every error."""
    clean, errors = check(data)
    if errors:
        raise InvalidProgramme(errors)
    programme = Programme(territory_id=funder.territory_id, funder_id=funder.id, status=Programme.DRAFT,
                          created_by_id=created_by.id if created_by else None, **clean)
    db.session.add(programme)
    db.session.flush()
    return programme


def update(programme: Programme, data: dict) -> Programme:
    """Change a programme. A draft changes freely; once open only the description, the day
    applications close and the budget (upward) may change; a closed one does not change.
    Raises InvalidProgramme / DomainError."""
    if programme.status == Programme.CLOSED:
        raise DomainError(_l("This programme is closed: it cannot be changed."))
    if programme.status == Programme.DRAFT:
        clean, errors = check(data)
        if errors:
            raise InvalidProgramme(errors)
        for key, value in clean.items():
            setattr(programme, key, value)
        db.session.flush()
        return programme
    errors = {}
    description = (data.get("description") or "").strip()
    if len(description) > MAX_DESCRIPTION:
        errors["description"] = _l("The description can be at most %(n)d characters long.", n=MAX_DESCRIPTION)
    close_on = data.get("applications_close_on")
    if not isinstance(close_on, dt.date):
        errors["applications_close_on"] = _l("Enter the day applications close.")
    elif close_on < programme.applications_open_on:
        errors["applications_close_on"] = _l("Applications must close on or after the day they open.")
    elif close_on > programme.ends_on:
        errors["applications_close_on"] = _l("Applications must close by the last day vouchers can be used.")
    budget = data.get("budget_cents")
    if budget is None:
        errors["budget_cents"] = _l("Enter the budget in euros.")
    elif budget < programme.budget_cents:
        errors["budget_cents"] = _l("Once the programme is open the budget can only be raised.")
    changed = [k for k, v in data.items() if k not in EDITABLE_WHEN_OPEN and v is not None
               and k in Programme.__table__.c.keys() and getattr(programme, k) != v]
    for key in changed:
        errors.setdefault(key, _l("This cannot change once the programme is open."))
    if errors:
        raise InvalidProgramme(errors)
    programme.description = description
    programme.applications_close_on = close_on
    programme.budget_cents = budget
    db.session.flush()
    return programme


def open_programme(programme: Programme) -> Programme:
    """DRAFT -> OPEN: citizens may apply in the window, vouchers may be issued."""
    if programme.status != Programme.DRAFT:
        raise DomainError(_l("Only a draft programme can be opened."))
    if programme.voucher_value_cents <= 0:
        raise DomainError(_l("Set the value of a voucher before opening the programme."))
    programme.status = Programme.OPEN
    db.session.flush()
    return programme


def close_programme(programme: Programme) -> Programme:
    """OPEN -> CLOSED: no more applications nor vouchers; issued vouchers stay valid."""
    if programme.status != Programme.OPEN:
        raise DomainError(_l("Only an open programme can be closed."))
    programme.status = Programme.CLOSED
    db.session.flush()
    return programme


# ---------------------------------------------------------------------------- budget

def committed_cents(programme_id: int) -> int:
    """Face value of the programme's vouchers that are not cancelled (read from the table)."""
    return int(db.session.execute(
        select(func.coalesce(func.sum(Voucher.amount_cents), 0))
        .where(Voucher.programme_id == programme_id, Voucher.status != Voucher.CANCELLED)
    ).scalar_one())


def remaining_cents(programme: Programme) -> int:
    return max(0, programme.budget_cents - committed_cents(programme.id))


def _lock_timeout() -> None:
    if db.session.get_bind().dialect.name == "postgresql":
        timeout = int(current_app.config.get("BOOKING_LOCK_TIMEOUT_MS", 3000))
        db.session.execute(text(f"SET LOCAL lock_timeout = '{timeout}ms'"))


def _lock_programme(programme_id: int) -> Programme | None:
    query = select(Programme).where(Programme.id == programme_id)
    if LOCKING:
        _lock_timeout()
        query = query.with_for_update()
    try:
        return db.session.execute(query.execution_options(populate_existing=True)).scalar_one_or_none()
    except OperationalError as exc:
        db.session.rollback()
        raise Busy(_l("Other vouchers of this programme are being issued right now. Please try again.")) from exc


def _issue(programme_id: int, specs: list[dict], channel: str, issued_by: User | None) -> list[Voucher]:
    """Lock the programme, recount what is committed, then issue one voucher per spec."""
    if channel not in Voucher.CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    programme = _lock_programme(programme_id)
    if programme is None:
        raise DomainError(_l("This programme no longer exists."))
    if programme.status != Programme.OPEN:
        raise DomainError(_l("Vouchers can be issued only while the programme is open."))
    if programme.ends_on < today():
        raise DomainError(_l("The programme's period is over: no more vouchers can be issued."))
    face = programme.voucher_value_cents
    if face <= 0:
        raise DomainError(_l("Set the value of a voucher before issuing any."))
    # Recount inside the lock: what other officers committed before we got it is counted.
    left = programme.budget_cents - committed_cents(programme.id)
    wanted = face * len(specs)
    if wanted > left:
        from marketplace.formatting import money

        if len(specs) == 1:
            raise BudgetExhausted(_l("Budget exhausted: %(left)s left, a voucher is worth %(face)s.",
                                     left=money(max(0, left)), face=money(face)))
        raise BudgetExhausted(_l("Not enough budget: %(n)d vouchers need %(wanted)s, %(left)s left.",
                                 n=len(specs), wanted=money(wanted), left=money(max(0, left))))
    now = utcnow()
    vouchers = []
    for spec in specs:
        voucher = Voucher(
            territory_id=programme.territory_id, programme_id=programme.id, funder_id=programme.funder_id,
            application_id=spec.get("application_id"), holder_id=spec.get("holder_id"),
            holder_email=spec.get("holder_email", ""), beneficiary_name=spec.get("beneficiary_name", ""),
            amount_cents=face, balance_cents=face,
            percent=programme.percent if programme.value_kind == Programme.PERCENT else None,
            valid_from=programme.starts_on, valid_until=programme.ends_on, status=Voucher.ACTIVE,
            channel=channel, issued_by_id=issued_by.id if issued_by else None, issued_at=now,
            claimed_at=now if spec.get("holder_id") else None,
        )
        db.session.add(voucher)
        vouchers.append(voucher)
    db.session.flush()
    return vouchers


def issue_voucher(programme: Programme, *, holder: User | None = None, holder_email: str = "",
                  beneficiary_name: str = "", application: Application | None = None, channel: str,
                  issued_by: User | None = None) -> Voucher:
    """Issue one voucher of ``programme`` (face value = its voucher value, valid for its
    period). Locks the programme row and recounts: raises BudgetExhausted ("budget
    exhausted: X left") rather than over-commit, Busy if the lock is not had quickly,
    DomainError if the programme is not open. The caller commits."""
    spec = {"holder_id": holder.id if holder else None,
            "holder_email": "" if holder else (holder_email or "").strip().lower(),
            "beneficiary_name": (beneficiary_name or "").strip()[:MAX_NAME],
            "application_id": application.id if application else None}
    return _issue(programme.id, [spec], channel, issued_by)[0]


def cancel_voucher(voucher: Voucher) -> Voucher:
    """Cancel a voucher nobody has used (balance = face value, no payment with it): its
    face value goes back to the budget. Raises DomainError otherwise. The caller commits."""
    _lock_timeout()
    try:
        locked = db.session.execute(
            select(Voucher).where(Voucher.id == voucher.id).with_for_update()
            .execution_options(populate_existing=True)).scalar_one_or_none()
    except OperationalError as exc:
        db.session.rollback()
        raise Busy(_l("This voucher is in use right now. Please try again.")) from exc
    if locked is None:
        raise DomainError(_l("This voucher no longer exists."))
    if locked.status == Voucher.CANCELLED:
        raise DomainError(_l("This voucher is already cancelled."))
    used = db.session.execute(select(Payment.id).where(
        Payment.voucher_id == locked.id,
        Payment.status.in_((Payment.CREATED, Payment.PENDING, Payment.CONFIRMED)))).first()
    if used or locked.balance_cents != locked.amount_cents:
        raise DomainError(_l("This voucher has been used: it cannot be cancelled."))
    locked.status = Voucher.CANCELLED
    db.session.flush()
    return locked


def vouchers_of(programme: Programme, page: int = 1, per_page: int = 50) -> tuple[list[Voucher], int]:
    """A page of the programme's vouchers, newest first, and how many there are."""
    query = select(Voucher).where(Voucher.programme_id == programme.id)
    total = int(db.session.execute(
        select(func.count(Voucher.id)).where(Voucher.programme_id == programme.id)).scalar_one())
    page = min(max(1, page), max(1, math.ceil(total / per_page)))
    rows = db.session.execute(query.order_by(Voucher.issued_at.desc(), Voucher.id.desc())
                              .limit(per_page).offset((page - 1) * per_page)).scalars().all()
    return list(rows), total


# ---------------------------------------------------------------------------- bulk and printed

CSV_HEADER = ("email", "beneficiary name")


def csv_template() -> str:
    return "email;beneficiary name\nmario.rossi@example.org;Luca Rossi\n"


def parse_beneficiaries(data: bytes) -> list[dict]:
    """Rows of a CSV of beneficiaries (e-mail, beneficiary name; ``;`` or ``,``; UTF-8 with
    or without BOM; a header row is optional). Every row is checked before anything is
    returned: raises BadRows listing each (row number, column, reason)."""
    from email_validator import EmailNotValidError, validate_email

    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DomainError(_l("The file is not UTF-8 text: save it from your spreadsheet as CSV UTF-8."),
                          field="file") from None
    lines = content.splitlines()
    first = next((line for line in lines if line.strip()), "")
    delimiter = ";" if ";" in first else ","
    reader = csv.reader(io.StringIO(content), delimiter=delimiter)
    rows, problems, seen = [], [], {}
    for number, cells in enumerate(reader, start=1):
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        if not rows and not problems and cells[0].lower().replace("-", "") in ("email", "mail"):
            continue  # the header
        email = cells[0] if cells else ""
        name = " ".join(cells[1].split()) if len(cells) > 1 else ""
        try:
            email = validate_email(email, check_deliverability=False).normalized.lower()
            ok_email = True
        except EmailNotValidError:
            problems.append((number, str(_l("e-mail")), str(_l("not a valid e-mail address: %(value)s",
                                                                  value=email[:80] or "—"))))
            ok_email = False
        if not name:
            problems.append((number, str(_l("beneficiary name")), str(_l("missing"))))
        elif len(name) > MAX_NAME:
            problems.append((number, str(_l("beneficiary name")),
                             str(_l("longer than %(n)d characters", n=MAX_NAME))))
        if ok_email and name:
            key = (email, name.lower())
            if key in seen:
                problems.append((number, str(_l("e-mail")),
                                 str(_l("duplicate of row %(n)d", n=seen[key]))))
            else:
                seen[key] = number
        rows.append({"email": email, "beneficiary_name": name})
        if len(rows) > MAX_BULK_ROWS:
            raise DomainError(_l("Upload at most %(n)d rows at a time.", n=MAX_BULK_ROWS), field="file")
    if problems:
        raise BadRows(problems)
    if not rows:
        raise DomainError(_l("The file has no beneficiaries."), field="file")
    return rows


def issue_bulk(programme: Programme, data: bytes, issued_by: User | None = None) -> list[Voucher]:
    """One voucher per row of a CSV of beneficiaries, all under one programme lock, or none:
    bad rows raise BadRows, a batch beyond the remaining budget raises BudgetExhausted.
    A row whose e-mail has an account is held by it, else by the e-mail until claimed.
    Each holder is e-mailed. The caller commits."""
    rows = parse_beneficiaries(data)
    emails = {r["email"] for r in rows}
    users = {u.email.lower(): u for u in db.session.execute(
        select(User).where(func.lower(User.email).in_(emails), User.deleted_at.is_(None))).scalars()}
    specs = []
    for row in rows:
        user = users.get(row["email"])
        specs.append({"holder_id": user.id if user else None, "holder_email": "" if user else row["email"],
                      "beneficiary_name": row["beneficiary_name"]})
    vouchers = _issue(programme.id, specs, Voucher.BULK, issued_by)
    for voucher in vouchers:
        user = db.session.get(User, voucher.holder_id) if voucher.holder_id else None
        _mail_voucher(voucher, user)
    return vouchers


def issue_printed(programme: Programme, count: int, issued_by: User | None = None) -> list[Voucher]:
    """``count`` vouchers with no holder (printed codes handed out at a help desk), all or
    none within the budget. The caller commits."""
    if not isinstance(count, int) or not 1 <= count <= MAX_PRINTED:
        raise DomainError(_l("Issue between 1 and %(n)d codes at a time.", n=MAX_PRINTED), field="count")
    return _issue(programme.id, [{} for _ in range(count)], Voucher.PRINTED, issued_by)


# ---------------------------------------------------------------------------- applications

def application_counts(programme: Programme) -> dict[str, int]:
    """Applications of the programme by status (drafts are the citizens' and not counted)."""
    rows = db.session.execute(
        select(Application.status, func.count(Application.id))
        .where(Application.programme_id == programme.id, Application.status != Application.DRAFT)
        .group_by(Application.status)).all()
    return {status: int(n) for status, n in rows}


QUEUE_STATUSES = (Application.SUBMITTED, Application.NEEDS_INFO)
SORTS = ("oldest", "newest", "name")


def review_queue(programme: Programme, status: str = "", q: str = "", sort: str = "oldest",
                 page: int = 1, per_page: int = PAGE_SIZE) -> tuple[list[Application], int]:
    """A page of the programme's applications and how many match. ``status``: one status,
    ``all`` (every status but draft) or empty (waiting: submitted and needs_info); ``q``
    searches the beneficiary's and the applicant's names; ``sort``: oldest submitted first
    (default), newest, name."""
    conditions = [Application.programme_id == programme.id, Application.status != Application.DRAFT]
    if status == "all":
        pass
    elif status in Application.STATUSES and status != Application.DRAFT:
        conditions.append(Application.status == status)
    else:
        conditions.append(Application.status.in_(QUEUE_STATUSES))
    q = " ".join((q or "").split())[:100].lower()
    if q:
        conditions.append(or_(func.lower(Application.beneficiary_name).contains(q, autoescape=True),
                              func.lower(User.full_name).contains(q, autoescape=True)))
    total = int(db.session.execute(
        select(func.count(Application.id)).outerjoin(User, User.id == Application.user_id).where(*conditions)
    ).scalar_one())
    query = select(Application).outerjoin(User, User.id == Application.user_id).where(*conditions)
    submitted = func.coalesce(Application.submitted_at, Application.created_at)
    if sort == "newest":
        order = (submitted.desc(), Application.id.desc())
    elif sort == "name":
        order = (func.lower(Application.beneficiary_name), Application.id)
    else:
        order = (submitted, Application.id)
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    rows = db.session.execute(query.order_by(*order).limit(per_page).offset((page - 1) * per_page)).scalars()
    return list(rows), total


def lock_application(application_id: int) -> Application | None:
    """The application re-read under a row lock, so a concurrent decision is seen."""
    _lock_timeout()
    query = (select(Application).where(Application.id == application_id).with_for_update()
             .execution_options(populate_existing=True))
    try:
        return db.session.execute(query).scalar_one_or_none()
    except OperationalError as exc:
        db.session.rollback()
        raise Busy(_l("Another officer is working on this application. Please try again.")) from exc


APPROVE, REJECT, NEEDS_INFO = "approve", "reject", "needs_info"
_TARGET = {APPROVE: Application.APPROVED, REJECT: Application.REJECTED, NEEDS_INFO: Application.NEEDS_INFO}


def decide(application: Application, officer: User, action: str, message: str = "",
           seen_status: str | None = None) -> Application:
    """Approve (issuing the voucher in the same transaction), reject with a reason, or ask
    for more information. The application row is locked and re-read first: a decision
    taken meanwhile by another officer (or a page showing an older status,
    ``seen_status``) raises AlreadyDecided. A budget refusal raises BudgetExhausted and
    the caller's rollback leaves the application as it was. The applicant is e-mailed and
    the decision written to the audit log (who, the reason given). The caller commits."""
    if action not in _TARGET:
        raise ValueError(f"unknown action {action!r}")
    message = (message or "").strip()
    if len(message) > MAX_OFFICER_TEXT:
        raise DomainError(_l("The message can be at most %(n)d characters long.", n=MAX_OFFICER_TEXT),
                          field="message")
    if action == REJECT and not message:
        raise DomainError(_l("Explain to the applicant why the application is rejected."), field="message")
    if action == NEEDS_INFO and not message:
        raise DomainError(_l("Tell the applicant what is missing."), field="message")
    locked = lock_application(application.id)
    if locked is None:
        raise DomainError(_l("This application no longer exists."))
    target = _TARGET[action]
    status_now = str(APPLICATION_STATUS_LABELS.get(locked.status, locked.status)).lower()
    if seen_status and seen_status != locked.status:
        raise AlreadyDecided(_l("This application changed while you were reading it: it is now %(status)s. "
                                "Check it again before deciding.", status=status_now))
    if target not in Application.TRANSITIONS[locked.status]:
        raise AlreadyDecided(_l("This application is already %(status)s: it cannot be changed now.",
                                status=status_now))
    voucher = None
    if action == APPROVE:
        holder = db.session.get(User, locked.user_id) if locked.user_id else None
        voucher = issue_voucher(locked.programme, holder=holder,
                                beneficiary_name=locked.beneficiary_name or (holder.display_name if holder else ""),
                                application=locked, channel=Voucher.APPLICATION, issued_by=officer)
    previous = locked.status
    locked.status = target
    locked.officer_message = message
    locked.decided_by_id = officer.id
    locked.decided_at = utcnow()
    db.session.flush()
    # Who decided, when and why (the reason given to the applicant), in the same transaction.
    from marketplace.services import audit

    audit.log(officer, target, f"application:{locked.id}", funder_id=locked.programme.funder_id,
              reason=message, detail=f"{previous} -> {target}")
    _mail_applicant(locked, voucher)
    return locked


def voucher_of(application: Application) -> Voucher | None:
    return db.session.execute(select(Voucher).where(Voucher.application_id == application.id)).scalar_one_or_none()


# ---------------------------------------------------------------------------- e-mails

def _has_endpoint(name: str) -> bool:
    return name in current_app.view_functions


def _mail_applicant(application: Application, voucher: Voucher | None) -> None:
    from marketplace.models import Territory
    from marketplace.services.mail import external_url, send_mail

    user = db.session.get(User, application.user_id) if application.user_id else None
    if user is None or not user.email or user.deleted_at is not None:
        return
    territory = db.session.get(Territory, application.territory_id)
    wallet = external_url("public_funding.wallet", territory=territory.slug)
    if _has_endpoint("public_funding.application"):
        link = external_url("public_funding.application", territory=territory.slug, code=application.code)
    else:
        link = wallet
    template = {Application.APPROVED: "application_approved", Application.REJECTED: "application_rejected",
                Application.NEEDS_INFO: "application_needs_info"}[application.status]
    send_mail(user.email, template, locale=user.locale, territory=territory, application=application,
              programme=application.programme, voucher=voucher, wallet_link=wallet, link=link)


def _mail_voucher(voucher: Voucher, user: User | None) -> None:
    from marketplace.models import Territory
    from marketplace.services.mail import external_url, send_mail

    to = user.email if user else voucher.holder_email
    if not to:
        return
    territory = db.session.get(Territory, voucher.territory_id)
    send_mail(to, "voucher_issued", locale=user.locale if user else None, territory=territory,
              voucher=voucher, programme=voucher.programme, has_account=user is not None,
              wallet_link=external_url("public_funding.wallet", territory=territory.slug))
