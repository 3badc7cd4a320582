"""Employer welfare credits: employees (invite, join, remove), credit loads (one at a time
or from a CSV), their release on expiry, and what the employer and the employee see of the
money (spend per category, totals, the wallet's movements).

Every function runs inside a territory scope and the caller's transaction; the caller
commits. Money moves only through ``payments.ledger.record_credit``: nothing here writes a
balance or a ledger entry. E-mails are queued with ``send_mail`` in the same transaction
(nothing is sent if it rolls back). Writes that could race (two HR users inviting or loading
at once, a double-submitted form) lock the employer's row first, then look again.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select

from marketplace.extensions import db
from marketplace.models import Employee, Funder, LedgerEntry, Territory, User, WelfareCredit
from marketplace.models.base import utcnow
from marketplace.models.booking import new_code
from marketplace.models.catalogue import VERTICALS
from marketplace.services import DomainError
from marketplace.services import funding as _funding
from marketplace.validation import euros_to_cents
from payments import ledger

MAX_NAME = 120
MAX_NOTE = 200
MAX_EMAIL = 254
# One load above this is a typing mistake (an extra zero); it also keeps cents in 32 bits.
MAX_LOAD_CENTS = 5_000_000
MAX_LOAD_TEXT = "50.000,00 €"
# An expiry further away than this is a typo in the year.
MAX_EXPIRY_DAYS = 5 * 366
MAX_CSV_BYTES = 1_000_000
MAX_CSV_ROWS = 5000
# Fewer people than this in a cell are shown as "<5" (small-cell suppression).
SMALL_CELL = 5

EMPLOYEE_STATUS_LABELS = {
    Employee.INVITED: _l("Invited"),
    Employee.ACTIVE: _l("Active"),
    Employee.REMOVED: _l("Removed"),
}

# What a credit is, in words: ``credit_state`` picks the key.
CREDIT_ACTIVE = "active"
CREDIT_USED_UP = "used_up"
CREDIT_EXPIRED = "expired"
CREDIT_RELEASED = "released"
CREDIT_STATE_LABELS = {
    CREDIT_ACTIVE: _l("Active"),
    CREDIT_USED_UP: _l("Used up"),
    CREDIT_EXPIRED: _l("Expired"),  # pages say "Expired on <date>"
    CREDIT_RELEASED: _l("Expired, returned to the employer"),
}

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def today() -> dt.date:
    """The date credits are judged by: the same as checkout's (``services.funding.today``)."""
    return _funding.today()


# ----------------------------------------------------------------------------- errors


@dataclass
class RowError:
    """One problem in an uploaded file: its line (1 = the header), column and why."""

    row: int
    column: str
    reason: object


class CsvRejected(DomainError):
    """An uploaded file with errors: every problem found is in ``errors``; nothing was saved."""

    def __init__(self, errors: list[RowError], message=None):
        super().__init__(message or _l("The file has errors: nothing was saved. Correct them and upload it again."),
                         field="file")
        self.errors = errors


class JoinRefused(DomainError):
    """A join code that cannot be used; ``status`` is the HTTP answer that fits."""

    def __init__(self, message, status: int = 422):
        super().__init__(message, field="code")
        self.status = status


# ----------------------------------------------------------------------------- parsing


def normalise_email(text: str | None) -> str:
    return (text or "").strip().lower()


def check_email(text: str | None) -> str:
    """A typed e-mail address, lower-cased; raises ValueError with the reason."""
    email = normalise_email(text)
    if not email:
        raise ValueError(_l("Enter the e-mail address."))
    if len(email) > MAX_EMAIL or not _EMAIL_RE.match(email):
        raise ValueError(_l("Enter a valid e-mail address, like nome@esempio.it."))
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        raise ValueError(_l("Enter a valid e-mail address, like nome@esempio.it.")) from None
    return email


def parse_amount(text: str | None) -> int:
    """'150,00', '150.00', '1.234,50', '€ 150' as integer cents (Decimal, never float).
    Raises ValueError with the reason: empty, negative, zero, more than two decimals, too big."""
    message = _l("Enter an amount in euros, like 150,00.")
    cents = euros_to_cents(text, negative_message=_l("The amount cannot be negative."), format_message=message)
    if cents is None:
        raise ValueError(message)
    if cents <= 0:
        raise ValueError(_l("The amount must be more than zero."))
    if cents > MAX_LOAD_CENTS:
        raise ValueError(_l("Load at most %(max)s at a time.", max=MAX_LOAD_TEXT))
    return cents


def parse_date(text: str | None) -> dt.date:
    """'2026-12-31' or '31/12/2026'; raises ValueError with the reason."""
    raw = (text or "").strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    raise ValueError(_l("Enter a date like 31/12/2026 or 2026-12-31."))


def check_expiry(expires_on: dt.date, day: dt.date | None = None) -> dt.date:
    """An expiry date in the future and not absurdly far; raises ValueError with the reason."""
    day = day or today()
    if expires_on <= day:
        raise ValueError(_l("The expiry date must be in the future."))
    if expires_on > day + dt.timedelta(days=MAX_EXPIRY_DAYS):
        raise ValueError(_l("The expiry date must be within five years."))
    return expires_on


def normalise_code(text: str | None) -> str:
    """A typed or pasted code: any case, spaces and dashes ignored."""
    return re.sub(r"[\s\-]+", "", text or "").upper()


# Accepted column headings (lower-case, letters only), English and Italian.
_HEADINGS = {
    "email": ("email", "mail", "indirizzoemail", "posta", "postaelettronica"),
    "name": ("name", "fullname", "nome", "nomecognome", "nomeecognome", "nominativo"),
    "amount": ("amount", "amounteuro", "amounteur", "importo", "importoeuro", "euro", "credito"),
    "expiry": ("expiry", "expires", "expireson", "expirydate", "validuntil", "scadenza", "datascadenza"),
    "note": ("note", "notes", "nota"),
}
COLUMN_LABELS = {
    "email": _l("E-mail"),
    "name": _l("Name"),
    "amount": _l("Amount"),
    "expiry": _l("Expiry"),
    "note": _l("Note"),
    "file": _l("File"),
}


def _heading(cell: str) -> str | None:
    key = re.sub(r"[^a-z]", "", (cell or "").strip().lower())
    for column, aliases in _HEADINGS.items():
        if key in aliases:
            return column
    return None


def read_csv(data: bytes, columns: tuple[str, ...], required: tuple[str, ...]
             ) -> tuple[list[tuple[int, dict]], list[RowError]]:
    """The rows of an uploaded CSV as (line number, {column: text}), blank rows skipped,
    and the rows that could not be read (too many values) as errors.

    Separators ``;``, tab or ``,`` (the first line tells); UTF-8 (with or without BOM) or
    Windows-1252 as Excel saves it. A first line of known headings says which column is
    which; without one the columns are taken in the order of ``columns``. Raises
    CsvRejected for an empty, too big or unreadable file or missing columns."""
    if not data:
        raise CsvRejected([RowError(1, "file", _l("The file is empty."))], _l("The file is empty."))
    if len(data) > MAX_CSV_BYTES:
        raise CsvRejected([RowError(1, "file", _l("The file is larger than 1 MB."))],
                          _l("The file is larger than 1 MB: split it into smaller files."))
    if b"\x00" in data[:4096]:
        raise CsvRejected([RowError(1, "file", _l("This is not a CSV file."))],
                          _l("This is not a CSV file: save the sheet as CSV and upload it again."))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = ";" if ";" in first else ("\t" if "\t" in first else ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, dict]] = []
    positions: list[str | None] | None = None
    errors: list[RowError] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any((c or "").strip() for c in cells):
                continue
            if positions is None:
                headings = [_heading(c) for c in cells]
                if any(h in columns for h in headings):
                    positions = [h if h in columns else None for h in headings]
                    missing = [c for c in required if c not in positions]
                    for column in missing:
                        errors.append(RowError(line, column, _l("This column is missing.")))
                    if missing:
                        raise CsvRejected(errors)
                    continue
                positions = list(columns)
            if len(cells) > len(positions) and any((c or "").strip() for c in cells[len(positions):]):
                errors.append(RowError(line, "file", _l(
                    "This row has more values than columns. If an amount has a comma, separate the "
                    "columns with semicolons or put the amount in quotes.")))
                continue
            values = {column: "" for column in columns}
            for column, cell in zip(positions, cells):
                if column is not None:
                    values[column] = (cell or "").strip()
            rows.append((line, values))
            if len(rows) > MAX_CSV_ROWS:
                raise CsvRejected([RowError(line, "file", _l("At most %(n)d rows per file.", n=MAX_CSV_ROWS))])
    except csv.Error:
        raise CsvRejected([RowError(reader.line_num or 1, "file", _l("This line cannot be read as CSV."))]) from None
    if not rows and not errors:
        raise CsvRejected([RowError(1, "file", _l("The file has no rows."))], _l("The file has no rows."))
    return rows, errors


def csv_template(header: list[str], example: list[str]) -> str:
    """A CSV to fill in, as Italian Excel opens it: UTF-8 with BOM, semicolons."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerow(example)
    return "\ufeff" + out.getvalue()


# ----------------------------------------------------------------------------- employers


def _check_employer(employer: Funder) -> None:
    if not employer.is_employer:
        raise DomainError(_l("Only an employer has employees and welfare credits."))


def lock_employer(employer_id: int) -> Funder | None:
    """The employer's row, locked for the rest of the transaction: invitations and credit
    loads of one employer happen one at a time, so a double submit is seen by the second."""
    return db.session.execute(
        select(Funder).where(Funder.id == employer_id).with_for_update()
    ).scalar_one_or_none()


def _employee_by_email(employer: Funder, email: str) -> Employee | None:
    return db.session.execute(
        select(Employee).where(Employee.funder_id == employer.id, func.lower(Employee.email) == email)
    ).scalar_one_or_none()


@dataclass
class EmployeeRow:
    employee: Employee
    balance_cents: int


def employees_of(employer: Funder) -> list[EmployeeRow]:
    """The employer's employees (removed ones last) with the balance of their active credits."""
    balances = dict(db.session.execute(
        select(WelfareCredit.employee_id, func.coalesce(func.sum(WelfareCredit.balance_cents), 0))
        .where(WelfareCredit.funder_id == employer.id, WelfareCredit.status == WelfareCredit.ACTIVE)
        .group_by(WelfareCredit.employee_id)
    ).all())
    employees = db.session.execute(
        select(Employee).where(Employee.funder_id == employer.id).order_by(Employee.email)
    ).scalars()
    rows = [EmployeeRow(e, int(balances.get(e.id, 0))) for e in employees]
    rows.sort(key=lambda r: (r.employee.status == Employee.REMOVED, (r.employee.full_name or r.employee.email).lower()))
    return rows


def employee_of(employer: Funder, employee_id) -> Employee | None:
    """Employee ``employee_id`` if it is one of ``employer``'s (in this territory), else None."""
    try:
        employee_id = int(employee_id)
    except (TypeError, ValueError):
        return None
    if not 0 < employee_id < 2**31:
        return None
    employee = db.session.get(Employee, employee_id)
    if employee is None or employee.funder_id != employer.id:
        return None
    return employee


def invite_employee(employer: Funder, email: str, full_name: str = "", invited_by: User | None = None) -> tuple[Employee, str]:
    """Invite one person: a new INVITED employee (or, for one already invited or removed, a
    fresh invitation) and an e-mail with the link to join. Returns (employee, "invited" or
    "resent"). Raises DomainError for a bad address or name, or an employee already active."""
    _check_employer(employer)
    try:
        email = check_email(email)
    except ValueError as exc:
        raise DomainError(exc.args[0], field="email") from None
    full_name = (full_name or "").strip()
    if len(full_name) > MAX_NAME:
        raise DomainError(_l("The name can be at most %(n)d characters long.", n=MAX_NAME), field="full_name")
    lock_employer(employer.id)
    return _invite(employer, email, full_name, invited_by)


def _invite(employer: Funder, email: str, full_name: str, invited_by: User | None) -> tuple[Employee, str]:
    employee = _employee_by_email(employer, email)
    if employee is not None and employee.status == Employee.ACTIVE:
        raise DomainError(_l("%(email)s is already an active employee.", email=email), field="email")
    if employee is None:
        employee = Employee(territory_id=employer.territory_id, funder_id=employer.id, email=email,
                            full_name=full_name, status=Employee.INVITED)
        db.session.add(employee)
        outcome = "invited"
    else:
        if employee.status == Employee.REMOVED:
            # Invited again after a removal: the old link must not work for someone else.
            employee.status = Employee.INVITED
            employee.user_id = None
            employee.joined_at = None
            employee.invite_code = new_code()
        if full_name:
            employee.full_name = full_name
        outcome = "resent"
    db.session.flush()
    _mail_invitation(employer, employee, invited_by)
    return employee, outcome


def _territory_of(obj) -> Territory:
    return db.session.get(Territory, obj.territory_id)


def _mail_invitation(employer: Funder, employee: Employee, invited_by: User | None) -> None:
    from marketplace.services.mail import external_url, send_mail

    territory = _territory_of(employer)
    send_mail(employee.email, "employee_invitation", locale=territory.default_language, territory=territory,
              employer=employer, employee=employee, inviter=invited_by,
              link=external_url("public_funding.join_employer", territory=territory.slug,
                                invite_code=employee.invite_code),
              wallet_link=external_url("public_funding.wallet", territory=territory.slug))


@dataclass
class InviteRow:
    line: int
    email: str
    full_name: str


@dataclass
class InviteResult:
    invited: int = 0
    resent: int = 0
    already_active: int = 0


def parse_employee_csv(employer: Funder, data: bytes) -> list[InviteRow]:
    """Every row of an employees CSV (e-mail, name) checked; raises CsvRejected listing
    every problem (line, column, reason). Writes nothing."""
    _check_employer(employer)
    values_by_line, errors = read_csv(data, ("email", "name"), ("email",))
    rows: list[InviteRow] = []
    seen: dict[str, int] = {}
    for line, values in values_by_line:
        try:
            email = check_email(values["email"])
        except ValueError as exc:
            errors.append(RowError(line, "email", exc.args[0]))
            email = ""
        if email and email in seen:
            errors.append(RowError(line, "email", _l("This address is already on line %(line)d.", line=seen[email])))
        elif email:
            seen[email] = line
        name = values["name"]
        if len(name) > MAX_NAME:
            errors.append(RowError(line, "name", _l("The name can be at most %(n)d characters long.", n=MAX_NAME)))
        rows.append(InviteRow(line, email, name))
    if errors:
        raise CsvRejected(sorted(errors, key=lambda e: e.row))
    return rows


def invite_many(employer: Funder, rows: list[InviteRow], invited_by: User | None = None) -> InviteResult:
    """Invite every row of a checked file; people already active are left as they are."""
    _check_employer(employer)
    lock_employer(employer.id)
    result = InviteResult()
    for row in rows:
        existing = _employee_by_email(employer, row.email)
        if existing is not None and existing.status == Employee.ACTIVE:
            result.already_active += 1
            continue
        _, outcome = _invite(employer, row.email, row.full_name, invited_by)
        if outcome == "invited":
            result.invited += 1
        else:
            result.resent += 1
    return result


def remove_employee(employer: Funder, employee: Employee) -> Employee:
    """The employee leaves: REMOVED, their credits stay (until expiry, then back to the
    employer) but can no longer pay. Removing twice is a no-op."""
    _check_employer(employer)
    if employee.funder_id != employer.id:
        raise DomainError(_l("This person is not one of your employees."))
    locked = db.session.execute(
        select(Employee).where(Employee.id == employee.id).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    locked.status = Employee.REMOVED
    return locked


# ----------------------------------------------------------------------------- joining


def _find_code(code: str) -> tuple[Funder | None, Employee | None]:
    """An employer by its join code, or an employee by their personal invite code (this
    territory only: the scope hides everyone else's)."""
    if not code or len(code) > 12:
        return None, None
    employer = db.session.execute(
        select(Funder).where(Funder.join_code == code, Funder.kind == Funder.EMPLOYER)
    ).scalar_one_or_none()
    if employer is not None:
        return employer, None
    employee = db.session.execute(select(Employee).where(Employee.invite_code == code)).scalar_one_or_none()
    if employee is not None and employee.funder.is_employer:
        return employee.funder, employee
    return None, None


def check_join_code(code: str | None, user: User) -> tuple[Funder, Employee | None]:
    """What ``code`` would join ``user`` to: (employer, the invited employee or None).
    Raises JoinRefused with a clear message (and the HTTP status) when it cannot be used."""
    code = normalise_code(code)
    if not code:
        raise JoinRefused(_l("Enter the code your employer gave you."), 422)
    employer, employee = _find_code(code)
    if employer is None:
        raise JoinRefused(_l("There is no employer with this code on this site. Check the code, or ask your "
                             "employer for a new invitation."), 404)
    if employee is None:
        # The employer's shared code: who you are is your e-mail, so it must be proven.
        if not user.is_confirmed:
            raise JoinRefused(_l("Confirm your e-mail address first (open the link we sent you), then join "
                                 "your employer."), 403)
        employee = _employee_by_email(employer, normalise_email(user.email))
    if employee is not None:
        if employee.status == Employee.REMOVED:
            raise JoinRefused(_l("%(employer)s has removed you from its employees: ask them if this is a mistake.",
                                 employer=employer.name), 403)
        if employee.user_id is not None and employee.user_id != user.id:
            raise JoinRefused(_l("This invitation has already been used by another account."), 409)
    return employer, employee


def join_employer(code: str | None, user: User) -> Employee:
    """Join ``user`` to an employer with its join code (creating or activating the employee
    record of the user's e-mail) or with a personal invite code (activating that invited
    employee, whatever the user's e-mail). Joining again is a no-op. Raises JoinRefused."""
    employer, _ = check_join_code(code, user)
    lock_employer(employer.id)
    # Looked at again under the lock: a concurrent join of the same person is seen.
    employer, employee = check_join_code(code, user)
    if employee is None:
        employee = Employee(territory_id=employer.territory_id, funder_id=employer.id,
                            email=normalise_email(user.email), full_name=user.full_name or "",
                            status=Employee.ACTIVE)
        db.session.add(employee)
    if employee.status != Employee.ACTIVE or employee.user_id != user.id:
        employee.status = Employee.ACTIVE
        employee.user_id = user.id
        employee.joined_at = employee.joined_at or utcnow()
        if not employee.full_name:
            employee.full_name = user.full_name or ""
    db.session.flush()
    return employee


# ----------------------------------------------------------------------------- credits


def credit_state(credit: WelfareCredit, day: dt.date | None = None) -> str:
    """One of CREDIT_STATE_LABELS' keys."""
    day = day or today()
    if credit.status == WelfareCredit.RELEASED:
        return CREDIT_RELEASED
    if credit.expires_on < day:
        return CREDIT_EXPIRED
    if credit.balance_cents <= 0:
        return CREDIT_USED_UP
    return CREDIT_ACTIVE


def loadable_employees(employer: Funder) -> list[Employee]:
    """Who can receive credit: invited and active employees."""
    return list(db.session.execute(
        select(Employee).where(Employee.funder_id == employer.id, Employee.status != Employee.REMOVED)
        .order_by(Employee.full_name, Employee.email)
    ).scalars())


def credits_of_employer(employer: Funder) -> list[WelfareCredit]:
    """The employer's credits, newest first."""
    return list(db.session.execute(
        select(WelfareCredit).where(WelfareCredit.funder_id == employer.id)
        .order_by(WelfareCredit.created_at.desc(), WelfareCredit.id.desc())
    ).scalars())


def _entry_by_key(key: str) -> LedgerEntry | None:
    return db.session.execute(select(LedgerEntry).where(LedgerEntry.idempotency_key == key)).scalar_one_or_none()


def load_credit(employer: Funder, employee: Employee, amount_cents: int, expires_on: dt.date, note: str = "",
                loaded_by: User | None = None, key: str = "", day: dt.date | None = None) -> tuple[WelfareCredit, bool]:
    """Load ``amount_cents`` of credit for ``employee`` until ``expires_on`` (included): a new
    credit whose balance the ledger's CREDIT_LOAD entry brings in; the employee is e-mailed.

    ``key`` (at most 100 characters) makes it idempotent: loading again with a key already
    used returns (the first credit, False) and changes nothing. Raises DomainError (with the
    field) for an employee not of this employer or removed, a bad amount, note or date."""
    _check_employer(employer)
    if not key or len(key) > 100:
        raise ValueError("load_credit needs an idempotency key of at most 100 characters")
    lock_employer(employer.id)
    existing = _entry_by_key(key)
    if existing is not None:
        return db.session.get(WelfareCredit, existing.credit_id), False
    if employee is None or employee.funder_id != employer.id:
        raise DomainError(_l("Choose one of your employees."), field="employee_id")
    if employee.status == Employee.REMOVED:
        raise DomainError(_l("%(email)s has been removed: invite them again before loading credit.",
                             email=employee.email), field="employee_id")
    if not isinstance(amount_cents, int) or amount_cents <= 0:
        raise DomainError(_l("The amount must be more than zero."), field="amount")
    if amount_cents > MAX_LOAD_CENTS:
        raise DomainError(_l("Load at most %(max)s at a time.", max=MAX_LOAD_TEXT), field="amount")
    try:
        check_expiry(expires_on, day)
    except ValueError as exc:
        raise DomainError(exc.args[0], field="expires_on") from None
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise DomainError(_l("The note can be at most %(n)d characters long.", n=MAX_NOTE), field="note")
    credit = WelfareCredit(territory_id=employer.territory_id, funder_id=employer.id, employee_id=employee.id,
                           amount_cents=amount_cents, balance_cents=0, expires_on=expires_on, note=note,
                           loaded_by_id=loaded_by.id if loaded_by else None)
    db.session.add(credit)
    db.session.flush()
    ledger.record_credit(credit, LedgerEntry.CREDIT_LOAD, amount_cents, key)
    _mail_credit_loaded(employer, employee, credit)
    return credit, True


def _mail_credit_loaded(employer: Funder, employee: Employee, credit: WelfareCredit) -> None:
    from marketplace.services.mail import external_url, send_mail

    territory = _territory_of(employer)
    user = db.session.get(User, employee.user_id) if employee.user_id else None
    to = user.email if user is not None else employee.email
    link = (external_url("public_funding.wallet", territory=territory.slug) if user is not None else
            external_url("public_funding.join_employer", territory=territory.slug, invite_code=employee.invite_code))
    send_mail(to, "credit_loaded", locale=(user.locale if user is not None and user.locale else
                                           territory.default_language),
              territory=territory, employer=employer, employee=employee, credit=credit, joined=user is not None,
              link=link)


@dataclass
class CreditRow:
    line: int
    employee: Employee
    amount_cents: int
    expires_on: dt.date
    note: str = ""


def parse_credit_csv(employer: Funder, data: bytes, day: dt.date | None = None) -> list[CreditRow]:
    """Every row of a credits CSV (e-mail, amount in euros, expiry, optional note) checked
    against this employer's employees; raises CsvRejected listing every problem. Writes nothing."""
    _check_employer(employer)
    day = day or today()
    employees = {normalise_email(e.email): e for e in db.session.execute(
        select(Employee).where(Employee.funder_id == employer.id)).scalars()}
    values_by_line, errors = read_csv(data, ("email", "amount", "expiry", "note"), ("email", "amount", "expiry"))
    rows: list[CreditRow] = []
    for line, values in values_by_line:
        employee = None
        email = normalise_email(values["email"])
        if not email:
            errors.append(RowError(line, "email", _l("Enter the e-mail address.")))
        else:
            employee = employees.get(email)
            if employee is None:
                errors.append(RowError(line, "email", _l("No employee has this e-mail address: invite them first.")))
            elif employee.status == Employee.REMOVED:
                errors.append(RowError(line, "email", _l("This employee has been removed.")))
                employee = None
        amount = None
        try:
            amount = parse_amount(values["amount"])
        except ValueError as exc:
            errors.append(RowError(line, "amount", exc.args[0]))
        expires_on = None
        try:
            expires_on = check_expiry(parse_date(values["expiry"]), day)
        except ValueError as exc:
            errors.append(RowError(line, "expiry", exc.args[0]))
        note = values.get("note", "")
        if len(note) > MAX_NOTE:
            errors.append(RowError(line, "note", _l("The note can be at most %(n)d characters long.", n=MAX_NOTE)))
        if employee is not None and amount is not None and expires_on is not None:
            rows.append(CreditRow(line, employee, amount, expires_on, note))
    if errors:
        raise CsvRejected(sorted(errors, key=lambda e: e.row))
    return rows


def load_credit_rows(employer: Funder, rows: list[CreditRow], loaded_by: User | None, batch_key: str,
                     day: dt.date | None = None) -> int:
    """Load every checked row (each idempotent by ``batch_key`` and its line); returns how
    many were loaded now (0 when the same file was already loaded with this key)."""
    loaded = 0
    for row in rows:
        _, created = load_credit(employer, row.employee, row.amount_cents, row.expires_on, row.note, loaded_by,
                                 f"{batch_key}:{row.line}", day)
        loaded += created
    return loaded


def release_expired_credits(day: dt.date | None = None) -> int:
    """Give back to their employers the credits of this territory that expired before
    ``day`` (default today): each becomes RELEASED and what was left goes back with a
    CREDIT_RELEASE ledger entry (key ``credit-release:<id>``). Returns how many were
    released; running it again releases nothing more. The caller commits."""
    day = day or today()
    ids = db.session.execute(
        select(WelfareCredit.id).where(WelfareCredit.status == WelfareCredit.ACTIVE, WelfareCredit.expires_on < day)
        .order_by(WelfareCredit.id)
    ).scalars().all()
    released = 0
    for credit_id in ids:
        credit = ledger.lock_credit(credit_id)
        if credit is None or credit.status != WelfareCredit.ACTIVE or credit.expires_on >= day:
            continue  # released meanwhile by another run
        if credit.balance_cents > 0:
            ledger.record_credit(credit, LedgerEntry.CREDIT_RELEASE, credit.balance_cents,
                                 f"credit-release:{credit.id}")
        credit.status = WelfareCredit.RELEASED
        credit.released_at = utcnow()
        released += 1
    db.session.flush()
    return released


# ----------------------------------------------------------------------------- reporting


@dataclass
class SpendRow:
    vertical: str
    label: object
    cents: int
    people: int

    @property
    def people_shown(self) -> str:
        return "<%d" % SMALL_CELL if 0 < self.people < SMALL_CELL else str(self.people)


def _order_verticals(order_ids) -> dict[int, str]:
    """The vertical of each order's service (an order's tickets are all of one slot)."""
    from marketplace.models import Service, Slot, Ticket

    if not order_ids:
        return {}
    rows = db.session.execute(
        select(Ticket.order_id, Service.vertical).join(Slot, Slot.id == Ticket.slot_id)
        .join(Service, Service.id == Slot.service_id).where(Ticket.order_id.in_(sorted(order_ids)))
        .order_by(Ticket.order_id, Ticket.id)
    ).all()
    verticals: dict[int, str] = {}
    for order_id, vertical in rows:
        verticals.setdefault(order_id, vertical)
    return verticals


def spend_by_vertical(employer: Funder) -> list[SpendRow]:
    """What the employer's credits paid, net of refunds, per vertical of the booked
    services (in the platform's order of verticals), with how many people spent there."""
    entries = db.session.execute(
        select(LedgerEntry.order_id, WelfareCredit.employee_id, func.sum(LedgerEntry.amount_cents))
        .join(WelfareCredit, WelfareCredit.id == LedgerEntry.credit_id)
        .where(LedgerEntry.funder_id == employer.id, LedgerEntry.credit_id.is_not(None),
               LedgerEntry.kind.in_((LedgerEntry.CHARGE, LedgerEntry.REFUND)), LedgerEntry.order_id.is_not(None))
        .group_by(LedgerEntry.order_id, WelfareCredit.employee_id)
    ).all()
    verticals = _order_verticals({order_id for order_id, _, _ in entries})
    cents: dict[str, int] = {}
    people: dict[str, set[int]] = {}
    for order_id, employee_id, amount in entries:
        vertical = verticals.get(order_id, "other")
        if vertical not in VERTICALS:
            vertical = "other"
        cents[vertical] = cents.get(vertical, 0) + int(amount or 0)
        if amount and amount > 0:
            people.setdefault(vertical, set()).add(employee_id)
    return [SpendRow(v, label, cents[v], len(people.get(v, ()))) for v, label in VERTICALS.items() if v in cents]


@dataclass
class Totals:
    loaded: int = 0
    spent: int = 0
    released: int = 0
    outstanding: int = 0


def totals(employer: Funder) -> Totals:
    """From the ledger: loaded (credit loads), spent (charges net of refunds), released
    (given back on expiry) and outstanding (loaded - spent - released, still on the credits)."""
    sums = dict(db.session.execute(
        select(LedgerEntry.kind, func.coalesce(func.sum(LedgerEntry.amount_cents), 0))
        .where(LedgerEntry.funder_id == employer.id, LedgerEntry.credit_id.is_not(None))
        .group_by(LedgerEntry.kind)
    ).all())
    loaded = int(sums.get(LedgerEntry.CREDIT_LOAD, 0))
    spent = int(sums.get(LedgerEntry.CHARGE, 0)) + int(sums.get(LedgerEntry.REFUND, 0))
    released = -int(sums.get(LedgerEntry.CREDIT_RELEASE, 0))
    return Totals(loaded=loaded, spent=spent, released=released, outstanding=loaded - spent - released)


# ----------------------------------------------------------------------------- the wallet


@dataclass
class Movement:
    when: dt.datetime
    kind: str
    what: str
    amount_cents: int   # as the holder sees it: + money in, - money out


def movements(voucher_ids, credit_ids) -> dict[tuple[str, int], list[Movement]]:
    """The ledger entries of these vouchers and credits, oldest first, keyed by
    ("voucher", id) or ("credit", id), described for their holder."""
    from flask_babel import gettext as _

    from marketplace.models import Service, Slot, Ticket

    voucher_ids, credit_ids = sorted(set(voucher_ids)), sorted(set(credit_ids))
    result: dict[tuple[str, int], list[Movement]] = {}
    conditions = []
    if voucher_ids:
        conditions.append(LedgerEntry.voucher_id.in_(voucher_ids))
    if credit_ids:
        conditions.append(LedgerEntry.credit_id.in_(credit_ids))
    if not conditions:
        return result
    entries = db.session.execute(
        select(LedgerEntry).where(or_(*conditions)).order_by(LedgerEntry.created_at, LedgerEntry.id)
    ).scalars().all()
    order_ids = {e.order_id for e in entries if e.order_id is not None}
    titles: dict[int, str] = {}
    if order_ids:
        for order_id, title in db.session.execute(
                select(Ticket.order_id, Service.title).join(Slot, Slot.id == Ticket.slot_id)
                .join(Service, Service.id == Slot.service_id).where(Ticket.order_id.in_(sorted(order_ids)))
                .order_by(Ticket.order_id, Ticket.id)).all():
            titles.setdefault(order_id, title)
    for entry in entries:
        title = titles.get(entry.order_id, "") if entry.order_id else ""
        if entry.kind == LedgerEntry.CHARGE:
            what = _("Paid: %(title)s", title=title) if title else _("Payment of a booking")
            amount = -entry.amount_cents
        elif entry.kind == LedgerEntry.REFUND:
            what = _("Refund: %(title)s", title=title) if title else _("Refund of a booking")
            amount = -entry.amount_cents
        elif entry.kind == LedgerEntry.CREDIT_LOAD:
            what, amount = _("Credit loaded"), entry.amount_cents
        else:
            what, amount = _("Returned to the employer on expiry"), entry.amount_cents
        key = ("voucher", entry.voucher_id) if entry.voucher_id is not None else ("credit", entry.credit_id)
        result.setdefault(key, []).append(Movement(entry.created_at, entry.kind, what, amount))
    return result
