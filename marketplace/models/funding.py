"""Who else pays: funders (municipalities, districts, employers, foundations), their voucher
programmes and applications, vouchers, employees and their welfare credits.

Money semantics (the ledger is the truth, balances are kept by ``payments.ledger`` only):

- A programme's budget is *committed* when a voucher is issued: committed = the face value
  (``Voucher.amount_cents``) of its vouchers that are not cancelled. Issuing locks the
  programme row and recounts (``services.programmes``), so no budget is over-committed.
- A voucher or a welfare credit pays part of an order through a ``Payment`` with provider
  ``voucher`` / ``welfare_credit`` and ``voucher_id`` / ``credit_id`` set. A PENDING such
  payment is a *reservation*: it counts against the balance only while its order still holds
  its seats, so a crash mid-checkout releases it when the hold runs out.
- Its CHARGE / REFUND ledger entries carry ``voucher_id`` / ``credit_id`` and ``funder_id``
  and move ``balance_cents`` (charge: down, refund: back up).
- A welfare credit's money comes in with a CREDIT_LOAD entry and, when it expires unused,
  goes back to the employer with a CREDIT_RELEASE entry (no order on either).
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.extensions import db
from marketplace.models.base import UTCDateTime, utcnow
from marketplace.models.booking import new_code
from tenants.scoping import TenantMixin


class Funder(TenantMixin, db.Model):
    """A payer other than the family: a municipality or social district (voucher
    programmes), an employer (welfare credits for its employees), a foundation."""

    __tablename__ = "funder"

    MUNICIPALITY = "municipality"
    DISTRICT = "district"
    EMPLOYER = "employer"
    FOUNDATION = "foundation"
    KINDS = (MUNICIPALITY, DISTRICT, EMPLOYER, FOUNDATION)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(160))
    kind: Mapped[str] = mapped_column(sa.String(20))
    vat_number: Mapped[str] = mapped_column(sa.String(20), default="", server_default="")
    fiscal_code: Mapped[str] = mapped_column(sa.String(20), default="", server_default="")
    email: Mapped[str] = mapped_column(sa.String(254), default="", server_default="")
    # Employers: employees join with this code (or by an e-mailed invitation).
    join_code: Mapped[str] = mapped_column(sa.String(12), unique=True, default=new_code)
    # Employers: the verticals their credits may pay for (empty: every vertical).
    eligible_verticals: Mapped[list] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    programmes: Mapped[list["Programme"]] = relationship(back_populates="funder", order_by="Programme.id")

    @property
    def is_employer(self) -> bool:
        return self.kind == self.EMPLOYER


class Programme(TenantMixin, db.Model):
    """A call for applications (bando) that issues vouchers out of a budget."""

    __tablename__ = "programme"

    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"
    STATUSES = (DRAFT, OPEN, CLOSED)

    FIXED = "fixed"      # a voucher is worth value_cents
    PERCENT = "percent"  # pays percent% of each eligible order, up to cap_cents in all
    HOURS = "hours"      # worth hours x value_cents (the value of one hour)
    VALUE_KINDS = (FIXED, PERCENT, HOURS)

    id: Mapped[int] = mapped_column(primary_key=True)
    funder_id: Mapped[int] = mapped_column(sa.ForeignKey("funder.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[str] = mapped_column(sa.String(20), default=DRAFT, index=True)
    budget_cents: Mapped[int] = mapped_column()
    # Vouchers are valid (may pay) from starts_on to ends_on included.
    starts_on: Mapped[dt.date] = mapped_column(sa.Date)
    ends_on: Mapped[dt.date] = mapped_column(sa.Date)
    # Citizens may apply from applications_open_on to applications_close_on included.
    applications_open_on: Mapped[dt.date] = mapped_column(sa.Date)
    applications_close_on: Mapped[dt.date] = mapped_column(sa.Date)
    # What the vouchers may pay for; an empty list means "any".
    eligible_verticals: Mapped[list] = mapped_column(sa.JSON, default=list)
    eligible_service_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    eligible_cooperative_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    value_kind: Mapped[str] = mapped_column(sa.String(20), default=FIXED)
    value_cents: Mapped[int] = mapped_column(default=0)
    percent: Mapped[int | None] = mapped_column()
    cap_cents: Mapped[int | None] = mapped_column()
    hours: Mapped[int | None] = mapped_column()
    # Eligibility of the beneficiary; empty / None means "no condition".
    municipality_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    min_age: Mapped[int | None] = mapped_column()
    max_age: Mapped[int | None] = mapped_column()
    max_isee_cents: Mapped[int | None] = mapped_column()
    declarations: Mapped[list] = mapped_column(sa.JSON, default=list)   # texts the applicant declares true
    documents: Mapped[list] = mapped_column(sa.JSON, default=list)      # labels of the uploads asked for
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    funder: Mapped[Funder] = relationship(back_populates="programmes")

    __table_args__ = (
        sa.CheckConstraint("budget_cents >= 0", name="budget_not_negative"),
        sa.CheckConstraint("ends_on >= starts_on", name="period_ordered"),
    )

    @property
    def voucher_value_cents(self) -> int:
        """The face value of one voucher: what issuing it commits of the budget."""
        if self.value_kind == self.PERCENT:
            return int(self.cap_cents or 0)
        if self.value_kind == self.HOURS:
            return int(self.hours or 0) * int(self.value_cents or 0)
        return int(self.value_cents or 0)

    def accepting_applications(self, today: dt.date) -> bool:
        return self.status == self.OPEN and self.applications_open_on <= today <= self.applications_close_on


class Application(TenantMixin, db.Model):
    """A citizen's application to a programme, for themselves or a named beneficiary."""

    __tablename__ = "programme_application"

    DRAFT = "draft"
    SUBMITTED = "submitted"
    NEEDS_INFO = "needs_info"   # the officer asked for more; the applicant edits and resubmits
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    STATUSES = (DRAFT, SUBMITTED, NEEDS_INFO, APPROVED, REJECTED, WITHDRAWN)
    TRANSITIONS = {
        DRAFT: {SUBMITTED, WITHDRAWN},
        SUBMITTED: {APPROVED, REJECTED, NEEDS_INFO, WITHDRAWN},
        NEEDS_INFO: {SUBMITTED, REJECTED, WITHDRAWN},
        APPROVED: set(),
        REJECTED: set(),
        WITHDRAWN: set(),
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(12), unique=True, default=new_code)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("programme.id", ondelete="RESTRICT"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True)
    beneficiary_name: Mapped[str] = mapped_column(sa.String(120), default="")
    beneficiary_birth_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    municipality_id: Mapped[int | None] = mapped_column(sa.ForeignKey("municipality.id", ondelete="SET NULL"))
    isee_cents: Mapped[int | None] = mapped_column()
    declarations_accepted: Mapped[list] = mapped_column(sa.JSON, default=list)  # indexes into programme.declarations
    note: Mapped[str] = mapped_column(sa.Text, default="")               # the applicant's
    status: Mapped[str] = mapped_column(sa.String(20), default=DRAFT, index=True)
    officer_message: Mapped[str] = mapped_column(sa.Text, default="")    # reason, or what is missing
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    programme: Mapped[Programme] = relationship()
    user = relationship("User", foreign_keys=[user_id])
    municipality = relationship("Municipality")
    documents: Mapped[list["ApplicationDocument"]] = relationship(
        back_populates="application", order_by="ApplicationDocument.id")


class ApplicationDocument(TenantMixin, db.Model):
    """An uploaded file of an application, stored privately (never under static/)."""

    __tablename__ = "application_document"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("programme_application.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(sa.String(200))            # which requested document it is
    filename: Mapped[str] = mapped_column(sa.String(200))         # the name the citizen gave it
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size_bytes: Mapped[int] = mapped_column()
    storage_key: Mapped[str] = mapped_column(sa.String(200), unique=True)  # path under the private store
    sha256: Mapped[str] = mapped_column(sa.String(64))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    application: Mapped[Application] = relationship(back_populates="documents")


class Voucher(TenantMixin, db.Model):
    """A municipal entitlement (buono servizio): pays eligible orders of its holder up to
    its balance, from ``valid_from`` to ``valid_until`` included."""

    __tablename__ = "voucher"

    ACTIVE = "active"
    CANCELLED = "cancelled"

    APPLICATION = "application"  # issued when an application was approved
    BULK = "bulk"                # issued from a CSV of beneficiaries
    PRINTED = "printed"          # a printed code, claimed by whoever types it (help desk)
    CHANNELS = (APPLICATION, BULK, PRINTED)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(12), unique=True, default=new_code)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("programme.id", ondelete="RESTRICT"), index=True)
    funder_id: Mapped[int] = mapped_column(sa.ForeignKey("funder.id", ondelete="RESTRICT"), index=True)
    application_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("programme_application.id", ondelete="SET NULL"), unique=True)
    holder_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True)
    holder_email: Mapped[str] = mapped_column(sa.String(254), default="", server_default="")  # bulk, before sign-up
    beneficiary_name: Mapped[str] = mapped_column(sa.String(120), default="")
    amount_cents: Mapped[int] = mapped_column()      # face value, committed to the programme's budget
    balance_cents: Mapped[int] = mapped_column()     # moved only by payments.ledger
    percent: Mapped[int | None] = mapped_column()    # percent programmes: share of each order it pays
    valid_from: Mapped[dt.date] = mapped_column(sa.Date)
    valid_until: Mapped[dt.date] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(20), default=ACTIVE, index=True)
    channel: Mapped[str] = mapped_column(sa.String(20), default=APPLICATION)
    issued_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    programme: Mapped[Programme] = relationship()
    funder: Mapped[Funder] = relationship()
    holder = relationship("User", foreign_keys=[holder_id])
    application = relationship("Application", foreign_keys=[application_id])

    __table_args__ = (
        sa.CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
        sa.CheckConstraint("balance_cents >= 0 AND balance_cents <= amount_cents", name="balance_within_amount"),
    )

    def valid_on(self, day: dt.date) -> bool:
        return self.status == self.ACTIVE and self.valid_from <= day <= self.valid_until


class Employee(TenantMixin, db.Model):
    """A person an employer gives welfare credits to; linked to an account once they join
    (by the e-mailed invitation or the employer's join code)."""

    __tablename__ = "employee"

    INVITED = "invited"
    ACTIVE = "active"
    REMOVED = "removed"

    id: Mapped[int] = mapped_column(primary_key=True)
    funder_id: Mapped[int] = mapped_column(sa.ForeignKey("funder.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True)
    email: Mapped[str] = mapped_column(sa.String(254))
    full_name: Mapped[str] = mapped_column(sa.String(120), default="")
    status: Mapped[str] = mapped_column(sa.String(20), default=INVITED)
    invite_code: Mapped[str] = mapped_column(sa.String(12), unique=True, default=new_code)
    joined_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    funder: Mapped[Funder] = relationship()
    user = relationship("User")
    credits: Mapped[list["WelfareCredit"]] = relationship(back_populates="employee", order_by="WelfareCredit.id")

    __table_args__ = (sa.UniqueConstraint("funder_id", "email", name="uq_employee_email"),)


class WelfareCredit(TenantMixin, db.Model):
    """One load of welfare credit for an employee, usable until ``expires_on`` included;
    what is left then goes back to the employer (CREDIT_RELEASE in the ledger)."""

    __tablename__ = "welfare_credit"

    ACTIVE = "active"
    RELEASED = "released"   # expired; the unused balance went back to the employer

    id: Mapped[int] = mapped_column(primary_key=True)
    funder_id: Mapped[int] = mapped_column(sa.ForeignKey("funder.id", ondelete="RESTRICT"), index=True)
    employee_id: Mapped[int] = mapped_column(sa.ForeignKey("employee.id", ondelete="RESTRICT"), index=True)
    amount_cents: Mapped[int] = mapped_column()      # what was loaded
    balance_cents: Mapped[int] = mapped_column(default=0)  # moved only by payments.ledger
    expires_on: Mapped[dt.date] = mapped_column(sa.Date, index=True)
    status: Mapped[str] = mapped_column(sa.String(20), default=ACTIVE, index=True)
    note: Mapped[str] = mapped_column(sa.String(200), default="")
    loaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    funder: Mapped[Funder] = relationship()
    employee: Mapped[Employee] = relationship(back_populates="credits")

    __table_args__ = (
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
        sa.CheckConstraint("balance_cents >= 0 AND balance_cents <= amount_cents", name="balance_within_amount"),
    )

    def usable_on(self, day: dt.date) -> bool:
        return self.status == self.ACTIVE and day <= self.expires_on
