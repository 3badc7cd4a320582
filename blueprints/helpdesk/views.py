"""The assisted-booking pages, shared by the territory help desk (``/helpdesk``) and a
cooperative's own counter (``/cooperative/<id>/assisted``). A ``Desk`` says which one is
serving: its channel, its cooperative (if any) and how to build its URLs. The routes
check the role; these views load, act through ``services.assisted`` and commit once.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_limiter.util import get_remote_address
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from blueprints.common import ActionForm, form_error, get_or_404
from blueprints.helpdesk.forms import AssistedBookForm, FindCitizenForm, NewCitizenForm
from marketplace.extensions import db, limiter
from marketplace.models import Cooperative, Order, Slot, User
from marketplace.formatting import money
from marketplace.services import DomainError, assisted, booking, checkout, policy, tickets
from payments.providers import ProviderError
from marketplace.validation import parse_id, parse_int

SESSION_KEY = "assisted_citizens"
REMEMBERED = 20


@dataclass
class Desk:
    channel: str
    cooperative: Cooperative | None = None

    def url(self, name: str, **values) -> str:
        if self.cooperative is not None:
            return url_for(f"cooperative.assisted_{name}", coop_id=self.cooperative.id, **values)
        return url_for(f"helpdesk.{name}", **values)

    @property
    def place(self) -> str:
        return self.cooperative.name if self.cooperative is not None else g.territory.name


def help_desk() -> Desk:
    return Desk(Order.HELP_DESK)


def cooperative_desk(cooperative: Cooperative) -> Desk:
    return Desk(Order.COOPERATIVE, cooperative)


# Citizens the operator found or created in this session: the only ones the booking pages
# accept, so an account id typed into a URL cannot be booked for (or looked at).
def _remember(citizens) -> None:
    ids = [c.id for c in citizens] + [i for i in session.get(SESSION_KEY, []) if i not in {c.id for c in citizens}]
    session[SESSION_KEY] = ids[:REMEMBERED]


def _citizen() -> tuple[User, assisted.DeskCitizen] | tuple[None, None]:
    """The account being booked for and what the desk may see of it (``as_seen_by_desk``)."""
    citizen_id = parse_id(request.args.get("citizen"))
    if citizen_id is None or citizen_id not in session.get(SESSION_KEY, []):
        return None, None
    user = db.session.get(User, citizen_id)
    seen = assisted.as_seen_by_desk(user)
    return (user, seen) if seen is not None else (None, None)


def _lookup_limit() -> str:
    return current_app.config.get("LOOKUP_RATE_LIMIT", "30 per minute;300 per hour")


def _per_user() -> str:
    """Look-ups are counted per operator (whatever their address), across both desks."""
    return f"user:{current_user.id}" if current_user.is_authenticated else f"ip:{get_remote_address()}"


# Finding and registering citizens are one budget per operator: both tell something about an address.
lookup_limit = limiter.shared_limit(_lookup_limit, scope="citizen-lookup", key_func=_per_user,
                                    methods=["POST"])


def _find_page(desk: Desk, find_form=None, new_form=None, results=None, searched=False, code=200):
    return render_template("helpdesk/index.html", desk=desk,
                           find_form=find_form or FindCitizenForm(prefix="find", formdata=None),
                           new_form=new_form or NewCitizenForm(prefix="new", formdata=None),
                           results=results or [], searched=searched), code


def index(desk: Desk):
    """Find the citizen by e-mail or phone (exact match), or offer to create an account."""
    find_form = FindCitizenForm(prefix="find")
    if request.method == "POST":
        if not find_form.validate_on_submit():
            return _find_page(desk, find_form=find_form, code=422)
        contact = find_form.contact.data.strip()
        results = assisted.find_citizens(contact)
        assisted.audit_lookup(current_user, contact, len(results), desk.cooperative)
        db.session.commit()
        _remember(results)
        new_form = NewCitizenForm(prefix="new", formdata=None)
        if "@" in contact:
            new_form.email.data = contact
        else:
            new_form.phone.data = contact
        return _find_page(desk, find_form=find_form, new_form=new_form, results=results, searched=True)
    return _find_page(desk)


def new_citizen(desk: Desk):
    form = NewCitizenForm(prefix="new")
    if form.validate_on_submit():
        try:
            citizen = assisted.create_citizen(form.full_name.data, form.email.data, form.phone.data,
                                              form.language.data, territory=g.territory,
                                              staff=current_user._get_current_object())
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            db.session.commit()
            _remember([citizen])
            # The same words whether the address had an account or not: registering tells nothing.
            if citizen.has_email:
                flash(_("%(name)s is registered at this desk: we sent them an e-mail about it.",
                        name=citizen.display_name), "success")
            else:
                flash(_("%(name)s is registered at this desk.", name=citizen.display_name), "success")
            return redirect(desk.url("services", citizen=citizen.id))
    return _find_page(desk, new_form=form, code=422)


def services(desk: Desk):
    _user, citizen = _citizen()
    if citizen is None:
        flash(_("First find or create the citizen you are booking for."), "warning")
        return redirect(desk.url("index"))
    rows = assisted.upcoming_slots(assisted.bookable_services(desk.cooperative))
    return render_template("helpdesk/services.html", desk=desk, citizen=citizen,
                           rows=[(slot, booking.seats_left(slot)) for slot in rows])


def book(desk: Desk, slot_id: int):
    slot = get_or_404(Slot, slot_id)
    try:
        service = assisted.check_bookable(slot, desk.cooperative)
    except DomainError:
        abort(404)
    account, citizen = _citizen()
    if citizen is None:
        flash(_("First find or create the citizen you are booking for."), "warning")
        return redirect(desk.url("index"))
    form = AssistedBookForm()
    quantities: dict[int, int] = {}
    names: list[str] = []
    code = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        for ticket_type in slot.ticket_types:
            raw = (request.form.get(f"qty-{ticket_type.id}") or "0").strip()
            quantity = parse_int(raw, 0, 9999)
            if quantity is None:
                form.form_errors.append(_("%(name)s: enter a whole number.", name=ticket_type.name))
                continue
            quantities[ticket_type.id] = quantity
        names = [n.strip() for n in request.form.getlist("participant")]
        if not form.form_errors:
            try:
                order = assisted.book_for(slot, quantities, account, current_user._get_current_object(),
                                          desk.channel, consent=bool(form.consent.data),
                                          participants=[n for n in names if n], payment=form.payment.data,
                                          voucher_code=form.voucher_code.data or "",
                                          cooperative=desk.cooperative, territory=g.territory)
            except DomainError as exc:
                db.session.rollback()
                form_error(form, exc)
            else:
                db.session.commit()
                if order.status == Order.PAID:
                    flash(_("The booking is confirmed."), "success")
                else:
                    flash(_("The seats are held: we sent %(email)s the link to pay.", email=order.email), "success")
                return redirect(desk.url("confirmation", code=order.code))
        code = 422
    return render_template("helpdesk/book.html", desk=desk, citizen=citizen, slot=slot, service=service,
                           seats_left=booking.seats_left(slot), form=form, quantities=quantities,
                           names=names), code


def _order(desk: Desk, code: str) -> Order:
    order = db.session.execute(select(Order).where(Order.code == (code or "").upper())).scalar_one_or_none()
    if order is None or not assisted.may_see(order, current_user, desk.channel, desk.cooperative):
        abort(404)
    return order


def confirmation(desk: Desk, code: str):
    """A printable confirmation to hand to the citizen, and the way to cancel it for them."""
    order = _order(desk, code)
    citizen = assisted.as_seen_by_desk(db.session.get(User, order.user_id)) if order.user_id else None
    return render_template("helpdesk/confirmation.html", desk=desk, order=order, citizen=citizen,
                           place=tickets.location_text(tickets.slot_location(order.tickets[0].slot)) if order.tickets else "",
                           quote=policy.quote(order), form=ActionForm())


def cancel(desk: Desk, code: str):
    """Cancel a booking the desk made, at the citizen's request, as the service's policy
    says. Money taken at the desk is refunded through the ledger (the operator hands it
    back); a card payment goes back to the card."""
    order = _order(desk, code)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        refunded = checkout.cancel(order, accept_late=request.form.get("accept_late") == "y")
    except (DomainError, ProviderError) as exc:
        db.session.rollback()
        flash(str(getattr(exc, "message", "")) or _("The booking could not be cancelled. Please try again."),
              "danger")
    else:
        db.session.commit()
        flash(_("The booking is cancelled; the seats are free for others."), "success")
        if refunded:
            flash(_("%(amount)s is refunded: hand back what was paid at the desk; a card payment goes back "
                    "to the card by itself.", amount=money(refunded)), "info")
    return redirect(desk.url("confirmation", code=order.code))


def bookings(desk: Desk):
    orders = assisted.bookings_by(current_user, desk.channel, desk.cooperative)
    return render_template("helpdesk/bookings.html", desk=desk, orders=orders)
