"""Citizens join and leave the waiting list of a full date; free offers are confirmed.

Routes live on the bookings blueprint (``bookings.waitlist_join`` ...), so the book page,
the checkout page and these form one flow.
"""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from blueprints.common import ActionForm, get_or_404, login_required_here
from blueprints.public import participants
from blueprints.public.bookings import _bookable_slot, _my_order, bp
from marketplace.extensions import db, rate_limit
from marketplace.models import Order, WaitlistEntry
from marketplace.services import tickets as tickets_service
from marketplace.services import DomainError, booking, waitlist
from marketplace.validation import parse_int


def pass_on_free_seats(slot) -> None:
    """Without a scheduler, opening the page of a date with free seats and someone waiting
    for that many offers them (one cheap EXISTS query when there are free seats)."""
    left = booking.seats_left(slot)
    if left > 0 and waitlist.someone_fits(slot.id, left):
        waitlist.seats_freed(slot.id)
        db.session.commit()


def book_page_context(slot, wanted: int = 0) -> dict:
    """What the book page needs to show the waiting list to the signed-in citizen."""
    entry = waitlist.active_entry(slot.id, current_user.id)
    return {
        "waitlist_entry": entry,
        "waitlist_position": waitlist.position(entry) if entry else None,
        "waitlist_quantity": wanted or 1,
        "waitlist_max": waitlist.max_quantity(slot),
        "wanted": wanted,
    }


@bp.route("/book/<int:slot_id>/waitlist", methods=["POST"])
@login_required_here
@rate_limit("CHECKOUT_RATE_LIMIT")
def waitlist_join(slot_id: int):
    slot = _bookable_slot(slot_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    raw = (request.form.get("quantity") or "").strip()
    try:
        quantity = parse_int(raw, 0, 9999)
        if quantity is None:
            raise DomainError(_("Enter a whole number of seats."), field="quantity")
        entry = waitlist.join(slot, current_user, quantity)
    except DomainError as exc:
        db.session.rollback()
        slot = _bookable_slot(slot_id)
        context = book_page_context(slot, wanted=parse_int(raw, 0, 9999, default=0))
        return render_template("public/book.html", slot=slot, service=slot.service,
                               seats_left=booking.seats_left(slot), errors=[str(exc.message)],
                               quantities={}, asks=participants.asks_for(slot.service), people=None,
                               form=ActionForm(), waitlist_error=True, **context), 422
    db.session.commit()
    flash(_("You are number %(n)d on the waiting list.", n=waitlist.position(entry) or 1), "success")
    return redirect(url_for("bookings.book", slot_id=slot.id))


@bp.route("/waitlist/<int:waitlist_entry_id>/leave", methods=["POST"])
@login_required_here
def waitlist_leave(waitlist_entry_id: int):
    entry = get_or_404(WaitlistEntry, waitlist_entry_id)
    if entry.user_id != current_user.id:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    slot_id = entry.slot_id
    waitlist.leave(entry)
    db.session.commit()
    flash(_("You left the waiting list."), "success")
    if request.form.get("next") == "my_bookings":
        return redirect(url_for("bookings.my_bookings"))
    return redirect(url_for("bookings.book", slot_id=slot_id))


@bp.route("/bookings/<code>/confirm", methods=["POST"])
@login_required_here
def confirm(code: str):
    """Confirm a booking with nothing to pay whose seats are held (a waiting-list offer)."""
    order = _my_order(code)
    if not ActionForm().validate_on_submit():
        abort(400)
    was_paid = order.status == Order.PAID
    try:
        booking.confirm_free(order)
        if not was_paid and order.tickets:
            tickets_service.send_confirmation(order)
    except DomainError as exc:
        if order.status == Order.EXPIRED:
            booking._seats_freed(order)
        db.session.commit()  # an expired hold is recorded as expired
        flash(str(exc.message), "danger")
        return redirect(url_for("bookings.checkout", code=order.code))
    db.session.commit()
    if not was_paid:
        flash(_("Your booking is confirmed."), "success")
    return redirect(url_for("bookings.detail", code=order.code))
