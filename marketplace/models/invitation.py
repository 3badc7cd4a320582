"""An invitation to take a role in a territory (coordinator or cooperative staff)."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.extensions import db
from marketplace.models.base import UTCDateTime, utcnow
from tenants.scoping import TenantMixin


class Invitation(TenantMixin, db.Model):
    __tablename__ = "invitation"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), index=True)
    role: Mapped[str] = mapped_column(sa.String(20))
    cooperative_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("cooperative.id", ondelete="CASCADE"), index=True
    )
    funder_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("funder.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    invited_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL")
    )
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    accepted_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL")
    )
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    cooperative = relationship("Cooperative")
    funder = relationship("Funder")
    territory = relationship("Territory")

    def is_open(self, now: dt.datetime | None = None) -> bool:
        now = now or utcnow()
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > now
