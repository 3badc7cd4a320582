"""Server-side sessions: a login is a UserSession row, and the cookies only carry its key.

Flask-Login's identity (``User.get_id()``) is the session's raw key, so both the session
cookie and the remember-me cookie name the row; ``resume`` refuses a revoked, expired or idle
one. Logging out, changing or resetting the password and "log out everywhere" revoke rows,
so a copy of a cookie taken before stops working at once.
"""
from __future__ import annotations

import datetime as dt
import logging
import re

from flask import current_app, g, has_request_context
from sqlalchemy import delete, exists, select, update
from sqlalchemy.exc import SQLAlchemyError

from marketplace.extensions import db
from marketplace.models import Membership, User, UserSession
from marketplace.models.base import utcnow
from marketplace.services.tokens import hash_token, new_token
from tenants.scoping import unscoped

log = logging.getLogger(__name__)

# last_seen_at is written at most this often: idle timeouts are minutes, not seconds.
TOUCH_EVERY = dt.timedelta(minutes=1)
# Ended sessions are deleted this long after their deadline, when the user next logs in.
KEEP_ENDED = dt.timedelta(days=30)


def is_privileged(user: User) -> bool:
    """Platform operators and anyone holding a role in a territory (coordinator, cooperative
    staff, funder officer, which includes an employer's HR, help desk): short sessions, no
    remember-me, and a second factor when MFA_REQUIRED."""
    if user.is_platform_admin:
        return True
    with unscoped():
        return bool(db.session.execute(
            select(exists().where(Membership.user_id == user.id))
        ).scalar())


def start(user: User, remember: bool = False, user_agent: str = "", ip: str = "") -> UserSession:
    """Open a session for ``user`` (after every factor was checked) and set its raw key on
    ``user.session_key`` for ``login_user``. A privileged user never gets remember-me.
    Caller commits, then calls ``login_user(user, remember=session.remember)``."""
    config = current_app.config
    privileged = is_privileged(user)
    remember = bool(remember) and not privileged
    now = utcnow()
    lifetime = (dt.timedelta(days=config["REMEMBER_DAYS"]) if remember
                else dt.timedelta(hours=config["SESSION_ABSOLUTE_HOURS"]))
    # Rows long past their deadline are of no more use, not even to show on the profile.
    db.session.execute(delete(UserSession).where(
        UserSession.user_id == user.id, UserSession.expires_at < now - KEEP_ENDED))
    raw, digest = new_token()
    row = UserSession(
        user_id=user.id, key_hash=digest, created_at=now, last_seen_at=now,
        expires_at=now + lifetime, remember=remember, privileged=privileged,
        user_agent=summarise_user_agent(user_agent), ip=(ip or "")[:45],
    )
    db.session.add(row)
    db.session.flush()
    user.session_key = raw
    return row


def is_live(row: UserSession, now: dt.datetime | None = None) -> bool:
    """Not revoked, before its absolute deadline and, unless remembered, not idle."""
    now = now or utcnow()
    if row.revoked_at is not None or now >= row.expires_at:
        return False
    if row.remember:
        return True
    config = current_app.config
    idle = config["SESSION_IDLE_MINUTES_PRIVILEGED" if row.privileged else "SESSION_IDLE_MINUTES_CITIZEN"]
    return now - row.last_seen_at < dt.timedelta(minutes=idle)


def resume(raw_key: str) -> User | None:
    """Flask-Login's user loader: the live session's user, or None. Remembers the row in
    ``g.user_session``; its last_seen_at is written after the response (``init_app``)."""
    if not raw_key:
        return None
    found = db.session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.key_hash == hash_token(raw_key), User.deleted_at.is_(None))
    ).first()
    if found is None:
        return None
    row, user = found
    now = utcnow()
    if not is_live(row, now):
        return None
    user.session_key = raw_key
    if has_request_context():
        g.user_session = row
        if now - row.last_seen_at >= TOUCH_EVERY:
            g.user_session_touch = row.id
    return user


def current() -> UserSession | None:
    """The session row of this request's login, if any."""
    if not has_request_context():
        return None
    from flask_login import current_user

    current_user._get_current_object()  # the user loader runs once, on first use
    return g.get("user_session")


def promote(row: UserSession | None) -> None:
    """The user of ``row`` has just been given a role: the session gets the privileged rules
    (idle timeout, no remember-me, at most the absolute lifetime). Caller commits."""
    if row is None or row.privileged:
        return
    row.privileged = True
    row.remember = False
    row.expires_at = min(row.expires_at,
                         row.created_at + dt.timedelta(hours=current_app.config["SESSION_ABSOLUTE_HOURS"]))


def revoke(row: UserSession | None) -> None:
    """End one session (logout). Caller commits."""
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()


def revoke_all(user: User, keep: UserSession | None = None) -> int:
    """End every session of ``user`` but ``keep``; returns how many. Caller commits."""
    statement = (
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if keep is not None:
        statement = statement.where(UserSession.id != keep.id)
    result = db.session.execute(statement)
    if keep is None and current() is not None and current().user_id == user.id:
        db.session.expire(current(), ["revoked_at"])
    return result.rowcount or 0


def active_sessions(user: User) -> list[UserSession]:
    """The user's live sessions, most recently used first (for the profile page)."""
    rows = db.session.execute(
        select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None),
               UserSession.expires_at > utcnow())
        .order_by(UserSession.last_seen_at.desc())
    ).scalars()
    return [row for row in rows if is_live(row)]


_BROWSERS = (("Edge", r"Edg/"), ("Opera", r"OPR/"), ("Firefox", r"Firefox/"),
             ("Chrome", r"Chrome/|CriOS/"), ("Safari", r"Safari/"))
_SYSTEMS = (("Android", r"Android"), ("iOS", r"iPhone|iPad|iPod"), ("Windows", r"Windows"),
            ("macOS", r"Mac OS X|Macintosh"), ("Linux", r"Linux|X11"))


def summarise_user_agent(user_agent: str) -> str:
    """"Firefox on Linux": enough for a person to recognise a device, not a fingerprint."""
    user_agent = user_agent or ""
    browser = next((name for name, pattern in _BROWSERS if re.search(pattern, user_agent)), "")
    system = next((name for name, pattern in _SYSTEMS if re.search(pattern, user_agent)), "")
    if browser and system:
        return f"{browser} / {system}"
    return browser or system or user_agent[:60]


def init_app(app) -> None:
    """Write last_seen_at after the response, on its own connection, at most once a minute
    per session: never a write per request, and never mixed into a view's transaction."""

    @app.after_request
    def touch_session(response):
        session_id = g.pop("user_session_touch", None)
        if session_id is not None:
            try:
                with db.engine.begin() as connection:
                    connection.execute(
                        update(UserSession).where(UserSession.id == session_id)
                        .values(last_seen_at=utcnow())
                    )
            except SQLAlchemyError:  # a busy database must not fail the response
                log.warning("could not record the session's last use", exc_info=True)
        return response
