"""The service catalogue: what cooperatives offer, where, for whom, at what price."""
from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.extensions import db
from marketplace.models.base import UTCDateTime, utcnow
from tenants.scoping import TenantMixin

# The verticals are fixed by the platform; sub-categories are each territory's own.
VERTICALS = {
    "childcare": _l("Childcare"),
    "elderly": _l("Elderly care"),
    "disability": _l("Disability support"),
    "culture": _l("Culture and events"),
    "other": _l("Other services"),
}
PRICE_MODELS = {
    "free": _l("Free"),
    "fixed": _l("Fixed price"),
    "per_hour": _l("Per hour"),
    "per_session": _l("Per session"),
    "income_based": _l("Based on income (ISEE)"),
}
DELIVERY_MODES = {
    "at_location": _l("At a location"),
    "at_home": _l("At home"),
    "online": _l("Online"),
}
LANGUAGES = {
    "it": _l("Italian"), "en": _l("English"), "fr": _l("French"), "es": _l("Spanish"),
    "de": _l("German"), "ar": _l("Arabic"), "zh": _l("Chinese"), "ro": _l("Romanian"),
    "sq": _l("Albanian"), "uk": _l("Ukrainian"), "lis": _l("Italian Sign Language (LIS)"),
}


def _uuid() -> str:
    return str(uuid.uuid4())


class Municipality(TenantMixin, db.Model):
    """A comune of the territory; services are given there, reports count by it."""

    __tablename__ = "municipality"
    __table_args__ = (sa.UniqueConstraint("territory_id", "name", name="uq_municipality_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    province: Mapped[str] = mapped_column(sa.String(2), default="")
    istat_code: Mapped[str] = mapped_column(sa.String(6), default="")
    latitude: Mapped[float | None] = mapped_column(sa.Float)
    longitude: Mapped[float | None] = mapped_column(sa.Float)
    population: Mapped[int | None] = mapped_column()


class Category(TenantMixin, db.Model):
    """A sub-category of a vertical (e.g. childcare > nido), editable by coordinators."""

    __tablename__ = "category"
    __table_args__ = (sa.UniqueConstraint("territory_id", "vertical", "name", name="uq_category_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(36), unique=True, default=_uuid)
    vertical: Mapped[str] = mapped_column(sa.String(20))
    name: Mapped[str] = mapped_column(sa.String(100))
    name_en: Mapped[str] = mapped_column(sa.String(100), default="")
    position: Mapped[int] = mapped_column(default=0)

    def label(self, locale: str = "it") -> str:
        return self.name_en if locale == "en" and self.name_en else self.name


class ServiceArea(TenantMixin, db.Model):
    """A municipality where a service is given at home."""

    __tablename__ = "service_area"

    service_id: Mapped[int] = mapped_column(sa.ForeignKey("service.id", ondelete="CASCADE"), primary_key=True)
    municipality_id: Mapped[int] = mapped_column(
        sa.ForeignKey("municipality.id", ondelete="CASCADE"), primary_key=True, index=True)

    municipality: Mapped[Municipality] = relationship()


class Service(TenantMixin, db.Model):
    __tablename__ = "service"
    __table_args__ = (
        # Newest change first: the key of cached search answers.
        sa.Index("ix_service_territory_updated", "territory_id", "updated_at"),
    )

    DRAFT = "draft"
    IN_REVIEW = "in_review"
    PUBLISHED = "published"
    ARCHIVED = "archived"
    STATUSES = (DRAFT, IN_REVIEW, PUBLISHED, ARCHIVED)
    BOOKING_MODES = ("slots", "request")
    PARTICIPANT_FIELDS = ("", "name", "name_age")

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(36), unique=True, default=_uuid)
    cooperative_id: Mapped[int] = mapped_column(sa.ForeignKey("cooperative.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(sa.String(160))
    summary: Mapped[str] = mapped_column(sa.String(300), default="")
    description: Mapped[str] = mapped_column(sa.Text, default="")
    vertical: Mapped[str] = mapped_column(sa.String(20), index=True)
    category_id: Mapped[int | None] = mapped_column(sa.ForeignKey("category.id", ondelete="SET NULL"), index=True)
    target_group: Mapped[str] = mapped_column(sa.String(200), default="")
    age_min: Mapped[int | None] = mapped_column()
    age_max: Mapped[int | None] = mapped_column()
    eligibility: Mapped[str] = mapped_column(sa.Text, default="")
    documents: Mapped[str] = mapped_column(sa.Text, default="")
    delivery_modes: Mapped[str] = mapped_column(sa.String(60), default="at_location")
    schedule_text: Mapped[str] = mapped_column(sa.Text, default="")
    languages: Mapped[str] = mapped_column(sa.String(100), default="it")
    accessibility: Mapped[str] = mapped_column(sa.Text, default="")
    wheelchair_accessible: Mapped[bool] = mapped_column(default=False)
    price_model: Mapped[str] = mapped_column(sa.String(20), default="free")
    price_cents: Mapped[int | None] = mapped_column()
    # Lowest price a family may pay (0 when free): kept by the catalogue service, for sorting.
    price_from_cents: Mapped[int | None] = mapped_column(index=True)
    accepts_card: Mapped[bool] = mapped_column(default=True)
    accepts_voucher: Mapped[bool] = mapped_column(default=False)
    accepts_welfare_credit: Mapped[bool] = mapped_column(default=False)
    contact_email: Mapped[str] = mapped_column(sa.String(254), default="")
    contact_phone: Mapped[str] = mapped_column(sa.String(30), default="")
    # How citizens get the service: book a date ("slots") or ask for it ("request": staff
    # accept with a date or decline with a reason; e.g. home care).
    booking_mode: Mapped[str] = mapped_column(sa.String(20), default="slots", server_default="slots")
    # Details asked for each participant: "" none, "name", "name_age" (e.g. a child).
    participant_fields: Mapped[str] = mapped_column(sa.String(20), default="", server_default="")
    # Cancellation policy: full refund until this many hours before the date, then
    # ``late_refund_percent`` of what was paid (0: none).
    free_cancel_hours: Mapped[int] = mapped_column(default=48, server_default="48")
    late_refund_percent: Mapped[int] = mapped_column(default=0, server_default="0")
    status: Mapped[str] = mapped_column(sa.String(20), default=DRAFT, index=True)
    review_comment: Mapped[str] = mapped_column(sa.Text, default="")
    # Stemmed words of title, summary, description, category: the portable search index.
    search_text: Mapped[str] = mapped_column(sa.Text, default="")
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    cooperative = relationship("Cooperative")
    category: Mapped[Category | None] = relationship()
    locations: Mapped[list["ServiceLocation"]] = relationship(
        back_populates="service", cascade="all, delete-orphan", order_by="ServiceLocation.id")
    areas: Mapped[list[ServiceArea]] = relationship(cascade="all, delete-orphan")
    price_bands: Mapped[list["PriceBand"]] = relationship(
        back_populates="service", cascade="all, delete-orphan",
        # The band without an upper limit (NULL) last on every database (SQLite sorts NULL first).
        order_by="[PriceBand.isee_max_cents.is_(None), PriceBand.isee_max_cents, PriceBand.id]")
    images: Mapped[list["ServiceImage"]] = relationship(
        back_populates="service", cascade="all, delete-orphan", order_by="ServiceImage.id")

    @property
    def municipalities(self) -> list[Municipality]:
        """Where home visits are made, by name."""
        return sorted((a.municipality for a in self.areas), key=lambda m: m.name)

    @property
    def is_published(self) -> bool:
        return self.status == self.PUBLISHED

    @property
    def language_codes(self) -> list[str]:
        return [c for c in (self.languages or "").split(",") if c]

    @property
    def delivery_mode_list(self) -> list[str]:
        return [c for c in (self.delivery_modes or "").split(",") if c]

    @property
    def is_free(self) -> bool:
        return self.price_model == "free"

    @property
    def lowest_price_cents(self) -> int | None:
        if self.price_model == "free":
            return 0
        if self.price_model == "income_based":
            return min((b.price_cents for b in self.price_bands), default=None)
        return self.price_cents


class ServiceLocation(TenantMixin, db.Model):
    """Where a service is given (an address in a municipality of the territory)."""

    __tablename__ = "service_location"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(36), unique=True, default=_uuid)
    service_id: Mapped[int] = mapped_column(sa.ForeignKey("service.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(160), default="")
    address: Mapped[str] = mapped_column(sa.String(200), default="")
    postal_code: Mapped[str] = mapped_column(sa.String(5), default="")
    municipality_id: Mapped[int] = mapped_column(sa.ForeignKey("municipality.id", ondelete="RESTRICT"), index=True)
    latitude: Mapped[float | None] = mapped_column(sa.Float)
    longitude: Mapped[float | None] = mapped_column(sa.Float)

    service: Mapped[Service] = relationship(back_populates="locations")
    municipality: Mapped[Municipality] = relationship()


class PriceBand(TenantMixin, db.Model):
    """Income-based price: households with ISEE up to ``isee_max_cents`` pay ``price_cents``."""

    __tablename__ = "price_band"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(sa.ForeignKey("service.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(sa.String(100), default="")
    isee_max_cents: Mapped[int | None] = mapped_column()  # None: no upper limit
    price_cents: Mapped[int] = mapped_column()

    service: Mapped[Service] = relationship(back_populates="price_bands")


class ServiceImage(TenantMixin, db.Model):
    __tablename__ = "service_image"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(sa.ForeignKey("service.id", ondelete="CASCADE"), index=True)
    alt_text: Mapped[str] = mapped_column(sa.String(250))
    content_type: Mapped[str] = mapped_column(sa.String(30))
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    data: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    service: Mapped[Service] = relationship(back_populates="images")


class ChangeRecord(TenantMixin, db.Model):
    """Who changed what, when: the history of a catalogue entry."""

    __tablename__ = "change_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(sa.String(40))
    entity_id: Mapped[int] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(sa.String(40))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    changes: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user = relationship("User")
