"""Citizens book a date: choose tickets, hold seats, confirm, see and cancel bookings."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from blueprints.common import ActionForm, get_or_404, login_required_here
from marketplace.extensions import db, rate_limit
from marketplace.formatting import money
from marketplace.models import Order, Payment, Service, Slot, Ticket
from marketplace.models.base import utcnow
from marketplace.services import DomainError, booking, policy
from marketplace.services import checkout as checkout_service
from marketplace.services.mail import external_url, send_mail
from payments.providers import ProviderError
from payments.providers.stripe import allow_stripe_js, card_payments_enabled

bp = Blueprint("bookings", __name__)


@bp.app_template_global()
def cancellation_policy(service, starts_at=None, free: bool = False) -> str:
    """The service's cancellation policy in plain words (for a date, or in general)."""
    return policy.describe(service, starts_at, free=free)


@bp.app_template_global()
def order_cancellation_policy(order) -> str:
    return policy.describe_order(order)


def _bookable_slot(slot_id: int) -> Slot:
    slot = get_or_404(Slot, slot_id)
    service = db.session.get(Service, slot.service_id)
    if service is None or not service.is_published or not service.cooperative.is_accredited:
        abort(404)
    return slot


def _my_order(code: str) -> Order:
    """The signed-in citizen's order with this code, in this territory; 404 otherwise."""
    order = db.session.execute(
        select(Order).where(Order.code == (code or "").upper())
    ).scalar_one_or_none()
    if order is None or order.user_id != current_user.id:
        abort(404)
    return order


@bp.route("/book/<int:slot_id>", methods=["GET", "POST"])
@login_required_here
@rate_limit("CHECKOUT_RATE_LIMIT")
def book(slot_id: int):
    slot = _bookable_slot(slot_id)
    errors: list[str] = []
    quantities: dict[int, int] = {}
    if request.method == "POST":
        if not ActionForm().validate_on_submit():
            abort(400)
        for ticket_type in slot.ticket_types:
            raw = (request.form.get(f"qty-{ticket_type.id}") or "0").strip()
            if not raw.isdigit():
                errors.append(_("%(name)s: enter a whole number.", name=ticket_type.name))
                continue
            quantities[ticket_type.id] = int(raw)
        names = [n.strip() for n in request.form.getlist("participant") if n.strip()]
        if not errors:
            try:
                order = booking.hold(slot.id, quantities, user=current_user, participants=names)
                if order.total_cents == 0:
                    booking.confirm_free(order)
                    _confirmation_mail(order, slot)
            except DomainError as exc:
                db.session.rollback()
                errors.append(str(exc.message))
            else:
                db.session.commit()
                if order.status == Order.PAID:
                    flash(_("Your booking is confirmed."), "success")
                    return redirect(url_for("bookings.detail", code=order.code))
                return redirect(url_for("bookings.checkout", code=order.code))
    return render_template("public/book.html", slot=slot, service=slot.service,
                           seats_left=booking.seats_left(slot), errors=errors, quantities=quantities,
                           form=ActionForm()), 422 if errors else 200


def _confirmation_mail(order: Order, slot: Slot) -> None:
    """Queued in this transaction: nothing is sent if the booking does not commit."""
    send_mail(order.email, "booking_confirmed", locale=current_user.locale, territory=g.territory,
              order=order, slot=slot, service=slot.service,
              link=external_url("bookings.detail", code=order.code))


@bp.route("/bookings/<code>/checkout")
@login_required_here
@rate_limit("CHECKOUT_RATE_LIMIT")
def checkout(code: str):
    order = _my_order(code)
    if order.status == Order.PAID:
        return redirect(url_for("bookings.detail", code=order.code))
    expired = order.hold_expires_at is not None and order.hold_expires_at <= utcnow()
    minutes_left = 0 if expired or not order.hold_expires_at else \
        max(1, int((order.hold_expires_at - utcnow()).total_seconds() // 60))
    card = None
    if not expired and order.status in (Order.PENDING, Order.AWAITING_PAYMENT) and card_payments_enabled():
        try:
            payment, data = checkout_service.start_card_payment(order)
        except (DomainError, ProviderError) as exc:
            db.session.rollback()
            flash(str(getattr(exc, "message", "")) or _("Card payment is not available right now."), "danger")
        else:
            db.session.commit()
            card = dict(data, return_url=url_for("bookings.payment_return", code=order.code,
                                                 payment_id=payment.id, _external=True))
            allow_stripe_js()
    return render_template("public/checkout.html", order=order, expired=expired, card=card,
                           stripe_js_url=current_app.config.get("STRIPE_JS_URL"),
                           minutes_left=minutes_left, form=ActionForm())


@bp.route("/bookings/<code>/payments/<int:payment_id>")
@login_required_here
def payment_return(code: str, payment_id: int):
    """Where Stripe.js sends the citizen back: ask Stripe, then say what happened.
    The webhook may have confirmed it already; then this changes nothing."""
    order = _my_order(code)
    payment = get_or_404(Payment, payment_id)
    if payment.order_id != order.id:
        abort(404)
    was_paid = order.status == Order.PAID
    try:
        result = checkout_service.confirm_from_provider(payment_id=payment.id)
    except (DomainError, ProviderError) as exc:
        db.session.rollback()
        flash(str(getattr(exc, "message", "")) or _("We could not check the payment. Please try again."), "danger")
        return redirect(url_for("bookings.checkout", code=order.code))
    if result.status == "paid" and not was_paid and order.tickets:
        _confirmation_mail(order, order.tickets[0].slot)
    db.session.commit()
    flash(str(result.message), "success" if result.status == "paid" else "danger")
    if result.status in ("failed", "requires_action", "pending"):
        return redirect(url_for("bookings.checkout", code=order.code))
    return redirect(url_for("bookings.detail", code=order.code))


@bp.route("/bookings")
@login_required_here
def my_bookings():
    orders = db.session.execute(
        select(Order).where(Order.user_id == current_user.id, Order.status.in_(
            (Order.PAID, Order.CANCELLED, Order.PENDING, Order.AWAITING_PAYMENT)))
        .order_by(Order.created_at.desc())
    ).scalars().all()
    now = utcnow()
    upcoming = [o for o in orders if o.tickets and o.tickets[0].slot.starts_at >= now and o.status != Order.CANCELLED]
    past = [o for o in orders if o not in upcoming]
    return render_template("public/my_bookings.html", upcoming=upcoming, past=past)


@bp.route("/bookings/<code>")
@login_required_here
def detail(code: str):
    order = _my_order(code)
    return render_template("public/booking.html", order=order, quote=policy.quote(order), form=ActionForm())


@bp.route("/bookings/<code>/cancel", methods=["POST"])
@login_required_here
def cancel(code: str):
    order = _my_order(code)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        if order.status == Order.PAID and order.total_cents > 0:
            # After the free period the citizen must have agreed to what is (not) refunded.
            refunded = checkout_service.cancel_paid(order, accept_late=request.form.get("accept_late") == "y")
        else:
            refunded = 0
            booking.cancel_free(order)
    except checkout_service.LateCancellation as exc:
        db.session.rollback()
        asked = "confirm_step" in request.form  # the box was shown and left unticked
        return render_template("public/cancel_confirm.html", order=order, quote=exc.quote, form=ActionForm(),
                               asked=asked), 422 if asked else 200
    except (DomainError, ProviderError) as exc:
        db.session.rollback()
        flash(str(getattr(exc, "message", "")) or _("We could not cancel the booking. Please try again."), "danger")
    else:
        db.session.commit()
        flash(_("Your booking is cancelled; the seats are free for others."), "success")
        if refunded:
            flash(_("%(amount)s is refunded to you: see the details below.", amount=money(refunded)), "info")
    return redirect(url_for("bookings.detail", code=order.code))
