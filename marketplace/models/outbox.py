"""Outgoing e-mail, written in the same transaction as the change that causes it."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.extensions import db
from marketplace.models.base import UTCDateTime, utcnow


class OutboxMessage(db.Model):
    """Platform-level: the operator reads it when no mail server is configured."""

    __tablename__ = "outbox_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("territory.id", ondelete="SET NULL"), index=True
    )
    to_email: Mapped[str] = mapped_column(sa.String(254), index=True)
    subject: Mapped[str] = mapped_column(sa.String(250))
    body_text: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    transport: Mapped[str] = mapped_column(sa.String(20), default="")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    # What to attach, built at delivery time from current data, e.g. "order:123" (the
    # order's .ics calendar file and ticket QR codes). Empty: no attachments.
    attachments: Mapped[str] = mapped_column(sa.String(100), default="", server_default="")
