"""Citizens apply to funding programmes: find open programmes, keep one open application per
programme, fill it in from the programme's criteria, upload the documents it asks for,
submit, follow its status, withdraw.

All functions run inside a territory scope and the caller's transaction; the caller
commits. Every change to an application first locks its row and re-reads it
(:func:`lock`), so a citizen's submit racing an officer's decision cannot undo it; status
moves only through :func:`transition`, checked against ``Application.TRANSITIONS``.
E-mails are queued with ``send_mail`` inside the transaction (sent after commit). Files
are written to the private store before the row that names them is committed; a removed
document's file is deleted by the caller *after* the commit (:func:`remove_document`
returns its key).
"""
from __future__ import annotations

import dataclasses
import datetime as dt

from flask import current_app
from flask_babel import format_date, lazy_gettext as _l, ngettext
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from marketplace import storage
from marketplace.extensions import db
from marketplace.formatting import money
from marketplace.models import (
    Application, ApplicationDocument, Cooperative, Municipality, Programme, Service, User, Voucher,
)
from marketplace.models.base import utcnow
from marketplace.models.catalogue import VERTICALS
from marketplace.services import DomainError
from marketplace.validation import parse_id, parse_int

MAX_NAME = 120
MAX_NOTE = 2000
MAX_AGE = 130
MAX_ISEE_CENTS = 100_000_000          # 1,000,000 euros: more is a typing mistake
MAX_DOCUMENTS = 20                    # files on one application, all labels together
MAX_FILENAME = 200

OPEN_STATUSES = (Application.DRAFT, Application.SUBMITTED, Application.NEEDS_INFO)
EDITABLE_STATUSES = (Application.DRAFT, Application.NEEDS_INFO)
WITHDRAWABLE_STATUSES = (Application.DRAFT, Application.SUBMITTED, Application.NEEDS_INFO)

STATUS_LABELS = {
    Application.DRAFT: _l("Draft: not sent yet"),
    Application.SUBMITTED: _l("Sent: being reviewed"),
    Application.NEEDS_INFO: _l("More information needed"),
    Application.APPROVED: _l("Approved"),
    Application.REJECTED: _l("Not approved"),
    Application.WITHDRAWN: _l("Withdrawn"),
}

# What a document really is, told by its first bytes (never by its name or the browser).
DOCUMENT_TYPES = storage.DOCUMENT_TYPES


class AlreadyDecided(DomainError):
    """The application moved on (an officer decided, or an earlier click) and cannot be
    changed this way now."""


class NotEligible(DomainError):
    """Submitting was refused: ``reasons`` lists every problem as (field or None, message)."""

    def __init__(self, reasons: list[tuple[str | None, object]]):
        super().__init__(reasons[0][1], field=reasons[0][0])
        self.reasons = reasons


def today() -> dt.date:
    from marketplace.services import funding

    return funding.today()


# ---------------------------------------------------------------------------- programmes

def open_programmes(day: dt.date | None = None) -> list[Programme]:
    """The territory's OPEN programmes whose application window includes ``day`` (today),
    closing soonest first."""
    day = day or today()
    return list(db.session.execute(
        select(Programme).where(Programme.status == Programme.OPEN,
                                Programme.applications_open_on <= day,
                                Programme.applications_close_on >= day)
        .order_by(Programme.applications_close_on, Programme.title, Programme.id)
    ).scalars())


def value_in_words(programme: Programme) -> str:
    """What one voucher is worth, as a citizen reads it."""
    if programme.value_kind == Programme.PERCENT:
        return str(_l("pays %(percent)d%% of the price, up to %(cap)s",
                      percent=int(programme.percent or 0), cap=money(programme.cap_cents or 0)))
    if programme.value_kind == Programme.HOURS:
        return ngettext("%(num)d hour of service, worth %(amount)s", "%(num)d hours of service, worth %(amount)s",
                        int(programme.hours or 0), amount=money(programme.voucher_value_cents))
    return str(_l("a voucher of %(amount)s", amount=money(programme.value_cents or 0)))


def age_rule_in_words(programme: Programme) -> str | None:
    low, high = programme.min_age, programme.max_age
    if low is not None and high is not None:
        return str(_l("The beneficiary must be aged %(min)d to %(max)d years.", min=low, max=high))
    if low is not None:
        return str(_l("The beneficiary must be aged %(min)d years or more.", min=low))
    if high is not None:
        return str(_l("The beneficiary must be aged up to %(max)d years.", max=high))
    return None


def municipalities_of(programme: Programme) -> list[Municipality]:
    """The municipalities of residence the programme lists (those of this territory)."""
    ids = _int_ids(programme.municipality_ids)
    if not ids:
        return []
    return list(db.session.execute(
        select(Municipality).where(Municipality.id.in_(ids)).order_by(Municipality.name)).scalars())


def all_municipalities() -> list[Municipality]:
    return list(db.session.execute(select(Municipality).order_by(Municipality.name)).scalars())


@dataclasses.dataclass
class PaysFor:
    verticals: list[str]
    cooperatives: list[str]
    services: list[str]

    @property
    def anything(self) -> bool:
        return not (self.verticals or self.cooperatives or self.services)


def pays_for(programme: Programme) -> PaysFor:
    """What the programme's vouchers may pay for, by name (empty lists: any service that
    accepts vouchers)."""
    verticals = [str(VERTICALS[v]) for v in programme.eligible_verticals or [] if v in VERTICALS]
    coop_ids, service_ids = _int_ids(programme.eligible_cooperative_ids), _int_ids(programme.eligible_service_ids)
    cooperatives = list(db.session.execute(
        select(Cooperative.name).where(Cooperative.id.in_(coop_ids)).order_by(Cooperative.name)).scalars()) \
        if coop_ids else []
    services = list(db.session.execute(
        select(Service.title).where(Service.id.in_(service_ids)).order_by(Service.title)).scalars()) \
        if service_ids else []
    return PaysFor(verticals, cooperatives, services)


def closed_reason(programme: Programme, day: dt.date | None = None) -> str | None:
    """Why citizens cannot apply now (None: they can)."""
    day = day or today()
    if programme.accepting_applications(day):
        return None
    if programme.status == Programme.OPEN and day < programme.applications_open_on:
        return str(_l("Applications open on %(date)s.", date=format_date(programme.applications_open_on, "long")))
    if programme.status == Programme.OPEN or programme.applications_close_on < day:
        return str(_l("Applications to this programme closed on %(date)s.",
                      date=format_date(programme.applications_close_on, "long")))
    return str(_l("This programme is not accepting applications."))


def _int_ids(values) -> list[int]:
    return [n for n in (parse_id(value) for value in values or []) if n is not None]


# ---------------------------------------------------------------------------- applications

def of_user(user: User) -> list[Application]:
    """The user's applications in this territory, last changed first."""
    return list(db.session.execute(
        select(Application).where(Application.user_id == user.id)
        .order_by(Application.updated_at.desc(), Application.id.desc())).scalars())


def latest_of(programme: Programme, user: User) -> Application | None:
    """The user's most recent application to ``programme`` (any status)."""
    return db.session.execute(
        select(Application).where(Application.programme_id == programme.id, Application.user_id == user.id)
        .order_by(Application.id.desc()).limit(1)).scalar_one_or_none()


def voucher_of(application: Application) -> Voucher | None:
    """The voucher an approved application was given."""
    return db.session.execute(
        select(Voucher).where(Voucher.application_id == application.id)).scalar_one_or_none()


def lock(application_id: int) -> Application | None:
    """The application, re-read under a row lock (``SELECT ... FOR UPDATE``) so a
    concurrent decision is seen. Raises DomainError("try again") if the lock cannot be
    had quickly."""
    bind = db.session.get_bind()
    if bind.dialect.name == "postgresql":
        timeout = int(current_app.config.get("BOOKING_LOCK_TIMEOUT_MS", 3000))
        db.session.execute(text(f"SET LOCAL lock_timeout = '{timeout}ms'"))
    query = (select(Application).where(Application.id == application_id).with_for_update()
             .execution_options(populate_existing=True))
    try:
        return db.session.execute(query).scalar_one_or_none()
    except OperationalError as exc:
        db.session.rollback()
        raise DomainError(_l("Someone else is working on this application. Please try again.")) from exc


def lock_applicant(user_id: int) -> None:
    """Row-lock the applicant (``SELECT ... FOR UPDATE`` on their account) so two clicks on
    "Apply" at once cannot open two drafts: the second waits, then finds the first."""
    bind = db.session.get_bind()
    if bind.dialect.name == "postgresql":
        timeout = int(current_app.config.get("BOOKING_LOCK_TIMEOUT_MS", 3000))
        db.session.execute(text(f"SET LOCAL lock_timeout = '{timeout}ms'"))
    try:
        db.session.execute(select(User.id).where(User.id == user_id).with_for_update())
    except OperationalError as exc:
        db.session.rollback()
        raise DomainError(_l("Someone else is working on this application. Please try again.")) from exc


def transition(application: Application, status: str) -> None:
    """The one place an application changes status; raises AlreadyDecided for a move its
    life cycle does not allow (e.g. submitting an approved application)."""
    if status not in Application.TRANSITIONS[application.status]:
        raise AlreadyDecided(_l("This application is now “%(status)s”: it cannot be changed this way.",
                                status=STATUS_LABELS.get(application.status, application.status)))
    application.status = status


def _locked_own(application: Application, user: User, statuses=EDITABLE_STATUSES) -> Application:
    if application.user_id is None or application.user_id != user.id:
        raise DomainError(_l("This application is not yours."))
    locked = lock(application.id)
    if locked is None:
        raise DomainError(_l("This application no longer exists."))
    db.session.expire(locked, ["documents"])  # seen as committed by others, not as cached
    if locked.status not in statuses:
        raise AlreadyDecided(_l("This application is now “%(status)s”: it cannot be changed this way.",
                                status=STATUS_LABELS.get(locked.status, locked.status)))
    return locked


def apply(programme: Programme, user: User) -> tuple[Application, bool]:
    """(application, created): the user's open application to ``programme`` (their draft,
    submitted or needs-info one) if there is one, else a new DRAFT (the beneficiary's name
    starts as the user's) with ``created`` True.

    Raises DomainError when the programme is not accepting applications or the user
    already has a voucher from it (an approved application). The caller commits."""
    lock_applicant(user.id)
    mine = list(db.session.execute(
        select(Application).where(Application.programme_id == programme.id, Application.user_id == user.id)
        .order_by(Application.id.desc())).scalars())
    if any(a.status == Application.APPROVED for a in mine):
        raise DomainError(_l("You already have a voucher from this programme."))
    current = next((a for a in mine if a.status in OPEN_STATUSES), None)
    if current is not None:
        return current, False
    reason = closed_reason(programme)
    if reason:
        raise DomainError(reason)
    application = Application(territory_id=programme.territory_id, programme_id=programme.id, user_id=user.id,
                              beneficiary_name=(user.full_name or "")[:MAX_NAME], status=Application.DRAFT,
                              declarations_accepted=[])
    application.programme = programme
    db.session.add(application)
    db.session.flush()
    return application, True


def _clean_values(programme: Programme, *, beneficiary_name, beneficiary_birth_date, municipality_id, isee_cents,
                  declarations_accepted, note) -> dict:
    """Well-formed values (not yet complete or eligible); DomainError with the field for a
    malformed one."""
    name = (beneficiary_name or "").strip()
    if len(name) > MAX_NAME:
        raise DomainError(_l("The name can be at most %(n)d characters long.", n=MAX_NAME), field="beneficiary_name")
    birth = beneficiary_birth_date
    if birth is not None:
        if not isinstance(birth, dt.date) or isinstance(birth, dt.datetime):
            raise DomainError(_l("Enter the birth date, like 25/12/2015."), field="beneficiary_birth_date")
        if birth > today():
            raise DomainError(_l("The birth date cannot be in the future."), field="beneficiary_birth_date")
        if birth.year < today().year - MAX_AGE:
            raise DomainError(_l("Enter the birth date, like 25/12/2015."), field="beneficiary_birth_date")
    municipality = None
    if municipality_id not in (None, ""):
        try:
            municipality_id = int(municipality_id)
        except (TypeError, ValueError):
            municipality_id = 0
        if 0 < municipality_id < 2**31:
            # Scoped: another territory's municipality is not found.
            municipality = db.session.execute(
                select(Municipality).where(Municipality.id == municipality_id)).scalar_one_or_none()
        if municipality is None:
            raise DomainError(_l("Choose a municipality from the list."), field="municipality_id")
    if isee_cents is not None and (not isinstance(isee_cents, int) or not 0 <= isee_cents <= MAX_ISEE_CENTS):
        raise DomainError(_l("Enter the ISEE in euros, like 12.500,00."), field="isee")
    accepted = set()
    for value in declarations_accepted or []:
        index = parse_int(value, 0, len(programme.declarations or []) - 1, default=-1)
        if not 0 <= index < len(programme.declarations or []):
            raise DomainError(_l("Tick only the declarations listed."), field="declarations")
        accepted.add(index)
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise DomainError(_l("The note can be at most %(n)d characters long.", n=MAX_NOTE), field="note")
    return dict(beneficiary_name=name, beneficiary_birth_date=birth, municipality=municipality,
                isee_cents=isee_cents, declarations_accepted=sorted(accepted), note=note)


def _store(application: Application, values: dict) -> None:
    programme = application.programme
    application.beneficiary_name = values["beneficiary_name"]
    # Only what the programme asks for is kept (personal data minimised).
    asks_age = programme.min_age is not None or programme.max_age is not None
    application.beneficiary_birth_date = values["beneficiary_birth_date"] if asks_age else None
    municipality = values["municipality"]
    application.municipality_id = municipality.id if municipality is not None else None
    application.isee_cents = values["isee_cents"] if programme.max_isee_cents is not None else None
    application.declarations_accepted = values["declarations_accepted"]
    application.note = values["note"]
    application.updated_at = utcnow()


def save(application: Application, user: User, **values) -> Application:
    """Save the applicant's answers on a DRAFT or NEEDS_INFO application without requiring
    completeness. ``values``: beneficiary_name, beneficiary_birth_date (date or None),
    municipality_id, isee_cents (int or None), declarations_accepted (indexes), note.
    Raises DomainError (with the field) for a malformed value, AlreadyDecided if the
    application is no longer editable. The caller commits."""
    locked = _locked_own(application, user)
    _store(locked, _clean_values(locked.programme, **values))
    db.session.flush()
    return locked


def age_on(birth: dt.date, day: dt.date) -> int:
    """Completed years of someone born on ``birth``, on ``day``."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def eligibility_problems(application: Application, day: dt.date | None = None) -> list[tuple[str | None, object]]:
    """Everything that keeps ``application`` from being submitted: missing answers, criteria
    of the programme it does not meet, requested documents not uploaded. Empty: it may go."""
    day = day or today()
    programme = application.programme
    problems: list[tuple[str | None, object]] = []
    if not (application.beneficiary_name or "").strip():
        problems.append(("beneficiary_name", _l("Enter the name of the person the voucher is for.")))
    if programme.min_age is not None or programme.max_age is not None:
        birth = application.beneficiary_birth_date
        if birth is None:
            problems.append(("beneficiary_birth_date", _l("Enter the beneficiary's birth date.")))
        else:
            age = age_on(birth, day)
            if (programme.min_age is not None and age < programme.min_age) or (
                    programme.max_age is not None and age > programme.max_age):
                problems.append(("beneficiary_birth_date", _l(
                    "%(rule)s Today the beneficiary is %(age)d.", rule=age_rule_in_words(programme), age=age)))
    places = municipalities_of(programme)
    if programme.municipality_ids:
        if application.municipality_id is None:
            problems.append(("municipality_id", _l("Choose the municipality where the beneficiary lives.")))
        elif application.municipality_id not in {m.id for m in places}:
            chosen = db.session.get(Municipality, application.municipality_id)
            problems.append(("municipality_id", _l(
                "This programme is for residents of %(places)s; %(place)s is not one of them.",
                places=", ".join(m.name for m in places), place=chosen.name if chosen else "?")))
    if programme.max_isee_cents is not None:
        if application.isee_cents is None:
            problems.append(("isee", _l("Enter the ISEE in euros.")))
        elif application.isee_cents > programme.max_isee_cents:
            problems.append(("isee", _l("The ISEE must be at most %(max)s to apply; the one entered is %(isee)s.",
                                        max=money(programme.max_isee_cents), isee=money(application.isee_cents))))
    accepted = set(application.declarations_accepted or [])
    for index, declaration in enumerate(programme.declarations or []):
        if index not in accepted:
            problems.append(("declarations", _l("Tick the declaration “%(text)s”.", text=declaration)))
    uploaded = {d.label for d in application.documents}
    for label in programme.documents or []:
        if label not in uploaded:
            problems.append((None, _l("Upload the document “%(label)s”.", label=label)))
    return problems


def submit(application: Application, user: User, **values) -> Application:
    """Save the answers, then check completeness and eligibility on today's date and move
    the application to SUBMITTED (from DRAFT or NEEDS_INFO); the applicant is e-mailed.

    A draft may be submitted only while the programme accepts applications; an answer to a
    request for more information may come later. Raises NotEligible with every reason,
    DomainError for malformed values or a closed programme, AlreadyDecided if the
    application moved on. The caller commits (or rolls back: nothing is kept on error)."""
    locked = _locked_own(application, user)
    _store(locked, _clean_values(locked.programme, **values))
    if locked.status == Application.DRAFT:
        reason = closed_reason(locked.programme)
        if reason:
            raise DomainError(reason)
    db.session.flush()
    problems = eligibility_problems(locked)
    if problems:
        raise NotEligible(problems)
    transition(locked, Application.SUBMITTED)
    locked.submitted_at = utcnow()
    locked.updated_at = locked.submitted_at
    db.session.flush()
    _mail_applicant(locked, user, "application_received")
    return locked


def withdraw(application: Application, user: User) -> Application:
    """The applicant takes the application back while it is a draft, sent, or waiting for
    more information. The caller commits."""
    locked = _locked_own(application, user, WITHDRAWABLE_STATUSES)
    transition(locked, Application.WITHDRAWN)
    locked.updated_at = utcnow()
    db.session.flush()
    return locked


# ---------------------------------------------------------------------------- documents

def check_document(data: bytes) -> tuple[str, str]:
    """(content type, file suffix) of an upload that really is a PDF, PNG or JPEG within
    ``UPLOAD_MAX_BYTES``; DomainError otherwise. Judged by the bytes, never the name."""
    limit = int(current_app.config["UPLOAD_MAX_BYTES"])
    if not data:
        raise DomainError(_l("The file is empty. Choose the file again."), field="file")
    if len(data) > limit:
        raise DomainError(_l("The file is larger than %(size)s MB. Upload a smaller file (scan at a lower "
                             "resolution, or save as PDF).", size=megabytes(limit)), field="file")
    detected = storage.detect_type(data)
    if detected is not None:
        return detected
    raise DomainError(_l("This file is not a PDF, PNG or JPEG document. Upload a PDF or a photo of the document."),
                      field="file")


def megabytes(limit: int) -> str:
    """A byte limit as the megabytes told to people: 2097152 -> "2"."""
    size = limit / (1024 * 1024)
    return str(int(size)) if size == int(size) else f"{size:.1f}"


def display_filename(filename: str | None, suffix: str) -> str:
    """The citizen's file name made safe for display and downloads, with the extension of
    the detected type ``suffix`` (``storage.display_name``), never used as a path."""
    return storage.display_name(filename, suffix)


def add_document(application: Application, user: User, label: str, filename: str | None,
                 data: bytes) -> ApplicationDocument:
    """Store an upload for the requested document ``label`` of an editable application.
    Raises DomainError for a label the programme does not ask for, a file that is empty,
    too large or not a PDF/PNG/JPEG, too many files. The file is written to the private
    store before the row is flushed; the caller commits."""
    locked = _locked_own(application, user)
    if label not in (locked.programme.documents or []):
        raise DomainError(_l("Choose one of the documents the programme asks for."), field="file")
    content_type, suffix = check_document(data)
    count = len(locked.documents)
    if count >= MAX_DOCUMENTS:
        raise DomainError(_l("An application can have at most %(n)d files. Remove one first.", n=MAX_DOCUMENTS),
                          field="file")
    stored = storage.save(locked.territory_id, data, suffix)
    document = ApplicationDocument(territory_id=locked.territory_id, application_id=locked.id, label=label,
                                   filename=display_filename(filename, suffix), content_type=content_type,
                                   size_bytes=stored.size, storage_key=stored.key, sha256=stored.sha256)
    db.session.add(document)
    locked.updated_at = utcnow()
    try:
        db.session.flush()
    except Exception:
        storage.delete(stored.key)
        raise
    return document


def remove_document(application: Application, user: User, document: ApplicationDocument) -> str:
    """Delete an uploaded document's row while the application is editable; returns its
    storage key, for the caller to delete the file *after* committing."""
    locked = _locked_own(application, user)
    if document.application_id != locked.id:
        raise DomainError(_l("This document is not part of this application."))
    key = document.storage_key
    db.session.delete(document)
    locked.updated_at = utcnow()
    db.session.flush()
    return key


# ---------------------------------------------------------------------------- e-mail

def _mail_applicant(application: Application, user: User | None, template: str) -> None:
    from marketplace.models import Territory
    from marketplace.services.mail import external_url, send_mail

    if user is None and application.user_id:
        user = db.session.get(User, application.user_id)
    if user is None or not user.email or user.deleted_at is not None:
        return
    territory = db.session.get(Territory, application.territory_id)
    link = external_url("public_funding.application", territory=territory.slug, code=application.code)
    send_mail(user.email, template, locale=user.locale, territory=territory, application=application,
              programme=application.programme, link=link)
