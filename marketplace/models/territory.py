"""The tenant: a consortium's territorial platform, and the domains that reach it."""
from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.extensions import db
from marketplace.models.base import UTCDateTime, utcnow

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$"
)
# Slugs that would clash with the platform's own URLs or look official.
RESERVED_SLUGS = {"admin", "api", "static", "account", "healthz", "t", "www"}


class Territory(db.Model):
    __tablename__ = "territory"

    ACTIVE = "active"
    SUSPENDED = "suspended"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    default_language: Mapped[str] = mapped_column(sa.String(5), default="it")
    contact_email: Mapped[str] = mapped_column(sa.String(254))
    primary_color: Mapped[str] = mapped_column(sa.String(7), default="#0066cc")
    logo_text: Mapped[str] = mapped_column(sa.String(60), default="")
    status: Mapped[str] = mapped_column(sa.String(20), default=ACTIVE)
    welcome_title: Mapped[str] = mapped_column(sa.String(200), default="")
    intro_text: Mapped[str] = mapped_column(sa.Text, default="")
    about_text: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    suspended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    domains: Mapped[list["Domain"]] = relationship(
        back_populates="territory", cascade="all, delete-orphan", order_by="Domain.hostname"
    )

    @property
    def is_active(self) -> bool:
        return self.status == self.ACTIVE

    def __repr__(self) -> str:
        return f"<Territory {self.slug}>"


class Domain(db.Model):
    """A host name that serves one territory (platform-level: used to resolve it)."""

    __tablename__ = "domain"

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(
        sa.ForeignKey("territory.id", ondelete="CASCADE"), index=True
    )
    hostname: Mapped[str] = mapped_column(sa.String(253), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    territory: Mapped[Territory] = relationship(back_populates="domains")
