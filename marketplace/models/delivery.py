"""What was actually given, to whom, with what effect: delivery records, the beneficiaries
a cooperative registers (known in reports only by a pseudonym), outcome indicators the
territory defines, satisfaction surveys, imports, API tokens and the audit log.

Personal data is minimised: a beneficiary's profile holds only the bands fairness analysis
needs (age band, sex, municipality, disability, income band), each optional and collected
with consent; coordinators see aggregates only.
"""
from __future__ import annotations

import datetime as dt
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.extensions import db
from marketplace.models.base import UTCDateTime, utcnow
from tenants.scoping import TenantMixin


def _pseudonym() -> str:
    return "B-" + secrets.token_hex(5).upper()


AGE_BANDS = ("0-2", "3-5", "6-10", "11-13", "14-17", "18-29", "30-49", "50-64", "65-74", "75-84", "85+")
SEXES = ("f", "m", "x")
INCOME_BANDS = ("isee_0_7000", "isee_7000_15000", "isee_15000_25000", "isee_25000_40000", "isee_over_40000")
FUNDING_SOURCES = ("citizen", "municipal_voucher", "municipal_contract", "employer_credit", "foundation_grant",
                   "other")


class Beneficiary(TenantMixin, db.Model):
    """A person a cooperative serves. Reports name them only by ``pseudonym``."""

    __tablename__ = "beneficiary"
    __table_args__ = (sa.UniqueConstraint("cooperative_id", "external_ref", name="uq_beneficiary_external_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(sa.ForeignKey("cooperative.id", ondelete="CASCADE"), index=True)
    pseudonym: Mapped[str] = mapped_column(sa.String(16), unique=True, default=_pseudonym)
    # The cooperative's own reference (its file number); identifies the person in imports.
    external_ref: Mapped[str] = mapped_column(sa.String(64))
    display_name: Mapped[str] = mapped_column(sa.String(120), default="")  # seen by the cooperative only
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True)
    age_band: Mapped[str | None] = mapped_column(sa.String(10))
    sex: Mapped[str | None] = mapped_column(sa.String(1))
    municipality_id: Mapped[int | None] = mapped_column(sa.ForeignKey("municipality.id", ondelete="SET NULL"), index=True)
    disability: Mapped[bool | None] = mapped_column()
    income_band: Mapped[str | None] = mapped_column(sa.String(20))
    consent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())   # to the profile attributes
    consent_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    cooperative = relationship("Cooperative")
    municipality = relationship("Municipality")


class OutcomeIndicator(TenantMixin, db.Model):
    """An outcome the territory measures (hours of respite for the carer, autonomy 1-5,
    goal reached yes/no...); each service chooses which of them it records."""

    __tablename__ = "outcome_indicator"
    __table_args__ = (sa.UniqueConstraint("territory_id", "code", name="uq_outcome_indicator_code"),)

    NUMBER = "number"
    SCALE = "scale_1_5"
    YES_NO = "yes_no"
    KINDS = (NUMBER, SCALE, YES_NO)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40))        # the column name in imports and the API
    name: Mapped[str] = mapped_column(sa.String(120))
    kind: Mapped[str] = mapped_column(sa.String(20), default=NUMBER)
    unit: Mapped[str] = mapped_column(sa.String(30), default="")
    description: Mapped[str] = mapped_column(sa.Text, default="")
    active: Mapped[bool] = mapped_column(default=True)


class ServiceIndicator(TenantMixin, db.Model):
    """An outcome indicator a service records with its deliveries."""

    __tablename__ = "service_indicator"
    __table_args__ = (sa.UniqueConstraint("service_id", "indicator_id", name="uq_service_indicator"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(sa.ForeignKey("service.id", ondelete="CASCADE"), index=True)
    indicator_id: Mapped[int] = mapped_column(sa.ForeignKey("outcome_indicator.id", ondelete="CASCADE"), index=True)

    indicator: Mapped[OutcomeIndicator] = relationship()


class DeliveryRecord(TenantMixin, db.Model):
    """One service actually given: when, how long, where, by whom, to whom, paid by whom,
    at what cost, with which outcomes. ``external_id`` makes imports and API pushes
    idempotent (unique per cooperative)."""

    __tablename__ = "delivery_record"
    __table_args__ = (
        sa.UniqueConstraint("cooperative_id", "external_id", name="uq_delivery_external_id"),
        sa.CheckConstraint("duration_minutes > 0", name="duration_positive"),
        sa.CheckConstraint("cost_cents >= 0", name="cost_not_negative"),
        sa.Index("ix_delivery_territory_date", "territory_id", "delivered_on"),
    )

    CHECKIN = "checkin"
    FORM = "form"
    IMPORT = "import"
    API = "api"
    SOURCES = (CHECKIN, FORM, IMPORT, API)

    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(sa.ForeignKey("cooperative.id", ondelete="CASCADE"), index=True)
    service_id: Mapped[int] = mapped_column(sa.ForeignKey("service.id", ondelete="RESTRICT"), index=True)
    beneficiary_id: Mapped[int] = mapped_column(sa.ForeignKey("beneficiary.id", ondelete="RESTRICT"), index=True)
    slot_id: Mapped[int | None] = mapped_column(sa.ForeignKey("slot.id", ondelete="SET NULL"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ticket.id", ondelete="SET NULL"), unique=True)
    external_id: Mapped[str] = mapped_column(sa.String(64))
    delivered_on: Mapped[dt.date] = mapped_column(sa.Date)
    starts_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    duration_minutes: Mapped[int] = mapped_column()
    at_home: Mapped[bool] = mapped_column(default=False)
    location: Mapped[str] = mapped_column(sa.String(200), default="")
    municipality_id: Mapped[int | None] = mapped_column(sa.ForeignKey("municipality.id", ondelete="SET NULL"), index=True)
    operator: Mapped[str] = mapped_column(sa.String(120), default="")   # a staff member or a role
    activity_type: Mapped[str] = mapped_column(sa.String(80), default="")
    funding_source: Mapped[str] = mapped_column(sa.String(30), default="citizen")
    funder_id: Mapped[int | None] = mapped_column(sa.ForeignKey("funder.id", ondelete="SET NULL"), index=True)
    cost_cents: Mapped[int] = mapped_column(default=0)
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    source: Mapped[str] = mapped_column(sa.String(10), default=FORM)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    service = relationship("Service")
    beneficiary: Mapped[Beneficiary] = relationship()
    municipality = relationship("Municipality")
    outcomes: Mapped[list["OutcomeValue"]] = relationship(back_populates="record", order_by="OutcomeValue.id",
                                                          cascade="all, delete-orphan")


class OutcomeValue(TenantMixin, db.Model):
    """The value of one outcome indicator recorded with a delivery."""

    __tablename__ = "outcome_value"
    __table_args__ = (sa.UniqueConstraint("record_id", "indicator_id", name="uq_outcome_value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(sa.ForeignKey("delivery_record.id", ondelete="CASCADE"), index=True)
    indicator_id: Mapped[int] = mapped_column(sa.ForeignKey("outcome_indicator.id", ondelete="RESTRICT"), index=True)
    value: Mapped[int] = mapped_column()   # numbers in the indicator's unit; scale 1-5; yes 1 / no 0

    record: Mapped[DeliveryRecord] = relationship(back_populates="outcomes")
    indicator: Mapped[OutcomeIndicator] = relationship()


class SurveyInvitation(TenantMixin, db.Model):
    """A single-use link to the satisfaction survey of one delivery or one booking; the
    answer is kept apart from who was asked (``SurveyResponse`` carries no person)."""

    __tablename__ = "survey_invitation"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    record_id: Mapped[int | None] = mapped_column(sa.ForeignKey("delivery_record.id", ondelete="CASCADE"), unique=True)
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("booking_order.id", ondelete="CASCADE"), unique=True)
    service_id: Mapped[int] = mapped_column(sa.ForeignKey("service.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(sa.String(254), default="")
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class SurveyResponse(TenantMixin, db.Model):
    """An anonymous answer: per service, 1-5 stars per dimension, recommend 0-10, comment."""

    __tablename__ = "survey_response"
    __table_args__ = (
        sa.CheckConstraint("recommend BETWEEN 0 AND 10", name="recommend_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(sa.ForeignKey("service.id", ondelete="CASCADE"), index=True)
    cooperative_id: Mapped[int] = mapped_column(sa.ForeignKey("cooperative.id", ondelete="CASCADE"), index=True)
    answered_on: Mapped[dt.date] = mapped_column(sa.Date, index=True)
    quality: Mapped[int] = mapped_column()
    punctuality: Mapped[int] = mapped_column()
    kindness: Mapped[int] = mapped_column()
    usefulness: Mapped[int] = mapped_column()
    recommend: Mapped[int] = mapped_column()
    comment: Mapped[str] = mapped_column(sa.Text, default="")


class DeliveryImport(TenantMixin, db.Model):
    """A CSV/XLSX file of delivery records being imported by a job, with its progress and
    the rows it refused (row number, column, reason)."""

    __tablename__ = "delivery_import"

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(sa.ForeignKey("cooperative.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(200))
    storage_key: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(10), default=QUEUED)
    total_rows: Mapped[int] = mapped_column(default=0)
    processed_rows: Mapped[int] = mapped_column(default=0)
    imported: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list] = mapped_column(sa.JSON, default=list)   # [[row, column, reason], ...] (first 1000)
    error_count: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class ApiToken(TenantMixin, db.Model):
    """A cooperative's token for pushing delivery records from its own software. Only a
    SHA-256 of the token is stored; it is shown once, when made. It works until revoked and,
    with ``expires_on``, up to and including that day (Italian time); never for a suspended
    cooperative (``services.api_tokens.authenticate``)."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(sa.ForeignKey("cooperative.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    expires_on: Mapped[dt.date | None] = mapped_column(sa.Date())  # None: until revoked

    cooperative = relationship("Cooperative")

    def is_expired(self, today: dt.date) -> bool:
        return self.expires_on is not None and today > self.expires_on


class AuditEntry(TenantMixin, db.Model):
    """Who viewed or exported personal data (beneficiaries, application documents, citizen
    look-ups), decided an application or changed a delegation, when, and why."""

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(sa.String(40))      # viewed / exported / imported ...
    subject: Mapped[str] = mapped_column(sa.String(200))    # what (e.g. "beneficiaries of cooperative 3")
    cooperative_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cooperative.id", ondelete="SET NULL"))
    # The funder whose data this is about (documents, decisions, delegations), if any.
    funder_id: Mapped[int | None] = mapped_column(sa.ForeignKey("funder.id", ondelete="SET NULL"), index=True)
    reason: Mapped[str] = mapped_column(sa.Text, default="", server_default="")    # why, as the person gave it
    detail: Mapped[str] = mapped_column(sa.String(255), default="", server_default="")  # e.g. found / not found
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)

    user = relationship("User")


class ReportRun(TenantMixin, db.Model):
    """A rendicontazione report for one funder and period, made by a job: its progress,
    who asked for it, and the stored file once ready (kept, so what was sent can be shown)."""

    __tablename__ = "report_run"

    QUEUED = "queued"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"
    PDF = "pdf"
    XLSX = "xlsx"

    id: Mapped[int] = mapped_column(primary_key=True)
    funder_id: Mapped[int | None] = mapped_column(sa.ForeignKey("funder.id", ondelete="SET NULL"), index=True)
    funding_source: Mapped[str] = mapped_column(sa.String(30), default="")   # "" = every source of the funder
    date_from: Mapped[dt.date] = mapped_column(sa.Date)
    date_to: Mapped[dt.date] = mapped_column(sa.Date)
    format: Mapped[str] = mapped_column(sa.String(4))
    status: Mapped[str] = mapped_column(sa.String(10), default=QUEUED)
    progress: Mapped[int] = mapped_column(default=0)          # percent
    message: Mapped[str] = mapped_column(sa.String(300), default="")
    storage_key: Mapped[str] = mapped_column(sa.String(200), default="")
    filename: Mapped[str] = mapped_column(sa.String(200), default="")
    size_bytes: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    funder = relationship("Funder")
    created_by = relationship("User")
