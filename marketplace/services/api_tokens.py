"""A cooperative's API tokens, for pushing delivery records from its own software.

A token is ``secrets.token_urlsafe(32)``; only its SHA-256 is stored, so it is shown once,
when made. Revoked tokens stay listed (who made them, when last used) but authenticate no
more. A token may carry an expiry date (a year by default, chosen when it is made); past
it, or while its cooperative is suspended, ``authenticate`` refuses it with the reason.
Everything runs inside the territory's scope; the caller commits.
"""
from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.models import ApiToken, Cooperative, User
from marketplace.models.base import utcnow
from marketplace.services import DomainError
from marketplace.services.slots import LOCAL_TZ
from marketplace.services.tokens import hash_token, new_token

MAX_NAME = 80
MAX_ACTIVE = 20
DEFAULT_LIFETIME = dt.timedelta(days=365)


class TokenRefused(DomainError):
    """A real, unrevoked token that may not be used now; ``status`` is the HTTP answer
    (401: expired, make a new one; 403: the cooperative is suspended)."""

    def __init__(self, message, status: int):
        super().__init__(message)
        self.status = status


def today() -> dt.date:
    """Today in Italy: a token "expires on" a day as its cooperative reads it."""
    return dt.datetime.now(LOCAL_TZ).date()


def default_expiry() -> dt.date:
    return today() + DEFAULT_LIFETIME


def create(cooperative: Cooperative, name: str, created_by: User | None = None,
           expires_on: dt.date | None = None) -> tuple[ApiToken, str]:
    """Make a token for ``cooperative``, working up to and including ``expires_on`` (None:
    until revoked); returns (row, the token itself — show it once). Raises DomainError for
    an empty or long name, an expiry date not after today, or too many active tokens."""
    name = " ".join((name or "").split())
    if not name:
        raise DomainError(_l("Give the token a name, e.g. the software that will use it."), field="name")
    if len(name) > MAX_NAME:
        raise DomainError(_l("At most %(n)d characters.", n=MAX_NAME), field="name")
    if expires_on is not None and expires_on <= today():
        raise DomainError(_l("Choose an expiry date after today, or leave it empty for a token that works "
                             "until you revoke it."), field="expires_on")
    active = db.session.execute(select(func.count(ApiToken.id)).where(
        ApiToken.cooperative_id == cooperative.id, ApiToken.revoked_at.is_(None))).scalar_one()
    if active >= MAX_ACTIVE:
        raise DomainError(_l("A cooperative can have at most %(n)d active tokens: revoke one you no longer use.",
                             n=MAX_ACTIVE), field="name")
    raw, digest = new_token()
    token = ApiToken(territory_id=cooperative.territory_id, cooperative_id=cooperative.id, name=name,
                     token_hash=digest, created_by_id=created_by.id if created_by is not None else None,
                     expires_on=expires_on)
    db.session.add(token)
    db.session.flush()
    return token, raw


def of_cooperative(cooperative: Cooperative) -> list[ApiToken]:
    """All the cooperative's tokens, active first, newest first."""
    return list(db.session.execute(
        select(ApiToken).where(ApiToken.cooperative_id == cooperative.id)
        .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id.desc())
    ).scalars())


def revoke(token: ApiToken) -> None:
    """Stop ``token`` working (a revoked token stays revoked)."""
    if token.revoked_at is None:
        token.revoked_at = utcnow()


def authenticate(raw: str | None) -> ApiToken | None:
    """The active token whose SHA-256 matches ``raw`` in the territory in scope, marked as
    used now; None for an unknown, revoked or another territory's token. Raises
    TokenRefused (not marked as used) for a token past its expiry date (401) or of a
    suspended cooperative (403)."""
    if not raw or len(raw) > 200:
        return None
    token = db.session.execute(
        select(ApiToken).where(ApiToken.token_hash == hash_token(raw))).scalar_one_or_none()
    if token is None or token.revoked_at is not None:
        return None
    if token.is_expired(today()):
        raise TokenRefused(_l("This API token expired on %(date)s: make a new one on the cooperative's "
                              "API tokens page.", date=token.expires_on.isoformat()), 401)
    cooperative = db.session.get(Cooperative, token.cooperative_id)
    if cooperative is not None and cooperative.status == Cooperative.SUSPENDED:
        raise TokenRefused(_l("The cooperative is suspended: its API tokens do not work until the territory "
                              "accredits it again."), 403)
    token.last_used_at = utcnow()
    return token
