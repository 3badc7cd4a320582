"""Least privilege: what a funder lets the territory's coordination see of it, and what a
help desk knows of a citizen it registered."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.extensions import db
from marketplace.models.base import UTCDateTime, utcnow
from tenants.scoping import TenantMixin


class FunderDelegation(TenantMixin, db.Model):
    """A funder's explicit delegation to the territory's coordinators, granted and revoked by
    the funder's own officers. At most one is live (``revoked_at`` empty) per funder; the
    revoked ones are kept as the history."""

    __tablename__ = "funder_delegation"

    READ = "read"        # dashboard, statements, exports of counts
    REVIEW = "review"    # also the review queue, documents, decisions: everything an officer does
    LEVELS = (READ, REVIEW)

    id: Mapped[int] = mapped_column(primary_key=True)
    funder_id: Mapped[int] = mapped_column(sa.ForeignKey("funder.id", ondelete="CASCADE"), index=True)
    level: Mapped[str] = mapped_column(sa.String(10))
    granted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    funder = relationship("Funder")
    granted_by = relationship("User", foreign_keys=[granted_by_id])
    revoked_by = relationship("User", foreign_keys=[revoked_by_id])

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None


class DeskRegistration(TenantMixin, db.Model):
    """A citizen registered at this territory's help desk (or a cooperative's counter): the
    relationship that lets the desk find them again, and only what the citizen gave the
    desk. When the address already had an account, the desk books on that account but is
    shown these fields, never the account's own name or phone."""

    __tablename__ = "desk_registration"
    __table_args__ = (sa.UniqueConstraint("territory_id", "user_id", name="uq_desk_registration_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    full_name: Mapped[str] = mapped_column(sa.String(120), default="")
    email: Mapped[str] = mapped_column(sa.String(254), default="", index=True)   # "" when given none
    phone: Mapped[str] = mapped_column(sa.String(30), default="", index=True)    # normalised, or ""
    registered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
