"""Card checkout: start a PaymentIntent, confirm what Stripe says, refund through the ledger.

Every function runs inside a territory scope and the caller's transaction; the caller
commits. Confirmation always re-fetches the intent from Stripe (a callback's copy is
never trusted) and is idempotent: the webhook and the return URL may both call it.
"""
from __future__ import annotations

import logging
from functools import partial
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from marketplace.extensions import after_commit, db
from marketplace.models import LedgerEntry, Order, Payment
from marketplace.models.base import utcnow
from marketplace.services import DomainError, booking, funding
from payments import ledger
from payments.providers import ProviderError, ProviderStatus, get_provider
from payments.providers.stripe import card_payments_enabled

log = logging.getLogger(__name__)

PROVIDER = "stripe"


@dataclass
class CheckoutResult:
    """What the caller tells the citizen: ``status`` is paid, failed, requires_action,
    pending or refunded (paid too late: the money went back)."""

    status: str
    payment_id: int
    message: object = ""
    client_data: dict | None = None


def start_card_payment(order: Order, payment_method: str | None = None) -> tuple[Payment, dict]:
    """A pending card Payment for the order's total and its PaymentIntent; the order goes
    to awaiting_payment. Returns (payment, client data for Stripe.js). An intent already
    pending for the order is reused. Raises DomainError if the order cannot be paid now,
    ProviderError if Stripe fails (the caller rolls back then)."""
    if not card_payments_enabled():
        raise DomainError(_l("Card payments are not available."))
    due = funding.card_due(order)
    if order.total_cents <= 0 or due <= 0:
        raise DomainError(_l("This booking has nothing to pay."))
    if order.status not in (Order.PENDING, Order.AWAITING_PAYMENT):
        raise DomainError(_l("This booking can no longer be paid."))
    if order.hold_expires_at is not None and order.hold_expires_at <= utcnow():
        raise DomainError(_l("Your reservation expired. Please choose your seats again."))
    provider = get_provider(PROVIDER)
    for existing in order.payments:
        if existing.provider == PROVIDER and existing.status == Payment.PENDING and existing.provider_ref:
            if existing.amount_cents == due:
                return existing, provider.client_data(existing.provider_ref)
    payment = Payment(territory_id=order.territory_id, order_id=order.id, order=order,
                      provider=PROVIDER, amount_cents=due, status=Payment.CREATED)
    db.session.add(payment)
    db.session.flush()  # the intent's metadata carries the payment id
    data = provider.start(payment, payment_method=payment_method)
    payment.provider_ref = data["provider_ref"]
    ledger.transition_payment(payment, Payment.PENDING)
    booking.transition(order, Order.AWAITING_PAYMENT)
    db.session.flush()
    return payment, data


def submit_card(order: Order, payment: Payment, payment_method: str) -> str:
    """Pay ``payment`` with the card the browser turned into ``payment_method``: Stripe
    charges it now (server-side confirmation). Writes nothing here: the return URL and the
    webhook settle the payment through ``confirm_from_provider`` as for any intent. Returns
    Stripe's status (``requires_action`` means Stripe.js must run 3-D Secure next). Raises
    DomainError if the payment cannot be made now, ProviderError if Stripe fails."""
    if payment.provider != PROVIDER or payment.order_id != order.id or not payment.provider_ref:
        raise DomainError(_l("Payment not found."))
    if payment.status != Payment.PENDING or order.status not in (Order.PENDING, Order.AWAITING_PAYMENT):
        raise DomainError(_l("This booking can no longer be paid."))
    if order.hold_expires_at is not None and order.hold_expires_at <= utcnow():
        raise DomainError(_l("Your reservation expired. Please choose your seats again."))
    return get_provider(PROVIDER).attach_and_confirm(payment.provider_ref, payment_method)


def find_payment(payment_id: int | None = None, intent_id: str | None = None) -> Payment | None:
    """A card payment of this territory by our id or by its PaymentIntent id."""
    query = select(Payment).where(Payment.provider == PROVIDER)
    if payment_id is not None:
        query = query.where(Payment.id == int(payment_id))
    elif intent_id:
        query = query.where(Payment.provider_ref == intent_id)
    else:
        return None
    return db.session.execute(query).scalar_one_or_none()


def confirm_from_provider(payment_id: int | None = None, intent_id: str | None = None) -> CheckoutResult:
    """Bring a card payment in line with its PaymentIntent as Stripe reports it now.

    Succeeded with the right amount: the payment is confirmed, one CHARGE is written and
    the order is paid (a second call changes nothing). Declined or canceled: the payment
    fails and the order is pending again, its seats held until the hold expires.
    Raises DomainError if the payment is unknown here, ProviderError if Stripe is unreachable.
    """
    payment = find_payment(payment_id, intent_id)
    if payment is None or not payment.provider_ref:
        raise DomainError(_l("Payment not found."))
    # Ask Stripe before taking the row lock: no network wait while holding it.
    provider = get_provider(PROVIDER)
    status = provider.fetch(payment.provider_ref)
    payment = ledger.lock_payment(payment.id)
    order = db.session.execute(
        select(Order).where(Order.id == payment.order_id).execution_options(populate_existing=True)
    ).scalar_one()

    if status.state == ProviderStatus.SUCCEEDED:
        return _settle(payment, order, status)
    if status.state == ProviderStatus.FAILED:
        if payment.status in (Payment.CREATED, Payment.PENDING):
            ledger.transition_payment(payment, Payment.FAILED)
            # Vouchers and credits reserved beside the card go back: the citizen chooses again.
            funding.release(order)
            if order.status == Order.AWAITING_PAYMENT:
                booking.transition(order, Order.PENDING)
            if status.raw_status != "canceled":
                # A retry gets a new Payment and intent; this one must not succeed later.
                after_commit(partial(provider.cancel_quietly, payment.provider_ref))
        return CheckoutResult("failed", payment.id, _l(
            "The payment did not go through (%(reason)s). Your seats are still held: "
            "you can try again with another card.", reason=status.error or status.raw_status))
    if payment.status == Payment.CONFIRMED:
        return CheckoutResult("paid", payment.id, _l("Your booking is paid."))
    if status.state == ProviderStatus.REQUIRES_ACTION:
        return CheckoutResult("requires_action", payment.id,
                              _l("Your bank asks you to confirm the payment."),
                              {"provider_ref": payment.provider_ref})
    return CheckoutResult("pending", payment.id, _l("The payment is not complete yet."))


def _settle(payment: Payment, order: Order, status: ProviderStatus) -> CheckoutResult:
    if (status.amount_cents != payment.amount_cents or status.currency != "eur"
            or status.metadata.get("payment_id") not in (None, str(payment.id))):
        log.error("stripe intent %s does not match payment %s (%s %s)", status.ref, payment.id,
                  status.amount_cents, status.currency)
        raise DomainError(_l("The amount paid does not match this booking. Please contact us."))
    if payment.status == Payment.FAILED:
        # Succeeded on an intent we had given up on (and could not cancel): needs a person.
        log.error("stripe intent %s succeeded on failed payment %s", status.ref, payment.id)
        raise DomainError(_l("This payment needs checking by our staff. Please contact us."))
    already_settled = payment.status not in (Payment.CREATED, Payment.PENDING)
    ledger.record(payment, LedgerEntry.CHARGE, status.amount_cents,
                  idempotency_key=f"stripe:{status.ref}:charge", provider_ref=status.ref)
    if order.status == Order.PAID:
        return CheckoutResult("paid", payment.id, _l("Your booking is paid."))
    if already_settled:  # handled before (paid too late, or cancelled since): nothing to do
        return CheckoutResult("refunded" if payment.refunded_cents else "paid", payment.id,
                              _l("This payment was already handled."))
    hold_over = order.hold_expires_at is not None and order.hold_expires_at <= utcnow()
    if order.status in (Order.PENDING, Order.AWAITING_PAYMENT) and not hold_over:
        # The card pays what vouchers and credits leave; those are charged now, with it.
        problem = None
        if payment.amount_cents + funding.funded_cents(order) != order.total_cents:
            problem = _l("How this booking is paid changed while you were paying. "
                         "We refunded the card: please choose how to pay again.")
        else:
            try:
                funding.settle(order)
            except DomainError as exc:
                problem = exc.message
        if problem is not None:
            funding.release(order)
            if order.status == Order.AWAITING_PAYMENT:
                booking.transition(order, Order.PENDING)
            refund_card(payment, payment.amount_cents)
            return CheckoutResult("refunded", payment.id, problem)
        booking.transition(order, Order.PAID)
        # The one place a card payment makes an order paid, whether the webhook or the
        # return URL got here first: the confirmation is queued once, sent after commit.
        from marketplace.services.tickets import send_confirmation

        send_confirmation(order)
        return CheckoutResult("paid", payment.id, _l("Your booking is paid."))
    # Paid after the hold ran out (or the order was cancelled): the seats may be sold to
    # someone else, so the money goes back rather than risking an oversell.
    if order.status in (Order.PENDING, Order.AWAITING_PAYMENT):
        booking.transition(order, Order.EXPIRED)
    refund_card(payment, payment.amount_cents)
    return CheckoutResult("refunded", payment.id, _l(
        "Your reservation expired before the payment arrived, so we refunded it. "
        "Please choose your seats again."))


def refund_card(payment: Payment, amount_cents: int) -> LedgerEntry:
    """Refund ``amount_cents`` of a confirmed card payment through Stripe and the ledger.

    The ledger's rule (never more than what was paid) is checked under the payment's row
    lock BEFORE Stripe is called. Raises LedgerError when refused, ProviderError when Stripe
    fails (nothing written then)."""
    payment = ledger.lock_payment(payment.id)
    if payment is None or payment.provider != PROVIDER:
        raise DomainError(_l("Payment not found."))
    if not isinstance(amount_cents, int) or amount_cents <= 0:
        raise ledger.LedgerError(_l("An amount must be a positive number of cents."))
    if payment.status != Payment.CONFIRMED:
        raise ledger.LedgerError(_l("Only a confirmed payment can be refunded."))
    if payment.refunded_cents + amount_cents > payment.amount_cents:
        raise ledger.LedgerError(_l("A refund cannot be larger than what was paid."))
    # Same payment state and amount -> same key: a retry after a crash gets the same refund.
    key = f"refund:{payment.provider_ref}:{payment.refunded_cents}:{amount_cents}"
    refund_id = get_provider(PROVIDER).refund(payment, amount_cents, idempotency_key=key)
    return ledger.record(payment, LedgerEntry.REFUND, amount_cents,
                         idempotency_key=f"stripe:{refund_id}", provider_ref=refund_id)


DESK = "desk"


def pay_at_desk(order: Order, staff_user) -> Payment:
    """The citizen paid at a help desk or cooperative counter (cash or POS), to
    ``staff_user``, what vouchers and credits reserved for the order leave: those are
    charged, a confirmed "desk" Payment with one CHARGE in the ledger, the order paid.
    Raises DomainError if the order cannot be paid now (nothing written)."""
    due = funding.card_due(order)
    if order.total_cents <= 0 or due <= 0:
        raise DomainError(_l("This booking has nothing to pay."))
    if order.status not in (Order.PENDING, Order.AWAITING_PAYMENT):
        raise DomainError(_l("This booking can no longer be paid."))
    if order.hold_expires_at is not None and order.hold_expires_at <= utcnow():
        raise DomainError(_l("Your reservation expired. Please choose your seats again."))
    if any(p.provider == PROVIDER and p.status == Payment.PENDING for p in order.payments):
        # The citizen may be paying by card right now: taking cash too could charge twice.
        raise DomainError(_l("A card payment was started for this booking: wait for it to finish "
                             "or expire before taking the money at the desk."))
    funding.settle(order)  # vouchers and credits reserved for it are charged with the desk part
    payment = Payment(territory_id=order.territory_id, order_id=order.id, order=order,
                      provider=DESK, amount_cents=due, status=Payment.CREATED)
    db.session.add(payment)
    db.session.flush()
    ref = get_provider(DESK).start(payment, staff_user=staff_user)["provider_ref"]
    payment.provider_ref = ref
    db.session.flush()
    payment = ledger.lock_payment(payment.id)
    ledger.record(payment, LedgerEntry.CHARGE, payment.amount_cents,
                  idempotency_key=f"desk:{ref}:charge", provider_ref=ref)
    booking.transition(order, Order.PAID)
    return payment


def refund_payment(payment: Payment, amount_cents: int) -> LedgerEntry:
    """Refund ``amount_cents`` of a confirmed payment of any provider, through the
    provider and the ledger. Card payments go through ``refund_card``; any other provider
    gets the same checks under the payment's row lock before it is called. Raises
    LedgerError when refused, ProviderError when the provider fails (nothing written then)."""
    if payment.provider == PROVIDER:
        return refund_card(payment, amount_cents)
    payment = ledger.lock_payment(payment.id)
    if payment is None:
        raise DomainError(_l("Payment not found."))
    if not isinstance(amount_cents, int) or amount_cents <= 0:
        raise ledger.LedgerError(_l("An amount must be a positive number of cents."))
    if payment.status != Payment.CONFIRMED:
        raise ledger.LedgerError(_l("Only a confirmed payment can be refunded."))
    if payment.refunded_cents + amount_cents > payment.amount_cents:
        raise ledger.LedgerError(_l("A refund cannot be larger than what was paid."))
    try:
        provider = get_provider(payment.provider)
    except KeyError as exc:
        raise ProviderError(f"unknown payment provider {payment.provider!r}") from exc
    key = f"refund:{payment.provider}:{payment.id}:{payment.refunded_cents}:{amount_cents}"
    refund_ref = provider.refund(payment, amount_cents, idempotency_key=key)
    return ledger.record(payment, LedgerEntry.REFUND, amount_cents,
                         idempotency_key=f"{payment.provider}:refund:{refund_ref or key}",
                         provider_ref=refund_ref or "")


class LateCancellation(DomainError):
    """Cancelling now does not give everything back: the citizen must agree first.
    ``quote`` says what would be refunded."""

    def __init__(self, message, quote):
        super().__init__(message)
        self.quote = quote


def cancel_paid(order: Order, accept_late: bool = False, now=None) -> int:
    """Cancel a paid booking as its service's policy allows, refunding every confirmed
    payment through ``refund_payment``; the seats return to sale. Returns the cents refunded.

    Before the deadline everything paid goes back; after it and before the start,
    ``late_refund_percent`` of it (rounded down), shared among the sources in proportion
    to what each paid (``funding.split_refund``), and only if ``accept_late`` (else
    LateCancellation, nothing changed). After the start: DomainError."""
    from marketplace.models import Ticket
    from marketplace.services import policy

    order = booking.lock_order(order)
    if order.status != Order.PAID:
        raise DomainError(_l("Only a confirmed booking can be cancelled."))
    quote = policy.quote(order, now)
    if not quote.can_cancel:
        raise DomainError(_l("This date has already started: the booking can no longer be cancelled online. "
                             "Please contact the cooperative."))
    if quote.late and not accept_late:
        raise LateCancellation(_l("The free cancellation period is over: please confirm what will be refunded."),
                               quote)
    refunded = 0
    # Each source gets its share back (card, credit, voucher in proportion to what it paid).
    for payment, amount in funding.split_refund(order, quote.refund_cents):
        refund_payment(payment, amount)
        refunded += amount
    booking.transition(order, Order.CANCELLED)
    for ticket in order.tickets:
        ticket.status = Ticket.CANCELLED
    booking._seats_freed(order)
    return refunded


def cancel(order: Order, accept_late: bool = False) -> int:
    """Cancel a booking as its service's policy says: a paid one with its refunds
    (``cancel_paid``), anything else by freeing its seats. Returns the cents refunded."""
    if order.status == Order.PAID and order.total_cents > 0:
        return cancel_paid(order, accept_late=accept_late)
    booking.cancel_free(order)
    return 0
