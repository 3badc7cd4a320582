"""Services that are requested rather than booked (e.g. home care): the citizen asks,
staff accept with a date or decline with a reason, the citizen may withdraw.

All functions run inside a territory scope and the caller's transaction; the caller
commits. E-mails are queued with ``send_mail`` in that transaction (sent after commit).
A request moves only through :func:`transition`, checked against
``ServiceRequest.TRANSITIONS``; ``decide`` and ``withdraw`` lock the row first so two
people acting at once cannot both win.
"""
from __future__ import annotations

import datetime as dt

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from marketplace.extensions import db
from marketplace.models import Membership, Municipality, Service, ServiceRequest, User
from marketplace.models.base import utcnow
from marketplace.services import DomainError

MAX_NAME = 120
MAX_PHONE = 30
MAX_PREFERRED_TIMES = 500
MAX_MESSAGE = 2000
MAX_STAFF_TEXT = 2000
MAX_AGE = 120
# How far ahead staff may give a date: a typo in the year is caught.
MAX_DAYS_AHEAD = 366


class AlreadyDecided(DomainError):
    """Someone else (or an earlier click) already moved the request."""


def requestable(service: Service | None) -> bool:
    """Citizens can ask for this service now: published, accredited cooperative, request mode."""
    return (service is not None and service.is_published and service.cooperative.is_accredited
            and service.booking_mode == "request")


def _clean(value, limit: int, field: str, message) -> str:
    value = (value or "").strip()
    if len(value) > limit:
        raise DomainError(message, field=field)
    return value


def create(service: Service, user: User, *, beneficiary_name: str = "", beneficiary_age=None,
           municipality_id=None, phone: str = "", preferred_times: str = "", message: str = "",
           consent: bool = False, email: str = "", channel: str = "online",
           booked_by: User | None = None) -> ServiceRequest:
    """A new REQUESTED request of ``user`` for ``service``; the citizen and the cooperative
    are e-mailed. Raises DomainError (with the field) for bad input. The caller commits."""
    if not requestable(service):
        raise DomainError(_l("This service cannot be requested online."))
    name = _clean(beneficiary_name, MAX_NAME, "beneficiary_name",
                  _l("The name can be at most %(n)d characters long.", n=MAX_NAME))
    if not name:
        raise DomainError(_l("Enter the name of the person who needs the service."), field="beneficiary_name")
    age = None
    if beneficiary_age not in (None, ""):
        try:
            age = int(beneficiary_age)
        except (TypeError, ValueError):
            raise DomainError(_l("Enter the age in years, between 0 and %(max)d.", max=MAX_AGE),
                              field="beneficiary_age") from None
        if not 0 <= age <= MAX_AGE:
            raise DomainError(_l("Enter the age in years, between 0 and %(max)d.", max=MAX_AGE),
                              field="beneficiary_age")
    municipality = None
    try:
        municipality_id = int(municipality_id) if municipality_id not in (None, "") else None
    except (TypeError, ValueError):
        municipality_id = None
    if municipality_id is not None and 0 < municipality_id < 2**31:
        # Scoped query: another territory's municipality is not found.
        municipality = db.session.execute(
            select(Municipality).where(Municipality.id == municipality_id)).scalar_one_or_none()
    if municipality is None:
        raise DomainError(_l("Choose the municipality where the service is needed."), field="municipality_id")
    areas = {a.municipality_id for a in service.areas}
    if areas and municipality.id not in areas:
        raise DomainError(_l("Sorry, this service does not reach %(place)s. It is given in: %(places)s.",
                             place=municipality.name,
                             places=", ".join(m.name for m in service.municipalities)),
                          field="municipality_id")
    phone = _clean(phone, MAX_PHONE, "phone", _l("The phone number can be at most %(n)d characters long.",
                                                 n=MAX_PHONE))
    preferred = _clean(preferred_times, MAX_PREFERRED_TIMES, "preferred_times",
                       _l("Write at most %(n)d characters about the days and times.", n=MAX_PREFERRED_TIMES))
    message = _clean(message, MAX_MESSAGE, "message",
                     _l("The message can be at most %(n)d characters long.", n=MAX_MESSAGE))
    if not consent:
        raise DomainError(_l("To send the request, agree to share these details with the cooperative."),
                          field="consent")
    now = utcnow()
    item = ServiceRequest(
        territory_id=service.territory_id, service_id=service.id, user_id=user.id if user else None,
        email=(email or (user.email if user else "")).strip().lower(), phone=phone,
        beneficiary_name=name, beneficiary_age=age, municipality_id=municipality.id,
        preferred_times=preferred, message=message, status=ServiceRequest.REQUESTED,
        channel=channel, booked_by_id=booked_by.id if booked_by else None, consent_at=now,
    )
    item.service = service
    item.municipality = municipality
    db.session.add(item)
    db.session.flush()
    _mail_citizen(item, user, "service_request_received")
    for address in cooperative_addresses(service):
        _send(address, "service_request_new", None, item)
    return item


def cooperative_addresses(service: Service) -> list[str]:
    """Who hears of a new request: the service's contact e-mail, else the cooperative's staff."""
    if service.contact_email:
        return [service.contact_email]
    emails = db.session.execute(
        select(User.email).join(Membership, Membership.user_id == User.id)
        .where(Membership.cooperative_id == service.cooperative_id, Membership.role == Membership.STAFF,
               User.deleted_at.is_(None))
        .order_by(User.email)
    ).scalars().all()
    return sorted(set(emails)) or ([service.cooperative.email] if service.cooperative.email else [])


def lock(request_id: int) -> ServiceRequest | None:
    """The request, re-read under a row lock (``SELECT ... FOR UPDATE``) so a concurrent
    decision is seen. Raises DomainError("try again") if the lock cannot be had quickly."""
    bind = db.session.get_bind()
    if bind.dialect.name == "postgresql":
        timeout = int(current_app.config.get("BOOKING_LOCK_TIMEOUT_MS", 3000))
        db.session.execute(text(f"SET LOCAL lock_timeout = '{timeout}ms'"))
    query = (select(ServiceRequest).where(ServiceRequest.id == request_id).with_for_update()
             .execution_options(populate_existing=True))
    try:
        return db.session.execute(query).scalar_one_or_none()
    except OperationalError as exc:
        db.session.rollback()
        raise DomainError(_l("Someone else is working on this request. Please try again.")) from exc


STATUS_LABELS = {
    ServiceRequest.REQUESTED: _l("Requested"),
    ServiceRequest.ACCEPTED: _l("Accepted"),
    ServiceRequest.DECLINED: _l("Declined"),
    ServiceRequest.WITHDRAWN: _l("Withdrawn"),
}


def transition(item: ServiceRequest, status: str) -> None:
    """The one place a request changes status; raises AlreadyDecided for a move its life
    cycle does not allow (e.g. accepting a declined request)."""
    if status not in ServiceRequest.TRANSITIONS[item.status]:
        raise AlreadyDecided(_l("This request is already %(status)s: it cannot be changed now.",
                                status=str(STATUS_LABELS.get(item.status, item.status)).lower()))
    item.status = status


def decide(item: ServiceRequest, staff_user: User, accept: bool, starts_at: dt.datetime | None = None,
           staff_message: str = "", reason: str = "") -> ServiceRequest:
    """Accept with a future date (aware datetime; stored in UTC) or decline with a reason.
    The row is locked first: of two staff deciding at once, the second gets AlreadyDecided.
    The citizen is e-mailed. The caller commits."""
    staff_message = _clean(staff_message, MAX_STAFF_TEXT, "message",
                           _l("The message can be at most %(n)d characters long.", n=MAX_STAFF_TEXT))
    reason = _clean(reason, MAX_STAFF_TEXT, "reason",
                    _l("The reason can be at most %(n)d characters long.", n=MAX_STAFF_TEXT))
    if accept:
        if starts_at is None:
            raise DomainError(_l("Enter the date and time of the first visit."), field="date")
        if starts_at.tzinfo is None:
            raise ValueError("starts_at must be timezone-aware")
        now = utcnow()
        if starts_at <= now:
            raise DomainError(_l("The date must be in the future."), field="date")
        if starts_at > now + dt.timedelta(days=MAX_DAYS_AHEAD):
            raise DomainError(_l("The date must be within a year from today."), field="date")
    elif not reason:
        raise DomainError(_l("Explain to the citizen why the request is declined."), field="reason")
    locked = lock(item.id)
    if locked is None:
        raise DomainError(_l("This request no longer exists."))
    transition(locked, ServiceRequest.ACCEPTED if accept else ServiceRequest.DECLINED)
    locked.decided_by_id = staff_user.id
    locked.decided_at = utcnow()
    if accept:
        locked.starts_at = starts_at.astimezone(dt.timezone.utc)
        locked.staff_message = staff_message
    else:
        locked.decline_reason = reason
    db.session.flush()
    _mail_citizen(locked, None, "service_request_accepted" if accept else "service_request_declined")
    return locked


def withdraw(item: ServiceRequest, user: User) -> ServiceRequest:
    """The citizen takes the request back (before or after acceptance). Raises DomainError
    if it is not theirs or is already closed. The caller commits."""
    if item.user_id is None or item.user_id != user.id:
        raise DomainError(_l("This request is not yours."))
    locked = lock(item.id)
    if locked is None:
        raise DomainError(_l("This request no longer exists."))
    transition(locked, ServiceRequest.WITHDRAWN)
    locked.decided_at = locked.decided_at or utcnow()
    db.session.flush()
    return locked


def of_user(user_id: int) -> list[ServiceRequest]:
    """A citizen's requests in this territory, newest first."""
    return list(db.session.execute(
        select(ServiceRequest).where(ServiceRequest.user_id == user_id)
        .order_by(ServiceRequest.created_at.desc(), ServiceRequest.id.desc())
    ).scalars())


def of_cooperative(cooperative_id: int, status: str | None = None) -> list[ServiceRequest]:
    """Requests for the cooperative's services; new ones first, then newest first."""
    query = (select(ServiceRequest).join(Service, Service.id == ServiceRequest.service_id)
             .where(Service.cooperative_id == cooperative_id))
    if status:
        query = query.where(ServiceRequest.status == status)
    rows = db.session.execute(query.order_by(ServiceRequest.created_at.desc(), ServiceRequest.id.desc())).scalars()
    return sorted(rows, key=lambda r: r.status != ServiceRequest.REQUESTED)


def count_new(cooperative_id: int) -> int:
    """Requests of the cooperative waiting for a decision."""
    return int(db.session.execute(
        select(func.count(ServiceRequest.id)).join(Service, Service.id == ServiceRequest.service_id)
        .where(Service.cooperative_id == cooperative_id, ServiceRequest.status == ServiceRequest.REQUESTED)
    ).scalar_one())


def _send(to: str, template: str, locale: str | None, item: ServiceRequest) -> None:
    from marketplace.models import Territory
    from marketplace.services.mail import external_url, send_mail

    territory = db.session.get(Territory, item.territory_id)
    links = {}
    if template == "service_request_new":
        links["link"] = external_url("cooperative_requests.detail", territory=territory.slug,
                                     coop_id=item.service.cooperative_id, request_id=item.id)
    else:
        links["link"] = external_url("requests.detail", territory=territory.slug, request_code=item.code)
        if item.status == ServiceRequest.ACCEPTED:
            links["calendar_link"] = external_url("requests.calendar", territory=territory.slug,
                                                  request_code=item.code)
    send_mail(to, template, locale=locale, territory=territory, item=item, service=item.service, **links)


def _mail_citizen(item: ServiceRequest, user: User | None, template: str) -> None:
    if user is None and item.user_id:
        user = db.session.get(User, item.user_id)
    to = item.email or (user.email if user else "")
    if to:
        _send(to, template, user.locale if user else None, item)


def calendar_file(item: ServiceRequest, url: str = "") -> bytes:
    """The accepted visit as an iCalendar (RFC 5545) file."""
    from icalendar import Calendar, Event

    if item.status != ServiceRequest.ACCEPTED or item.starts_at is None:
        raise DomainError(_l("This request has no date yet."))
    cal = Calendar()
    cal.add("prodid", "-//Welfare marketplace//service requests//IT")
    cal.add("version", "2.0")
    event = Event()
    event.add("uid", f"request-{item.code}@welfare-marketplace")
    event.add("dtstamp", utcnow())
    event.add("dtstart", item.starts_at)
    event.add("duration", dt.timedelta(hours=1))
    event.add("summary", item.service.title)
    description = "\n".join(p for p in (item.service.cooperative.name, item.staff_message, url) if p)
    event.add("description", description)
    if item.municipality is not None:
        event.add("location", item.municipality.name)
    if url:
        event.add("url", url)
    cal.add_component(event)
    return cal.to_ical()
