"""Satisfaction surveys: single-use invitations after a delivery or a booked date, anonymous
answers, and what a cooperative may see of them.

Invitations are sent by periodic jobs (``invite_for_deliveries`` / ``invite_for_bookings``,
one territory each), never while a delivery record or an order is being written: a job
finds the recent records and ended bookings that have no invitation yet and invites them,
so any way a record comes in (form, check-in, a 50,000-row import, the API) is covered
without one job per row. The invitation's uniqueness per record / order is enforced by the
schema, so running a job twice sends nothing twice.

The link carries a random token; only its SHA-256 is stored. An answer is a
``SurveyResponse`` with the service, the cooperative and the day only: nothing links it to
the person or to the invitation (whose ``answered_at`` makes the link single-use).

Aggregates go through ``funder_reports.suppress``: with fewer than 5 responses every figure
is "<5", and comments are shown only for groups of at least 5 responses, by month.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, exists, func, select, update
from sqlalchemy.exc import IntegrityError

from marketplace.extensions import db
from marketplace.models import (
    Beneficiary, DeliveryRecord, Order, Service, Slot, SurveyInvitation, SurveyResponse, Territory, Ticket, User,
)
from marketplace.models.base import utcnow
from marketplace.services import DomainError
from marketplace.services.funder_reports import SMALL_CELL, suppress
from marketplace.services.slots import LOCAL_TZ

INVITE_WINDOW = dt.timedelta(days=7)
LINK_LIFETIME = dt.timedelta(days=30)
COMMENT_MAX = 1000
BATCH = 200
# Test-only switch for the negative control of the answer race: never turn it off elsewhere.
LOCKING = True

DIMENSIONS = ("quality", "punctuality", "kindness", "usefulness")
DIMENSION_LABELS = {
    "quality": _l("Quality of the service"),
    "punctuality": _l("Punctuality"),
    "kindness": _l("Kindness of the staff"),
    "usefulness": _l("Usefulness for you"),
}


class AlreadyAnswered(DomainError):
    """The invitation was used already: no second answer."""


class LinkExpired(DomainError):
    """The invitation is past its ``expires_at``."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def local_today() -> dt.date:
    return utcnow().astimezone(LOCAL_TZ).date()


# --- invitations ------------------------------------------------------------------------

def _invite(territory: Territory, service_id: int, email: str, locale: str | None, *,
            record_id: int | None = None, order_id: int | None = None) -> bool:
    """Create one invitation and queue its e-mail, in a savepoint of the caller's transaction.
    Returns False (and changes nothing) if the record / order was invited meanwhile."""
    from marketplace.services.mail import external_url, send_mail

    token = secrets.token_urlsafe(32)
    now = utcnow()
    try:
        with db.session.begin_nested():
            invitation = SurveyInvitation(
                territory_id=territory.id, token_hash=hash_token(token), record_id=record_id, order_id=order_id,
                service_id=service_id, email=email, sent_at=now, expires_at=now + LINK_LIFETIME)
            db.session.add(invitation)
            db.session.flush()
            service = db.session.get(Service, service_id)
            link = external_url("public_surveys.survey", territory=territory.slug, token=token)
            send_mail(email, "survey_invitation", locale=locale, territory=territory, link=link,
                      service_title=service.title if service is not None else "",
                      expires_on=(now + LINK_LIFETIME).astimezone(LOCAL_TZ).date())
    except IntegrityError:
        return False  # another run invited it first: the schema keeps it to one
    return True


def _deliveries_to_invite(since: dt.date):
    invited = exists().where(SurveyInvitation.record_id == DeliveryRecord.id)
    return (
        select(DeliveryRecord.id, DeliveryRecord.service_id, User.email, User.locale)
        .join(Beneficiary, Beneficiary.id == DeliveryRecord.beneficiary_id)
        .join(User, User.id == Beneficiary.user_id)
        # A record checked in from a ticket is the booking's: the order's invitation covers it.
        .where(DeliveryRecord.delivered_on >= since, DeliveryRecord.ticket_id.is_(None), ~invited,
               User.deleted_at.is_(None),
               User.email != "", ~User.email.like("%.invalid"))
        .order_by(DeliveryRecord.id)
        .limit(BATCH)
    )


def invite_for_deliveries(territory_id: int, today: dt.date | None = None) -> int:
    """Invite, once each, the beneficiaries of the delivery records of the last 7 days that
    have no invitation yet, when the beneficiary is linked to a user with an e-mail address
    (others get no survey). Records checked in from a ticket are left to the booking's
    invitation (``invite_for_bookings``), so nobody is asked twice for one date. Commits in batches; safe to run twice. Must run inside
    ``territory_scope(territory_id)``. Returns how many were invited."""
    territory = db.session.get(Territory, territory_id)
    today = today or local_today()
    since = today - INVITE_WINDOW
    sent = 0
    skipped: set[int] = set()
    while True:
        query = _deliveries_to_invite(since)
        if skipped:
            query = query.where(DeliveryRecord.id.not_in(skipped))
        rows = db.session.execute(query).all()
        if not rows:
            return sent
        for record_id, service_id, email, locale in rows:
            if _invite(territory, service_id, email, locale, record_id=record_id):
                sent += 1
            else:
                skipped.add(record_id)
        db.session.commit()


def _bookings_to_invite(start: dt.datetime, end: dt.datetime):
    """Paid orders with a valid ticket of a slot (not cancelled) that ended in [start, end),
    not invited yet: (order id, service id, order email, the user's locale)."""
    invited = exists().where(SurveyInvitation.order_id == Order.id)
    ended = (
        select(Ticket.order_id.label("order_id"), func.min(Slot.service_id).label("service_id"))
        .join(Slot, Slot.id == Ticket.slot_id)
        .where(Ticket.status == Ticket.VALID, Slot.status != Slot.CANCELLED,
               Slot.ends_at >= start, Slot.ends_at < end)
        .group_by(Ticket.order_id)
        .subquery()
    )
    return (
        select(Order.id, ended.c.service_id, Order.email, User.locale)
        .join(ended, ended.c.order_id == Order.id)
        .outerjoin(User, User.id == Order.user_id)
        .where(Order.status == Order.PAID, ~invited, Order.email != "", ~Order.email.like("%.invalid"))
        .order_by(Order.id)
        .limit(BATCH)
    )


def invite_for_bookings(territory_id: int, now: dt.datetime | None = None) -> int:
    """Invite, once per order, every PAID order with a valid ticket of a slot (not
    cancelled) that ended in the last 7 days, at ``order.email``. Commits in batches; safe
    to run twice. Must run inside ``territory_scope(territory_id)``. Returns how many."""
    territory = db.session.get(Territory, territory_id)
    now = now or utcnow()
    sent = 0
    skipped: set[int] = set()
    while True:
        query = _bookings_to_invite(now - INVITE_WINDOW, now)
        if skipped:
            query = query.where(Order.id.not_in(skipped))
        rows = db.session.execute(query).all()
        if not rows:
            return sent
        for order_id, service_id, email, locale in rows:
            if _invite(territory, service_id, email, locale, order_id=order_id):
                sent += 1
            else:
                skipped.add(order_id)
        db.session.commit()


# --- answering --------------------------------------------------------------------------

@dataclass
class Invitation:
    """What the survey page shows of an invitation (no person)."""

    id: int
    service_title: str
    cooperative_name: str
    day: dt.date | None
    answered: bool
    expired: bool


def find(token: str) -> Invitation | None:
    """The invitation of this link in the current territory, or None (unknown token)."""
    if not token or len(token) > 200:
        return None
    invitation = db.session.execute(
        select(SurveyInvitation).where(SurveyInvitation.token_hash == hash_token(token))).scalar_one_or_none()
    if invitation is None:
        return None
    service = db.session.get(Service, invitation.service_id)
    day = None
    if invitation.record_id is not None:
        day = db.session.execute(select(DeliveryRecord.delivered_on)
                                 .where(DeliveryRecord.id == invitation.record_id)).scalar_one_or_none()
    elif invitation.order_id is not None:
        starts = db.session.execute(select(func.min(Slot.starts_at)).join(Ticket, Ticket.slot_id == Slot.id)
                                    .where(Ticket.order_id == invitation.order_id)).scalar_one_or_none()
        if starts is not None:
            if starts.tzinfo is None:
                starts = starts.replace(tzinfo=dt.timezone.utc)
            day = starts.astimezone(LOCAL_TZ).date()
    expires_at = invitation.expires_at
    return Invitation(
        id=invitation.id, service_title=service.title, cooperative_name=service.cooperative.name, day=day,
        answered=invitation.answered_at is not None, expired=expires_at <= utcnow())


@dataclass
class Answer:
    quality: int
    punctuality: int
    kindness: int
    usefulness: int
    recommend: int
    comment: str = ""


def answer(token: str, given: Answer) -> SurveyResponse:
    """Store ``given`` as an anonymous response and mark the invitation answered, in the
    caller's transaction, under the invitation's row lock (and a conditional update, so a
    second answer is refused on every database). Raises LookupError (unknown token),
    LinkExpired, AlreadyAnswered, or DomainError (a value out of range)."""
    for name in DIMENSIONS:
        if getattr(given, name) not in range(1, 6):
            raise DomainError(_l("Choose from 1 to 5 stars."), field=name)
    if given.recommend not in range(0, 11):
        raise DomainError(_l("Choose a number from 0 to 10."), field="recommend")
    comment = (given.comment or "").strip()
    if len(comment) > COMMENT_MAX:
        raise DomainError(_l("Write at most %(max)d characters.", max=COMMENT_MAX), field="comment")
    query = select(SurveyInvitation).where(SurveyInvitation.token_hash == hash_token(token))
    invitation = db.session.execute(query.with_for_update() if LOCKING else query).scalar_one_or_none()
    if invitation is None:
        raise LookupError(token)
    now = utcnow()
    if invitation.answered_at is not None:
        raise AlreadyAnswered(_l("This survey has already been answered. Thank you!"))
    if invitation.expires_at <= now:
        raise LinkExpired(_l("This link has expired: surveys can be answered within 30 days."))
    claim = update(SurveyInvitation).where(SurveyInvitation.id == invitation.id)
    if LOCKING:
        claim = claim.where(SurveyInvitation.answered_at.is_(None))
    claimed = db.session.execute(claim.values(answered_at=now)
                                 .execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        raise AlreadyAnswered(_l("This survey has already been answered. Thank you!"))
    service = db.session.get(Service, invitation.service_id)
    response = SurveyResponse(
        territory_id=invitation.territory_id, service_id=service.id, cooperative_id=service.cooperative_id,
        answered_on=now.astimezone(LOCAL_TZ).date(), quality=given.quality, punctuality=given.punctuality,
        kindness=given.kindness, usefulness=given.usefulness, recommend=given.recommend, comment=comment)
    db.session.add(response)
    db.session.flush()
    return response


# --- aggregates -------------------------------------------------------------------------

@dataclass
class Comment:
    month: dt.date   # the first day of the month it was written: no finer date is shown
    text: str


@dataclass
class Summary:
    """Satisfaction of a group of responses, as staff may see it. ``count``, ``averages``
    and ``nps`` are display strings: with fewer than 5 responses each is "<5"."""

    responses: int                                  # the true count, to decide; never shown below 5
    count: str
    averages: dict[str, str]                        # dimension -> "4.2" or "<5"
    nps: str                                        # e.g. "20", "-14", or "<5"
    values: dict[str, Decimal | None] = field(default_factory=dict)  # unsuppressed averages (None if <5)
    nps_value: int | None = None                    # unsuppressed NPS (None if <5)
    comments: list[Comment] = field(default_factory=list)

    @property
    def suppressed(self) -> bool:
        return self.responses < SMALL_CELL


def _one_decimal(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _nps(promoters: int, detractors: int, total: int) -> int:
    """% promoters minus % detractors, rounded half away from zero to an integer."""
    value = (Decimal(promoters) - Decimal(detractors)) * 100 / Decimal(total)
    return int(value.quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def _filters(service_ids, cooperative_id, date_from, date_to) -> list:
    clauses = []
    if service_ids is not None:
        clauses.append(SurveyResponse.service_id.in_(list(service_ids)))
    if cooperative_id is not None:
        clauses.append(SurveyResponse.cooperative_id == cooperative_id)
    if date_from is not None:
        clauses.append(SurveyResponse.answered_on >= date_from)
    if date_to is not None:
        clauses.append(SurveyResponse.answered_on <= date_to)
    return clauses


def _summary(n: int, sums: dict[str, Decimal | None], promoters: int, detractors: int,
             comments: list[Comment]) -> Summary:
    if n < SMALL_CELL:
        hidden = suppress(n)
        return Summary(responses=n, count=hidden, averages={d: hidden for d in DIMENSIONS}, nps=hidden,
                       values={d: None for d in DIMENSIONS})
    values = {d: _one_decimal(sums[d]) for d in DIMENSIONS}
    nps = _nps(promoters, detractors, n)
    return Summary(responses=n, count=suppress(n), averages={d: str(v) for d, v in values.items()}, nps=str(nps),
                   values=values, nps_value=nps, comments=comments)


def _aggregate_columns():
    return [func.count(SurveyResponse.id)] + [func.avg(getattr(SurveyResponse, d)) for d in DIMENSIONS] + [
        func.coalesce(func.sum(case((SurveyResponse.recommend >= 9, 1), else_=0)), 0),
        func.coalesce(func.sum(case((SurveyResponse.recommend <= 6, 1), else_=0)), 0),
    ]


def _comments(clauses: list) -> list[Comment]:
    """Comments of the matching responses, newest first, by month only; only those of
    services with at least 5 matching responses, so that a group's comments cannot be told
    apart from the others' by comparing the lists of the whole and of each service."""
    large_enough = (select(SurveyResponse.service_id).where(*clauses).group_by(SurveyResponse.service_id)
                    .having(func.count(SurveyResponse.id) >= SMALL_CELL))
    rows = db.session.execute(
        select(SurveyResponse.answered_on, SurveyResponse.comment)
        .where(*clauses, SurveyResponse.comment != "", SurveyResponse.service_id.in_(large_enough))
        .order_by(SurveyResponse.answered_on.desc(), SurveyResponse.id.desc())).all()
    return [Comment(month=day.replace(day=1), text=text) for day, text in rows]


def satisfaction(service_ids=None, cooperative_id: int | None = None, date_from: dt.date | None = None,
                 date_to: dt.date | None = None) -> Summary:
    """Count, average per dimension (1 decimal) and NPS of the responses matching the
    filters (dates both included), suppressed below 5 responses; comments (newest first,
    by month) only for 5 or more, and only of services that have 5 or more themselves.
    One SQL aggregate. Must run inside a territory scope."""
    clauses = _filters(service_ids, cooperative_id, date_from, date_to)
    row = db.session.execute(select(*_aggregate_columns()).where(*clauses)).one()
    n = int(row[0] or 0)
    sums = dict(zip(DIMENSIONS, row[1:5]))
    comments = _comments(clauses) if n >= SMALL_CELL else []
    return _summary(n, sums, int(row[5]), int(row[6]), comments)


def satisfaction_by_service(cooperative_id: int, date_from: dt.date | None = None,
                            date_to: dt.date | None = None) -> list[tuple[Service, Summary]]:
    """One summary per service of the cooperative (every service, answered or not), in
    title order; a single GROUP BY for the figures."""
    clauses = _filters(None, cooperative_id, date_from, date_to)
    rows = db.session.execute(select(SurveyResponse.service_id, *_aggregate_columns())
                              .where(*clauses).group_by(SurveyResponse.service_id)).all()
    by_service = {row[0]: row[1:] for row in rows}
    services = db.session.execute(select(Service).where(Service.cooperative_id == cooperative_id)
                                  .order_by(Service.title, Service.id)).scalars().all()
    result = []
    for service in services:
        row = by_service.get(service.id)
        if row is None:
            result.append((service, _summary(0, {}, 0, 0, [])))
            continue
        n = int(row[0] or 0)
        comments = _comments(clauses + [SurveyResponse.service_id == service.id]) if n >= SMALL_CELL else []
        result.append((service, _summary(n, dict(zip(DIMENSIONS, row[1:5])), int(row[5]), int(row[6]), comments)))
    return result


def invitation_counts(cooperative_id: int) -> tuple[int, int]:
    """(invitations sent, answered) for the cooperative's services: counts of links, not
    of people, shown to its staff."""
    row = db.session.execute(
        select(func.count(SurveyInvitation.id), func.count(SurveyInvitation.answered_at))
        .join(Service, Service.id == SurveyInvitation.service_id)
        .where(Service.cooperative_id == cooperative_id)).one()
    return int(row[0] or 0), int(row[1] or 0)


def parse_period(date_from: str | None, date_to: str | None) -> tuple[dt.date | None, dt.date | None]:
    """The period typed in the filter (``YYYY-MM-DD``, either may be empty: open). Raises
    DomainError (field ``from`` / ``to``) for a bad date or a start after the end."""
    from marketplace.services.funder_reports import _parse_date

    start = _parse_date(date_from, None, "from") if (date_from or "").strip() else None
    end = _parse_date(date_to, None, "to") if (date_to or "").strip() else None
    if start and end and start > end:
        raise DomainError(_l("The start of the period must not be after its end."), field="from")
    return start, end
