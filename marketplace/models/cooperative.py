"""A provider organisation (social cooperative) in one territory."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.extensions import db
from marketplace.models.base import UTCDateTime, utcnow
from tenants.scoping import TenantMixin


class Cooperative(TenantMixin, db.Model):
    __tablename__ = "cooperative"

    PENDING = "pending"
    ACCREDITED = "accredited"
    SUSPENDED = "suspended"
    STATUSES = (PENDING, ACCREDITED, SUSPENDED)
    # Allowed status changes: the accreditation life cycle.
    TRANSITIONS = {
        PENDING: {ACCREDITED, SUSPENDED},
        ACCREDITED: {SUSPENDED},
        SUSPENDED: {ACCREDITED},
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(160))
    legal_name: Mapped[str] = mapped_column(sa.String(200), default="")
    fiscal_code: Mapped[str] = mapped_column(sa.String(16), default="")
    vat_number: Mapped[str] = mapped_column(sa.String(11), default="")
    address: Mapped[str] = mapped_column(sa.String(200), default="")
    postal_code: Mapped[str] = mapped_column(sa.String(5), default="")
    municipality: Mapped[str] = mapped_column(sa.String(100), default="")
    province: Mapped[str] = mapped_column(sa.String(2), default="")
    email: Mapped[str] = mapped_column(sa.String(254), default="")
    phone: Mapped[str] = mapped_column(sa.String(30), default="")
    website: Mapped[str] = mapped_column(sa.String(200), default="")
    description: Mapped[str] = mapped_column(sa.Text, default="")
    logo_text: Mapped[str] = mapped_column(sa.String(60), default="")
    status: Mapped[str] = mapped_column(sa.String(20), default=PENDING)
    status_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    memberships: Mapped[list["Membership"]] = relationship(
        back_populates="cooperative", cascade="all, delete-orphan"
    )

    @property
    def is_accredited(self) -> bool:
        return self.status == self.ACCREDITED

    def can_become(self, status: str) -> bool:
        return status in self.TRANSITIONS.get(self.status, set())


from marketplace.models.user import Membership  # noqa: E402
