"""Bookable time (slots), what is sold (ticket types), orders, tickets and the money ledger."""
from __future__ import annotations

import datetime as dt
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.extensions import db
from marketplace.models.base import UTCDateTime, utcnow
from tenants.scoping import TenantMixin

# No 0/O/1/I: codes are read aloud at a desk and typed on phones.
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def new_code(length: int = 10) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


class Slot(TenantMixin, db.Model):
    """A bookable time of a service with a number of seats."""

    __tablename__ = "slot"

    OPEN = "open"
    CANCELLED = "cancelled"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(sa.ForeignKey("service.id", ondelete="CASCADE"), index=True)
    location_id: Mapped[int | None] = mapped_column(sa.ForeignKey("service_location.id", ondelete="SET NULL"))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    capacity: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(sa.String(20), default=OPEN)
    note: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    cancel_reason: Mapped[str] = mapped_column(sa.String(300), default="", server_default="")

    service = relationship("Service")
    ticket_types: Mapped[list["TicketType"]] = relationship(
        back_populates="slot", order_by="TicketType.position, TicketType.id")


class TicketType(TenantMixin, db.Model):
    """A kind of seat sold for a slot (intero, ridotto, bambino...), with its own quota."""

    __tablename__ = "ticket_type"

    id: Mapped[int] = mapped_column(primary_key=True)
    slot_id: Mapped[int] = mapped_column(sa.ForeignKey("slot.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    price_cents: Mapped[int] = mapped_column(default=0)
    quota: Mapped[int | None] = mapped_column()  # None: only the slot's capacity limits it
    min_per_order: Mapped[int] = mapped_column(default=0)
    max_per_order: Mapped[int] = mapped_column(default=10)
    position: Mapped[int] = mapped_column(default=0)

    slot: Mapped[Slot] = relationship(back_populates="ticket_types")

    __table_args__ = (sa.CheckConstraint("price_cents >= 0", name="price_not_negative"),)


class Order(TenantMixin, db.Model):
    """One checkout: held seats, then paid (or free), then possibly cancelled or refunded."""

    __tablename__ = "booking_order"

    PENDING = "pending"                    # seats held until hold_expires_at
    AWAITING_PAYMENT = "awaiting_payment"  # a payment was started, seats still held
    PAID = "paid"                          # confirmed (paid, or nothing to pay)
    CANCELLED = "cancelled"                # cancelled by the citizen or staff, refunds done
    EXPIRED = "expired"                    # hold ran out unpaid; seats back on sale
    STATUSES = (PENDING, AWAITING_PAYMENT, PAID, CANCELLED, EXPIRED)
    # The one place that says how an order may move.
    TRANSITIONS = {
        PENDING: {AWAITING_PAYMENT, PAID, EXPIRED, CANCELLED},
        AWAITING_PAYMENT: {PAID, EXPIRED, CANCELLED, PENDING},
        PAID: {CANCELLED},
        CANCELLED: set(),
        EXPIRED: set(),
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(12), unique=True, default=new_code)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True)
    email: Mapped[str] = mapped_column(sa.String(254), default="")
    status: Mapped[str] = mapped_column(sa.String(20), default=PENDING, index=True)
    total_cents: Mapped[int] = mapped_column(default=0)
    hold_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    booked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    # Where the booking was made: online by the citizen, or assisted at a help desk or by
    # a cooperative on the citizen's behalf (then ``booked_by_id`` and the consent are kept).
    channel: Mapped[str] = mapped_column(sa.String(20), default="online", server_default="online")
    consent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    cancel_reason: Mapped[str] = mapped_column(sa.String(300), default="", server_default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    paid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    ONLINE = "online"
    HELP_DESK = "help_desk"
    COOPERATIVE = "cooperative"
    CHANNELS = (ONLINE, HELP_DESK, COOPERATIVE)

    tickets: Mapped[list["Ticket"]] = relationship(back_populates="order", order_by="Ticket.id")
    payments: Mapped[list["Payment"]] = relationship(back_populates="order", order_by="Payment.id")
    ledger: Mapped[list["LedgerEntry"]] = relationship(back_populates="order", order_by="LedgerEntry.id")
    booked_by = relationship("User", foreign_keys=[booked_by_id])

    @property
    def is_assisted(self) -> bool:
        """Booked by staff on the citizen's behalf (help desk or cooperative)."""
        return self.booked_by_id is not None and self.channel != self.ONLINE

    @property
    def holds_seats(self) -> bool:
        return self.status in (self.PENDING, self.AWAITING_PAYMENT, self.PAID)


class Ticket(TenantMixin, db.Model):
    """One seat of one slot in an order; its code is what staff check in."""

    __tablename__ = "ticket"

    VALID = "valid"
    CANCELLED = "cancelled"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("booking_order.id", ondelete="CASCADE"), index=True)
    slot_id: Mapped[int] = mapped_column(sa.ForeignKey("slot.id", ondelete="CASCADE"), index=True)
    ticket_type_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket_type.id", ondelete="RESTRICT"), index=True)
    code: Mapped[str] = mapped_column(sa.String(12), unique=True, default=new_code)
    price_cents: Mapped[int] = mapped_column()
    participant_name: Mapped[str] = mapped_column(sa.String(120), default="")
    participant_age: Mapped[int | None] = mapped_column()
    status: Mapped[str] = mapped_column(sa.String(20), default=VALID)
    checked_in_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    checked_in_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))

    order: Mapped[Order] = relationship(back_populates="tickets")
    slot: Mapped[Slot] = relationship()
    ticket_type: Mapped[TicketType] = relationship()


class Payment(TenantMixin, db.Model):
    """One funding source's part of an order: card (stripe), desk, voucher, welfare credit.
    A PENDING voucher / welfare-credit payment is a reservation of that much of its balance
    (counted only while the order still holds its seats)."""

    __tablename__ = "payment"

    CREATED = "created"
    PENDING = "pending"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    REFUNDED = "refunded"
    TRANSITIONS = {
        CREATED: {PENDING, CONFIRMED, FAILED},
        PENDING: {CONFIRMED, FAILED},
        CONFIRMED: {REFUNDED},
        FAILED: set(),
        REFUNDED: set(),
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("booking_order.id", ondelete="RESTRICT"), index=True)
    provider: Mapped[str] = mapped_column(sa.String(20))
    provider_ref: Mapped[str] = mapped_column(sa.String(100), default="", index=True)
    voucher_id: Mapped[int | None] = mapped_column(sa.ForeignKey("voucher.id", ondelete="RESTRICT"), index=True)
    credit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("welfare_credit.id", ondelete="RESTRICT"), index=True)
    amount_cents: Mapped[int] = mapped_column()
    refunded_cents: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(sa.String(20), default=CREATED)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    order: Mapped[Order] = relationship(back_populates="payments")
    voucher = relationship("Voucher")
    credit = relationship("WelfareCredit")

    __table_args__ = (
        sa.CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
        sa.CheckConstraint("refunded_cents >= 0 AND refunded_cents <= amount_cents", name="refund_within_amount"),
    )


class LedgerEntry(TenantMixin, db.Model):
    """One movement of money, written only by ``payments.ledger``. For an order, positive:
    money in (charge); negative: money back (refund). A welfare credit's load (positive) and
    its release back to the employer on expiry (negative) have no order."""

    __tablename__ = "ledger_entry"

    CHARGE = "charge"
    REFUND = "refund"
    CREDIT_LOAD = "credit_load"
    CREDIT_RELEASE = "credit_release"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("booking_order.id", ondelete="RESTRICT"), index=True)
    payment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payment.id", ondelete="RESTRICT"), index=True)
    # Who else paid: set on voucher and welfare-credit movements (spend per funder is a sum).
    funder_id: Mapped[int | None] = mapped_column(sa.ForeignKey("funder.id", ondelete="RESTRICT"), index=True)
    voucher_id: Mapped[int | None] = mapped_column(sa.ForeignKey("voucher.id", ondelete="RESTRICT"), index=True)
    credit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("welfare_credit.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    amount_cents: Mapped[int] = mapped_column()
    provider: Mapped[str] = mapped_column(sa.String(20))
    provider_ref: Mapped[str] = mapped_column(sa.String(100), default="")
    # The same movement reported twice (webhook and return URL) is written once.
    idempotency_key: Mapped[str] = mapped_column(sa.String(120), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    order: Mapped[Order | None] = relationship(back_populates="ledger")
    payment: Mapped[Payment | None] = relationship()


class WaitlistEntry(TenantMixin, db.Model):
    """A citizen waiting for seats of a full slot. When seats free up, the first in line
    gets them held in an order (``order_id``) until ``offer_expires_at`` and an e-mail with
    the link to confirm; if they let it lapse, the seats go to the next in line."""

    __tablename__ = "waitlist_entry"

    WAITING = "waiting"
    OFFERED = "offered"
    BOOKED = "booked"
    EXPIRED = "expired"   # the offer lapsed
    LEFT = "left"         # the citizen left the list (or the slot was cancelled)
    STATUSES = (WAITING, OFFERED, BOOKED, EXPIRED, LEFT)

    id: Mapped[int] = mapped_column(primary_key=True)
    slot_id: Mapped[int] = mapped_column(sa.ForeignKey("slot.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True)
    email: Mapped[str] = mapped_column(sa.String(254), default="")
    quantity: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(sa.String(20), default=WAITING, index=True)
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("booking_order.id", ondelete="SET NULL"))
    offered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    offer_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    slot: Mapped[Slot] = relationship()
    order: Mapped[Order | None] = relationship()

    __table_args__ = (sa.CheckConstraint("quantity > 0", name="quantity_positive"),)


class ServiceRequest(TenantMixin, db.Model):
    """A citizen asks for a service that is arranged rather than booked (e.g. home care);
    staff accept it with a date or decline it with a reason."""

    __tablename__ = "service_request"

    REQUESTED = "requested"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    STATUSES = (REQUESTED, ACCEPTED, DECLINED, WITHDRAWN)
    TRANSITIONS = {
        REQUESTED: {ACCEPTED, DECLINED, WITHDRAWN},
        ACCEPTED: {WITHDRAWN},
        DECLINED: set(),
        WITHDRAWN: set(),
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(12), unique=True, default=new_code)
    service_id: Mapped[int] = mapped_column(sa.ForeignKey("service.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True)
    email: Mapped[str] = mapped_column(sa.String(254), default="")
    phone: Mapped[str] = mapped_column(sa.String(30), default="")
    beneficiary_name: Mapped[str] = mapped_column(sa.String(120), default="")
    beneficiary_age: Mapped[int | None] = mapped_column()
    municipality_id: Mapped[int | None] = mapped_column(sa.ForeignKey("municipality.id", ondelete="SET NULL"))
    preferred_times: Mapped[str] = mapped_column(sa.String(500), default="")
    message: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[str] = mapped_column(sa.String(20), default=REQUESTED, index=True)
    starts_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())   # the date staff give
    staff_message: Mapped[str] = mapped_column(sa.Text, default="")         # with the date
    decline_reason: Mapped[str] = mapped_column(sa.Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    channel: Mapped[str] = mapped_column(sa.String(20), default="online")
    booked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    consent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    service = relationship("Service")
    municipality = relationship("Municipality")


class WebhookEvent(db.Model):
    """Provider events already handled (platform-level: ids are the provider's)."""

    __tablename__ = "webhook_event"

    id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(20))
    type: Mapped[str] = mapped_column(sa.String(80))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
