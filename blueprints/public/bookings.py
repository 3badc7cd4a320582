"""Citizens book a date: choose tickets, hold seats, confirm, see and cancel bookings."""
from __future__ import annotations

from flask import (
    Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, request, session, url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_login import current_user
from sqlalchemy import select
from wtforms import StringField
from wtforms.validators import DataRequired, Regexp

from blueprints.common import ActionForm, get_or_404, login_required_here
from blueprints.public import participants
from marketplace.extensions import db, rate_limit
from marketplace.formatting import money
from marketplace.models import Order, Payment, Slot, Ticket
from marketplace.models.base import utcnow
from marketplace.services import DomainError, booking, funding, policy, waitlist
from marketplace.validation import parse_id, parse_int
from marketplace.services import checkout as checkout_service
from marketplace.services import tickets as tickets_service
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
    service = slot.service
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
    service = slot.service  # held here: hold() refreshes the slot, this stays in the identity map
    asks = participants.asks_for(service)
    errors: list[str] = []
    quantities: dict[int, int] = {}
    people = None  # the details step (one row per seat) when the service asks for them
    if request.method == "GET":
        waitlist_views.pass_on_free_seats(slot)
    if request.method == "POST":
        if not ActionForm().validate_on_submit():
            abort(400)
        for ticket_type in slot.ticket_types:
            raw = (request.form.get(f"qty-{ticket_type.id}") or "0").strip()
            quantity = parse_int(raw, 0, 9999)
            if quantity is None:
                errors.append(_("%(name)s: enter a whole number.", name=ticket_type.name))
                continue
            quantities[ticket_type.id] = quantity
        names = [n.strip() for n in request.form.getlist("participant") if n.strip()]
        if asks and not errors:
            names, people = _participant_step(slot, quantities, asks, errors)
        if not errors and people is None:
            try:
                order = booking.hold(slot.id, quantities, user=current_user, participants=names)
                if order.total_cents == 0:
                    booking.confirm_free(order)
                    tickets_service.send_confirmation(order)
            except DomainError as exc:
                db.session.rollback()
                errors.append(str(exc.message))
                if asks:
                    people = participants.read(request.form, sum(quantities.values()), asks)
            else:
                code, paid = order.code, order.status == Order.PAID  # read before commit expires them
                db.session.commit()
                if paid:
                    flash(_("Your booking is confirmed."), "success")
                    return redirect(url_for("bookings.detail", code=code))
                return redirect(url_for("bookings.checkout", code=code))
    return render_template("public/book.html", slot=slot, service=service,
                           seats_left=booking.seats_left(slot), errors=errors, quantities=quantities,
                           asks=asks, people=people, form=ActionForm(), **waitlist_views.book_page_context(
                               slot, wanted=sum(quantities.values()) if errors else 0)), 422 if errors else 200


def _participant_step(slot: Slot, quantities: dict[int, int], asks: str, errors: list[str]):
    """Two steps that work without JavaScript: the quantities, then one row of details per
    seat. Returns (participants for ``hold``, the rows to show, or None when ready to hold)."""
    wanted = sum(quantities.values())
    if wanted <= 0:
        errors.append(_("Choose at least one ticket."))
        return [], None
    for ticket_type in slot.ticket_types:
        n = quantities.get(ticket_type.id, 0)
        if n and not ticket_type.min_per_order <= n <= ticket_type.max_per_order:
            errors.append(_("%(name)s: choose between %(min)d and %(max)d tickets.", name=ticket_type.name,
                            min=ticket_type.min_per_order, max=ticket_type.max_per_order))
    left = booking.seats_left(slot)
    if wanted > left:
        errors.append(_("Sorry, only %(n)d seats are left.", n=left) if left else _("Sorry, this date is full."))
    if errors:
        return [], None
    if request.form.get("step") != "details":
        return [], participants.blank(wanted)
    people = participants.read(request.form, wanted, asks)
    if people.errors:
        errors.extend(message for _field, message in people.errors)
        return [], people
    return people.values(asks == "name_age"), None


@bp.route("/bookings/<code>/checkout")
@login_required_here
@rate_limit("CHECKOUT_RATE_LIMIT")
def checkout(code: str):
    order = _my_order(code)
    if order.status == Order.PAID:
        return redirect(url_for("bookings.detail", code=order.code))
    return _checkout_page(order)


def _checkout_page(order: Order, errors: list | None = None, chosen_ids: set | None = None,
                   use_credit: bool = True, code_value: str = ""):
    """The payment page. With vouchers or welfare credit that can pay the order, the citizen
    first sees the split (voucher -> credit -> card) and confirms it; the card form comes
    once the split is chosen, for what is left."""
    expired = order.hold_expires_at is not None and order.hold_expires_at <= utcnow()
    minutes_left = 0 if expired or not order.hold_expires_at else \
        max(1, int((order.hold_expires_at - utcnow()).total_seconds() // 60))
    payable = not expired and order.status in (Order.PENDING, Order.AWAITING_PAYMENT) and order.total_cents > 0
    vouchers, credits = funding.usable_sources(order, current_user) if payable else ([], [])
    reserved = funding.reservations(order)
    chosen = bool(reserved) or session.get(_CHOSEN_KEY) == order.code
    choosing = payable and (bool(errors) or request.args.get("change") == "1"
                            or (not chosen and bool(vouchers or credits)))
    proposal = None
    if choosing:
        picked = vouchers if chosen_ids is None else [v for v in vouchers if v.id in chosen_ids]
        proposal = funding.plan(order, picked, credits if use_credit else [])
    card = None
    due = funding.card_due(order)
    if payable and not choosing and due > 0 and card_payments_enabled():
        try:
            payment, data = checkout_service.start_card_payment(order)
        except (DomainError, ProviderError) as exc:
            db.session.rollback()
            flash(str(getattr(exc, "message", "")) or _("Card payment is not available right now."), "danger")
        else:
            db.session.commit()
            # Followed by this page's own script: the address the visitor is on (a trusted host).
            card = dict(data, return_url=url_for("bookings.payment_return", code=order.code,
                                                 payment_id=payment.id, _external=True),
                        pay_url=url_for("bookings.pay_by_card", code=order.code, payment_id=payment.id))
            allow_stripe_js()
    return render_template("public/checkout.html", order=order, expired=expired, card=card,
                           stripe_js_url=current_app.config.get("STRIPE_JS_URL"),
                           minutes_left=minutes_left, form=ActionForm(), choosing=choosing,
                           proposal=proposal, vouchers=vouchers, credits=credits, reserved=reserved,
                           card_due=due, funding_errors=errors or [],
                           chosen_ids={v.id for v in vouchers} if chosen_ids is None else chosen_ids,
                           use_credit=use_credit, code_value=code_value), 422 if errors else 200


# Which order's payment split the citizen has settled on (even "card only"), so the
# checkout page goes straight to the card form on the next visit.
_CHOSEN_KEY = "funding_chosen"


@bp.route("/bookings/<code>/funding", methods=["POST"])
@login_required_here
@rate_limit("CHECKOUT_RATE_LIMIT")
def choose_funding(code: str):
    """The citizen confirms which vouchers and whether welfare credit pay the order (a printed
    voucher code may be typed too). Amounts are always computed here, never read from the
    form. Everything covered: the booking is paid at once; else the card form follows."""
    order = _my_order(code)
    if not ActionForm().validate_on_submit():
        abort(400)
    if order.status not in (Order.PENDING, Order.AWAITING_PAYMENT):
        flash(_("This booking can no longer be paid."), "warning")
        return redirect(url_for("bookings.detail", code=order.code))
    raw_ids = request.form.getlist("voucher")
    use_credit = request.form.get("use_credit") == "y"
    typed = (request.form.get("voucher_code") or "").strip()
    if any(parse_id(r) is None for r in raw_ids):
        return _checkout_page(order, errors=[_("Choose vouchers from the list.")], chosen_ids=set(),
                              use_credit=use_credit, code_value=typed[:40])
    ids = {parse_id(r) for r in raw_ids}
    try:
        if typed:
            ids.add(funding.claim_voucher(typed, current_user).id)
        plan = funding.reserve(order, current_user, sorted(ids), use_credit)
        paid = order.status == Order.PAID
    except DomainError as exc:
        db.session.rollback()
        order = _my_order(code)
        return _checkout_page(order, errors=[str(exc.message)], chosen_ids=ids, use_credit=use_credit,
                              code_value=typed[:40])
    db.session.commit()
    session[_CHOSEN_KEY] = code
    if paid:
        flash(_("Your booking is paid with your vouchers and credit, and confirmed."), "success")
        return redirect(url_for("bookings.detail", code=code))
    if plan.funded_cents:
        flash(_("%(funded)s is reserved from your vouchers and credit; %(card)s is left to pay.",
                funded=money(plan.funded_cents), card=money(plan.card_cents)), "info")
    return redirect(url_for("bookings.checkout", code=code))


@bp.route("/bookings/<code>/payments/<int:payment_id>")
@login_required_here
def payment_return(code: str, payment_id: int):
    """Where Stripe.js sends the citizen back: ask Stripe, then say what happened.
    The webhook may have confirmed it already; then this changes nothing."""
    order = _my_order(code)
    payment = get_or_404(Payment, payment_id)
    if payment.order_id != order.id:
        abort(404)
    try:
        result = checkout_service.confirm_from_provider(payment_id=payment.id)
    except (DomainError, ProviderError) as exc:
        db.session.rollback()
        flash(str(getattr(exc, "message", "")) or _("We could not check the payment. Please try again."), "danger")
        return redirect(url_for("bookings.checkout", code=order.code))
    db.session.commit()  # if this paid the order, checkout queued the confirmation e-mail
    flash(str(result.message), "success" if result.status == "paid" else "danger")
    if result.status in ("failed", "refunded") and session.get(_CHOSEN_KEY) == order.code:
        session.pop(_CHOSEN_KEY)  # vouchers and credit were released: ask again how to pay
    if result.status in ("failed", "requires_action", "pending"):
        return redirect(url_for("bookings.checkout", code=order.code))
    return redirect(url_for("bookings.detail", code=order.code))


class CardForm(FlaskForm):
    # pm_: a PaymentMethod from Stripe.js; card_: the card of a token, which is all that
    # localstripe's stand-in Stripe.js can make (see static/js/checkout.js).
    payment_method = StringField(validators=[DataRequired(), Regexp(
        r"^(pm|card)_[A-Za-z0-9_]{1,200}$", message=_l("The card could not be read. Please type it again."))])


@bp.route("/bookings/<code>/payments/<int:payment_id>/card", methods=["POST"])
@login_required_here
@rate_limit("CHECKOUT_RATE_LIMIT")
def pay_by_card(code: str, payment_id: int):
    """Stripe.js turned the typed card into a payment method; we charge it from the server
    and tell the page where to go next (JSON). The page then goes to the return URL, which
    settles the payment as the webhook would."""
    order = _my_order(code)
    payment = get_or_404(Payment, payment_id)
    if payment.order_id != order.id:
        abort(404)
    form = CardForm()
    if not form.validate_on_submit():
        errors = [str(e) for e in form.payment_method.errors] or [_("The card could not be read. Please type it again.")]
        return jsonify(error=errors[0]), 422
    try:
        status = checkout_service.submit_card(order, payment, form.payment_method.data)
    except (DomainError, ProviderError) as exc:
        return jsonify(error=str(getattr(exc, "message", "")) or _("Card payment is not available right now.")), 422
    return jsonify(status=status, next=url_for("bookings.payment_return", code=order.code, payment_id=payment.id))


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
    from marketplace.services import requests as service_requests

    return render_template("public/my_bookings.html", upcoming=upcoming, past=past,
                           service_requests=service_requests.of_user(current_user.id),
                           request_labels=service_requests.STATUS_LABELS,
                           waiting=waitlist.active_for_user(current_user.id), form=ActionForm())


@bp.route("/bookings/<code>")
@login_required_here
def detail(code: str):
    order = _my_order(code)
    return render_template("public/booking.html", order=order, quote=policy.quote(order), form=ActionForm(),
                           qr_svg=tickets_service.qr_svg)


@bp.route("/bookings/<code>/tickets", endpoint="tickets")
@login_required_here
def ticket_sheet(code: str):
    """The valid tickets, one printable block each, with the code as a QR code."""
    order = _my_order(code)
    return render_template("public/tickets.html", order=order, tickets=tickets_service.valid_tickets(order),
                           location_of=lambda slot: tickets_service.location_text(tickets_service.slot_location(slot)),
                           qr_svg=tickets_service.qr_svg)


@bp.route("/bookings/<code>/calendar.ics", endpoint="calendar")
@login_required_here
def calendar_file(code: str):
    order = _my_order(code)
    filename = tickets_service.calendar_filename(order)
    return Response(tickets_service.order_calendar(order), headers={
        "Content-Type": "text/calendar; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


@bp.route("/bookings/<code>/cancel", methods=["POST"])
@login_required_here
def cancel(code: str):
    order = _my_order(code)
    if not ActionForm().validate_on_submit():
        abort(400)
    if any(p.provider == checkout_service.DESK and p.status == Payment.CONFIRMED for p in order.payments):
        # Cash or POS at a desk is given back at the desk, not by this button.
        flash(_("This booking was paid at the desk: ask the desk to cancel it and give you the money back."), "danger")
        return redirect(url_for("bookings.detail", code=order.code))
    try:
        # After the free period the citizen must have agreed to what is (not) refunded.
        refunded = checkout_service.cancel(order, accept_late=request.form.get("accept_late") == "y")
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


from blueprints.public import waitlist as waitlist_views  # noqa: E402 - its routes use this blueprint
