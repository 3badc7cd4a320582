"""A service's cancellation policy: what a citizen gets back when cancelling, and how we
say it. The page text and the cancellation both read it from here, so they cannot differ.

Full refund until ``free_cancel_hours`` before the start; then ``late_refund_percent`` of
what was paid (rounded down to the cent) until the start; after the start, no online
cancellation. A free booking can be cancelled until the start.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import format_datetime, gettext, lazy_gettext as _l, ngettext

from marketplace.models import Order, Payment
from marketplace.models.base import utcnow

# How citizens get a service, and what is asked of each participant (Service columns).
BOOKING_MODES = {
    "slots": _l("Citizens book a date"),
    "request": _l("Citizens ask for it and you propose a date (e.g. home care)"),
}
PARTICIPANT_FIELDS = {
    "": _l("Nothing"),
    "name": _l("Name of each participant"),
    "name_age": _l("Name and age of each participant"),
}
MAX_FREE_CANCEL_HOURS = 720


@dataclass(frozen=True)
class Quote:
    """What cancelling ``order`` at ``now`` means for the citizen."""

    paid_cents: int              # what the order has brought in and still holds
    refund_cents: int            # what would go back now
    deadline: dt.datetime | None  # end of free cancellation (None: no date)
    starts_at: dt.datetime | None
    percent: int                 # late refund percentage of the service
    can_cancel: bool             # online, now
    late: bool                   # after the deadline, before the start: not everything goes back

    @property
    def kept_cents(self) -> int:
        return self.paid_cents - self.refund_cents


def order_start(order: Order) -> dt.datetime | None:
    return min((t.slot.starts_at for t in order.tickets), default=None)


def order_service(order: Order):
    return order.tickets[0].slot.service if order.tickets else None


def paid_cents(order: Order) -> int:
    """Money of the order's confirmed payments not refunded yet."""
    return sum(p.amount_cents - p.refunded_cents for p in order.payments if p.status == Payment.CONFIRMED)


def deadline_for(service, starts_at: dt.datetime | None) -> dt.datetime | None:
    if starts_at is None:
        return None
    return starts_at - dt.timedelta(hours=service.free_cancel_hours if service is not None else 0)


def quote(order: Order, now: dt.datetime | None = None) -> Quote:
    """The refund due if ``order`` is cancelled by the citizen at ``now``."""
    now = now or utcnow()
    service = order_service(order)
    starts = order_start(order)
    deadline = deadline_for(service, starts)
    percent = service.late_refund_percent if service is not None else 0
    paid = paid_cents(order)
    started = starts is not None and starts <= now
    can_cancel = order.status in (Order.PENDING, Order.AWAITING_PAYMENT, Order.PAID) and not started
    late = can_cancel and deadline is not None and deadline <= now and paid > 0
    if not can_cancel:
        refund = 0
    elif late:
        refund = paid * percent // 100
    else:
        refund = paid
    return Quote(paid, refund, deadline, starts, percent, can_cancel, late)


def refund_due(order: Order, now: dt.datetime | None = None) -> tuple[int, dt.datetime | None]:
    """(cents that would be refunded if the citizen cancelled at ``now``, free-cancellation deadline)."""
    q = quote(order, now)
    return q.refund_cents, q.deadline


def _when(moment: dt.datetime) -> str:
    return format_datetime(moment, "EEE d MMMM, HH:mm")


def _after(service) -> str:
    percent = service.late_refund_percent
    if percent >= 100:
        return gettext("After that, the whole price is refunded until the start.")
    if percent <= 0:
        return gettext("After that, no refund.")
    return gettext("After that, %(percent)d%% of the price is refunded.", percent=percent)


def describe(service, starts_at: dt.datetime | None = None, free: bool = False) -> str:
    """The policy in plain words, for a given date (or in general when ``starts_at`` is None)."""
    if free:
        return gettext("Free bookings can be cancelled online until the start.")
    hours = service.free_cancel_hours
    if hours <= 0:
        return gettext("Free cancellation until the start.")
    if starts_at is not None:
        first = gettext("Free cancellation until %(when)s.", when=_when(deadline_for(service, starts_at)))
    else:
        first = ngettext("Free cancellation until %(num)d hour before the date.",
                         "Free cancellation until %(num)d hours before the date.", hours)
    return f"{first} {_after(service)}"


def describe_order(order: Order) -> str:
    service = order_service(order)
    if service is None:
        return ""
    return describe(service, order_start(order), free=order.total_cents == 0)
