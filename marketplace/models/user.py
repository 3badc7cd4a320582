"""Accounts (platform-wide) and the roles they hold in each territory."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from marketplace.extensions import db
from marketplace.models.base import UTCDateTime, utcnow
from tenants.scoping import TenantMixin


class User(UserMixin, db.Model):
    """One account for every territory. Citizens are users with no membership."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255), default="")
    full_name: Mapped[str] = mapped_column(sa.String(120), default="")
    phone: Mapped[str] = mapped_column(sa.String(30), default="")
    locale: Mapped[str | None] = mapped_column(sa.String(5))
    is_platform_admin: Mapped[bool] = mapped_column(default=False)
    email_confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # TOTP second factor (RFC 6238). The secret is set when enrolment starts and counts only
    # once ``totp_enabled_at`` is set; ``totp_last_step`` is the last accepted time step, so
    # a code cannot be replayed; ``mfa_failures`` counts wrong codes since the last correct
    # password (the second login step allows a few). Stored in plain text: see services/mfa.py.
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    totp_enabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    mfa_failures: Mapped[int] = mapped_column(default=0, server_default="0")

    # The raw key of the server-side session (UserSession) this object was loaded through or
    # is being logged in with; set by services/sessions.py, never stored on this row.
    session_key = None

    def get_id(self) -> str:
        """Flask-Login's identity is the session, not the account: the session and
        remember-me cookies carry the session's raw key, so revoking the session row ends
        every copy of them (see services/sessions.py)."""
        if not self.session_key:
            raise RuntimeError("no server-side session started for this user")
        return self.session_key

    # UserMixin compares users by get_id(), which is now one login's key: two objects are the
    # same user when they are the same account.
    __hash__ = object.__hash__

    def __eq__(self, other):
        if isinstance(other, User):
            return self is other or (self.id is not None and self.id == other.id)
        return NotImplemented

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    @property
    def mfa_enabled(self) -> bool:
        return self.totp_enabled_at is not None and bool(self.totp_secret)

    @property
    def is_active(self) -> bool:
        return self.deleted_at is None

    @property
    def is_confirmed(self) -> bool:
        return self.email_confirmed_at is not None

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    @property
    def display_name(self) -> str:
        return self.full_name or (self.email if self.has_email else self.phone) or self.email

    # A citizen registered at a help desk with a phone number only gets a unique address
    # under this reserved domain (RFC 2606 ".invalid": nothing is ever delivered there).
    NO_EMAIL_DOMAIN = "no-email.invalid"

    @property
    def has_email(self) -> bool:
        """False for a phone-only citizen and for deleted accounts: no e-mail may be sent."""
        return bool(self.email) and not self.email.endswith(".invalid")

    def __repr__(self) -> str:
        return f"<User {self.id}>"


class Membership(TenantMixin, db.Model):
    """A role held by a user in one territory (and, for staff, one cooperative)."""

    __tablename__ = "membership"
    __table_args__ = (
        sa.UniqueConstraint("territory_id", "user_id", "role", "cooperative_id",
                            name="uq_membership_role"),
    )

    COORDINATOR = "coordinator"
    STAFF = "staff"
    HELP_DESK = "help_desk"  # a territory help desk (Social Point): books on citizens' behalf
    FUNDER = "funder"        # an officer of one funder (municipality, employer's HR...)
    ROLES = (COORDINATOR, STAFF, HELP_DESK, FUNDER)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(sa.String(20))
    cooperative_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("cooperative.id", ondelete="CASCADE"), index=True
    )
    funder_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("funder.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship()
    cooperative: Mapped["Cooperative | None"] = relationship(back_populates="memberships")
    funder = relationship("Funder")


class AccountToken(db.Model):
    """A single-use, expiring token (e-mail confirmation, password reset).

    Only a SHA-256 of the token is stored; the token itself travels in the e-mail.
    """

    __tablename__ = "account_token"

    CONFIRM = "confirm"
    RESET = "reset"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(sa.String(20))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship()


from marketplace.models.cooperative import Cooperative  # noqa: E402
