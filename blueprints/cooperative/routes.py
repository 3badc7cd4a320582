"""Cooperative staff: their cooperative's profile, colleagues, service listings, dates and tickets."""
from __future__ import annotations

from flask import (
    Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request, url_for,
)
from flask_babel import get_locale, gettext as _, ngettext
from flask_login import current_user
from sqlalchemy import select

from blueprints.common import ActionForm, form_error, get_or_404, login_required_here, staff_required
from blueprints.cooperative.forms import (
    CancelSlotForm, CheckInForm, CooperativeProfileForm, RecurringSlotsForm, ServiceForm, ServiceImageForm, SlotForm,
    TicketTypeForm, format_euros,
)
from blueprints.coordinator.forms import InvitePersonForm
from marketplace.extensions import db
from marketplace.models import (
    Category, Cooperative, Invitation, Membership, Municipality, Service, ServiceImage, Slot, User,
)
from marketplace.queue import enqueue
from marketplace.services import DomainError, booking, cancellation, catalogue, cooperatives, invitations, slots, waitlist
from marketplace.services.authz import staff_cooperative_ids

bp = Blueprint("cooperative", __name__)


@bp.route("/")
@login_required_here
def index():
    ids = staff_cooperative_ids()
    if not ids:
        abort(403)
    if len(ids) == 1:
        return redirect(url_for("cooperative.home", coop_id=next(iter(ids))))
    rows = db.session.execute(
        select(Cooperative).where(Cooperative.id.in_(ids)).order_by(Cooperative.name)
    ).scalars().all()
    return render_template("cooperative/index.html", cooperatives=rows)


def _colleagues(cooperative):
    return db.session.execute(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.cooperative_id == cooperative.id, Membership.role == Membership.STAFF)
        .order_by(User.full_name)
    ).scalars().all()


def _pending(cooperative):
    return db.session.execute(
        select(Invitation).where(Invitation.cooperative_id == cooperative.id,
                                 Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
    ).scalars().all()


@bp.route("/<int:coop_id>/")
@staff_required
def home(cooperative):
    return render_template("cooperative/home.html", cooperative=cooperative,
                           colleagues=_colleagues(cooperative), invitations=_pending(cooperative),
                           invite_form=InvitePersonForm())


@bp.route("/<int:coop_id>/profile", methods=["GET", "POST"])
@staff_required
def profile(cooperative):
    form = CooperativeProfileForm(obj=cooperative)
    if form.validate_on_submit():
        cooperatives.update_profile(cooperative, form.data)
        db.session.commit()
        flash(_("Profile saved."), "success")
        return redirect(url_for("cooperative.home", coop_id=cooperative.id))
    return render_template("cooperative/profile.html", cooperative=cooperative, form=form), \
        422 if form.errors else 200


@bp.route("/<int:coop_id>/colleagues", methods=["POST"])
@staff_required
def invite_colleague(cooperative):
    form = InvitePersonForm()
    if form.validate_on_submit():
        try:
            invitations.invite(g.territory, form.email.data, Membership.STAFF, current_user, cooperative)
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc, "email")
        else:
            db.session.commit()
            flash(_("Invitation sent to %(email)s.", email=form.email.data), "success")
            return redirect(url_for("cooperative.home", coop_id=cooperative.id))
    return render_template("cooperative/home.html", cooperative=cooperative,
                           colleagues=_colleagues(cooperative), invitations=_pending(cooperative),
                           invite_form=form), 422


# ---------------------------------------------------------------------------- service listings

# Where a DomainError of the catalogue service is shown when its field has another name here.
ERROR_FIELDS = {"price_cents": "price", "locations": "loc1_address", "price_bands": "band1_price",
                "municipality": "loc1_municipality"}


class StatusForm(ActionForm):
    """A review-workflow button: the status asked for travels in a hidden ``status`` input."""


def _service_of(cooperative: Cooperative, service_id: int) -> Service:
    """Listing ``service_id`` of ``cooperative`` in this territory; 404 for anyone else's."""
    service = get_or_404(Service, service_id)
    if service.cooperative_id != cooperative.id:
        abort(404)
    return service


def _service_form(service: Service | None = None) -> ServiceForm:
    categories = db.session.execute(
        select(Category).order_by(Category.vertical, Category.position, Category.name)).scalars().all()
    municipalities = db.session.execute(select(Municipality).order_by(Municipality.name)).scalars().all()
    # On POST only what was sent counts: a missing field must not fall back to the stored value.
    if service is not None and request.method == "GET":
        form = ServiceForm(data=ServiceForm.initial(service))
    else:
        form = ServiceForm()
    return form.with_choices(categories, municipalities, str(get_locale()))


def _attach(form, exc: DomainError) -> None:
    form_error(form, DomainError(exc.message, ERROR_FIELDS.get(exc.field, exc.field)))


def _places(form: ServiceForm) -> list[dict] | None:
    """The filled places with their municipality found by name, or None after putting an
    error on each place that is incomplete or names a municipality not of this territory."""
    if "at_location" not in (form.delivery_modes.data or []):
        return []
    places, ok = [], True
    for n, name, address, postal_code, municipality in form.location_rows():
        if not any((f.data or "").strip() for f in (name, address, postal_code, municipality)):
            continue
        if not (address.data or "").strip():
            address.errors.append(_("Enter the address of this place."))
            ok = False
        if not (municipality.data or "").strip():
            municipality.errors.append(_("Enter the municipality of this place."))
            ok = False
            continue
        try:
            found = catalogue.municipality_by_name(municipality.data)
        except DomainError as exc:
            municipality.errors.append(exc.message)
            ok = False
            continue
        places.append({"name": (name.data or "").strip(), "address": (address.data or "").strip(),
                       "postal_code": (postal_code.data or "").strip(), "municipality_id": found.id})
    return places if ok else None


def _form_page(cooperative, form: ServiceForm, service: Service | None):
    """The create/edit page; after a POST it can only be showing errors (422)."""
    return render_template("cooperative/service_form.html", cooperative=cooperative, form=form,
                           service=service, municipality_names=[name for _id, name in form.home_municipalities.choices]), \
        422 if request.method == "POST" else 200


def _home_municipalities(form: ServiceForm) -> list[int]:
    return list(form.home_municipalities.data or []) if "at_home" in (form.delivery_modes.data or []) else []


@bp.route("/<int:coop_id>/services")
@staff_required
def service_list(cooperative):
    services = db.session.execute(
        select(Service).where(Service.cooperative_id == cooperative.id)
        .order_by(Service.updated_at.desc(), Service.id.desc())
    ).scalars().all()
    return render_template("cooperative/services.html", cooperative=cooperative, services=services)


@bp.route("/<int:coop_id>/services/new", methods=["GET", "POST"])
@staff_required
def service_new(cooperative):
    form = _service_form()
    if form.is_submitted():
        valid = form.validate()
        places = _places(form)  # checked even when other fields are wrong: all errors at once
        if valid and places is not None:
            try:
                service = catalogue.create_service(
                    cooperative, form.service_data(), current_user, locations=places,
                    home_municipalities=_home_municipalities(form), bands=form.bands())
            except DomainError as exc:
                db.session.rollback()
                _attach(form, exc)
            else:
                db.session.commit()
                flash(_("Draft saved. Check the preview, then send it for review."), "success")
                return redirect(url_for("cooperative.service_preview", coop_id=cooperative.id,
                                        service_id=service.id))
    return _form_page(cooperative, form, None)


@bp.route("/<int:coop_id>/services/<int:service_id>/edit", methods=["GET", "POST"])
@staff_required
def service_edit(cooperative, service_id: int):
    service = _service_of(cooperative, service_id)
    form = _service_form(service)
    if form.is_submitted():
        valid = form.validate()
        places = _places(form)
        if valid and places is not None:
            try:
                changes = catalogue.update_service(
                    service, form.service_data(), current_user, locations=places,
                    home_municipalities=_home_municipalities(form), bands=form.bands())
            except DomainError as exc:
                db.session.rollback()
                _attach(form, exc)
            else:
                db.session.commit()
                if not changes:
                    flash(_("Nothing was changed."), "info")
                elif service.is_published:
                    flash(_("Changes saved. The service stays published with the new content."), "success")
                else:
                    flash(_("Changes saved."), "success")
                return redirect(url_for("cooperative.service_preview", coop_id=cooperative.id,
                                        service_id=service.id))
    return _form_page(cooperative, form, service)


def _preview(cooperative, service, status_form, code=200):
    return render_template("cooperative/service_preview.html", cooperative=cooperative, service=service,
                           status_form=status_form), code


@bp.route("/<int:coop_id>/services/<int:service_id>")
@staff_required
def service_preview(cooperative, service_id: int):
    return _preview(cooperative, _service_of(cooperative, service_id), StatusForm())


STATUS_MESSAGES = {
    Service.IN_REVIEW: lambda: _("Sent for review. The consortium will check it before it is published."),
    Service.ARCHIVED: lambda: _("Archived. Citizens no longer see it."),
    Service.DRAFT: lambda: _("Restored as a draft."),
}


@bp.route("/<int:coop_id>/services/<int:service_id>/status", methods=["POST"])
@staff_required
def service_status(cooperative, service_id: int):
    """Staff moves along the workflow; only the catalogue service decides what is allowed
    (staff can never publish: that transition is the coordinator's)."""
    service = _service_of(cooperative, service_id)
    form = StatusForm()
    if form.validate_on_submit():
        status = request.form.get("status", "")
        try:
            catalogue.change_status(service, status, current_user, as_coordinator=False)
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            db.session.commit()
            flash(STATUS_MESSAGES[status](), "success")
            return redirect(url_for("cooperative.service_preview", coop_id=cooperative.id,
                                    service_id=service.id))
    return _preview(cooperative, service, form, 422)


def _images_page(cooperative, service, form, code=200):
    return render_template("cooperative/service_images.html", cooperative=cooperative, service=service,
                           form=form), code


@bp.route("/<int:coop_id>/services/<int:service_id>/images", methods=["GET", "POST"])
@staff_required
def service_images(cooperative, service_id: int):
    service = _service_of(cooperative, service_id)
    form = ServiceImageForm()
    if form.validate_on_submit():
        try:
            catalogue.add_image(service, form.image.data.read(), form.alt_text.data, current_user)
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc, "image")
        else:
            db.session.commit()
            flash(_("Image added."), "success")
            return redirect(url_for("cooperative.service_images", coop_id=cooperative.id,
                                    service_id=service.id))
    return _images_page(cooperative, service, form, 422 if request.method == "POST" else 200)


@bp.route("/<int:coop_id>/services/<int:service_id>/images/<int:image_id>/remove", methods=["POST"])
@staff_required
def service_image_remove(cooperative, service_id: int, image_id: int):
    service = _service_of(cooperative, service_id)
    image = get_or_404(ServiceImage, image_id)
    if image.service_id != service.id:
        abort(404)
    if ActionForm().validate_on_submit():
        catalogue.remove_image(image, current_user)
        db.session.commit()
        flash(_("Image removed."), "success")
    return redirect(url_for("cooperative.service_images", coop_id=cooperative.id, service_id=service.id))


@bp.route("/<int:coop_id>/services/<int:service_id>/history")
@staff_required
def service_history(cooperative, service_id: int):
    service = _service_of(cooperative, service_id)
    return render_template("cooperative/service_history.html", cooperative=cooperative, service=service,
                           records=catalogue.history(service), field_labels=_field_labels())


def _field_labels() -> dict:
    """Field name in a change record -> what staff call it."""
    form = ServiceForm(formdata=None)
    labels = {name: field.label.text for name, field in form._fields.items()}
    labels.update({"category_id": labels["category_id"], "price_cents": labels["price"],
                   "locations": _("Places"), "price_bands": _("Income bands"), "status": _("Status"),
                   "image": _("Image")})
    return labels


# ---------------------------------------------------------------------------- dates and tickets

def _slot_of(service: Service, slot_id: int) -> Slot:
    """Slot ``slot_id`` of ``service`` in this territory; 404 for anyone else's."""
    slot = get_or_404(Slot, slot_id)
    if slot.service_id != service.id:
        abort(404)
    return slot


def _new_slots_form(form_class, service):
    return form_class().with_choices(service, slots.recent(service))


def _ticket_types_for(form, service) -> list[dict]:
    """The ticket types new slots get: a copy of the chosen slot's, or one "Intero"."""
    if form.copy_from.data is not None:
        source = slots.service_slot(service, form.copy_from.data)
        if source is None:
            raise DomainError(_("Choose a date of this service."), field="copy_from")
        return slots.ticket_type_data(source)
    return [{"name": "Intero", "price_cents": form.price.cents, "quota": None,
             "min_per_order": 0, "max_per_order": 10}]


@bp.route("/<int:coop_id>/services/<int:service_id>/slots")
@staff_required
def slot_list(cooperative, service_id: int):
    service = _service_of(cooperative, service_id)
    return render_template("cooperative/slots.html", cooperative=cooperative, service=service,
                           rows=slots.upcoming(service))


def _create(cooperative, service, form, times_of, template: str):
    """Validate ``form``, create the slots ``times_of(form)`` lists, or show errors (422)."""
    if form.validate_on_submit():
        try:
            created = slots.create_slots(
                service, times_of(form), form.capacity.data, _ticket_types_for(form, service),
                location_id=form.location_id.data, note=form.note.data or "",
                date_field="date" if "date" in form else "from_date")
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            db.session.commit()
            flash(ngettext("%(num)d date created.", "%(num)d dates created.", len(created)), "success")
            if len(created) == 1:
                return redirect(url_for("cooperative.slot_detail", coop_id=cooperative.id,
                                        service_id=service.id, slot_id=created[0].id))
            return redirect(url_for("cooperative.slot_list", coop_id=cooperative.id, service_id=service.id))
    return render_template(template, cooperative=cooperative, service=service, form=form), \
        422 if request.method == "POST" else 200


@bp.route("/<int:coop_id>/services/<int:service_id>/slots/new", methods=["GET", "POST"])
@staff_required
def slot_new(cooperative, service_id: int):
    service = _service_of(cooperative, service_id)

    def times(form):
        return [(slots.local_to_utc(form.date.data, form.start_time.data),
                 slots.local_to_utc(form.date.data, form.end_time.data))]

    return _create(cooperative, service, _new_slots_form(SlotForm, service), times, "cooperative/slot_new.html")


@bp.route("/<int:coop_id>/services/<int:service_id>/slots/weekly", methods=["GET", "POST"])
@staff_required
def slot_recurring(cooperative, service_id: int):
    service = _service_of(cooperative, service_id)

    def times(form):
        days = slots.weekly_dates(form.weekdays.data or [], form.from_date.data, form.to_date.data,
                                  slots.parse_date_list(form.exceptions.data))
        return [(slots.local_to_utc(day, form.start_time.data), slots.local_to_utc(day, form.end_time.data))
                for day in days]

    return _create(cooperative, service, _new_slots_form(RecurringSlotsForm, service), times,
                   "cooperative/slot_recurring.html")


def _slot_page(cooperative, service, slot, ticket_form=None, cancel_form=None, code=200):
    return render_template(
        "cooperative/slot.html", cooperative=cooperative, service=service, slot=slot,
        attendees=slots.attendees(slot), taken=booking.seats_taken(slot.id), paid_people=slots.paid_people(slot),
        refund_rows=cancellation.refund_rows(slot) if slot.status == Slot.CANCELLED else [],
        retry_form=ActionForm(),
        ticket_form=ticket_form or TicketTypeForm(formdata=None), cancel_form=cancel_form or CancelSlotForm(formdata=None),
        format_euros=format_euros, waitlist=waitlist.for_slot(slot)), code


@bp.route("/<int:coop_id>/services/<int:service_id>/slots/<int:slot_id>")
@staff_required
def slot_detail(cooperative, service_id: int, slot_id: int):
    service = _service_of(cooperative, service_id)
    return _slot_page(cooperative, service, _slot_of(service, slot_id))


@bp.route("/<int:coop_id>/services/<int:service_id>/slots/<int:slot_id>/ticket-types", methods=["POST"])
@staff_required
def ticket_type_add(cooperative, service_id: int, slot_id: int):
    service = _service_of(cooperative, service_id)
    slot = _slot_of(service, slot_id)
    form = TicketTypeForm()
    if form.validate_on_submit():
        try:
            slots.add_ticket_type(slot, form.ticket_data())
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            db.session.commit()
            flash(_("Ticket type added."), "success")
            return redirect(url_for("cooperative.slot_detail", coop_id=cooperative.id, service_id=service.id,
                                    slot_id=slot.id))
    return _slot_page(cooperative, service, slot, ticket_form=form, code=422)


@bp.route("/<int:coop_id>/services/<int:service_id>/slots/<int:slot_id>/cancel", methods=["POST"])
@staff_required
def slot_cancel(cooperative, service_id: int, slot_id: int):
    service = _service_of(cooperative, service_id)
    slot = _slot_of(service, slot_id)
    form = CancelSlotForm()
    if form.validate_on_submit():
        try:
            orders = slots.cancel_slot(slot, form.reason.data)
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            db.session.commit()  # then the refund job runs (inline, or by a worker)
            flash(_("The date is cancelled: nobody can book it any more."), "success")
            if orders:
                flash(ngettext("%(num)d booking was cancelled: its citizen is told by e-mail and refunded in full.",
                               "%(num)d bookings were cancelled: their citizens are told by e-mail and refunded in full.",
                               len(orders)), "info")
            return redirect(url_for("cooperative.slot_detail", coop_id=cooperative.id, service_id=service.id,
                                    slot_id=slot.id))
    return _slot_page(cooperative, service, slot, cancel_form=form, code=422)


@bp.route("/<int:coop_id>/services/<int:service_id>/slots/<int:slot_id>/refunds", methods=["POST"])
@staff_required
def slot_refunds_retry(cooperative, service_id: int, slot_id: int):
    """Try again the refunds still owed for a date the cooperative cancelled."""
    service = _service_of(cooperative, service_id)
    slot = _slot_of(service, slot_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    if slot.status != Slot.CANCELLED:
        flash(_("This date is not cancelled: there are no refunds to retry."), "info")
        return redirect(url_for("cooperative.slot_detail", coop_id=cooperative.id, service_id=service.id,
                                slot_id=slot.id))
    from marketplace.jobs import refund_cancelled_slot

    enqueue(refund_cancelled_slot, slot.territory_id, slot.id)
    db.session.commit()
    still = [row for row in cancellation.refund_rows(slot) if row.owed_cents]
    if still:
        flash(ngettext("%(num)d refund is still owed. It is tried again in the background; "
                       "if it keeps failing, check the payment with Stripe.",
                       "%(num)d refunds are still owed. They are tried again in the background; "
                       "if they keep failing, check the payments with Stripe.", len(still)), "warning")
    else:
        flash(_("Every refund of this date is done."), "success")
    return redirect(url_for("cooperative.slot_detail", coop_id=cooperative.id, service_id=service.id,
                            slot_id=slot.id))


@bp.route("/<int:coop_id>/services/<int:service_id>/slots/<int:slot_id>/attendees.csv")
@staff_required
def slot_attendees_csv(cooperative, service_id: int, slot_id: int):
    service = _service_of(cooperative, service_id)
    slot = _slot_of(service, slot_id)
    with_age = service.participant_fields == "name_age"
    body = slots.attendees_csv(slot, [_("Participant"), *([_("Age")] if with_age else []), _("Ticket"),
                                      _("Booking code"), _("E-mail"), _("Checked in")], with_age=with_age)
    # Personal data leaves the platform: record who took it, never what it holds.
    current_app.logger.info("attendee list exported", extra={
        "territory_id": slot.territory_id, "slot_id": slot.id, "user_id": current_user.id})
    filename = f"partecipanti-{slot.starts_at.astimezone(slots.LOCAL_TZ):%Y%m%d-%H%M}.csv"
    return Response(body, mimetype="text/csv", headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


@bp.route("/<int:coop_id>/services/<int:service_id>/slots/<int:slot_id>/check-in", methods=["GET", "POST"])
@staff_required
def slot_checkin(cooperative, service_id: int, slot_id: int):
    service = _service_of(cooperative, service_id)
    slot = _slot_of(service, slot_id)
    form = CheckInForm()
    checked = already = None
    code = 200
    if form.validate_on_submit():
        try:
            checked = slots.check_in(slot, form.code.data, current_user)
        except slots.AlreadyCheckedIn as exc:
            db.session.rollback()
            already = exc.ticket
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc, "code")
            code = 422
        else:
            db.session.commit()
            form = CheckInForm(formdata=None)  # ready for the next person
    elif request.method == "POST":
        code = 422
    return render_template("cooperative/slot_checkin.html", cooperative=cooperative, service=service, slot=slot,
                           form=form, checked=checked, already=already), code


from blueprints.cooperative import assisted as _assisted  # noqa: E402,F401  (its routes join this blueprint)
from blueprints.cooperative import statements as _statements  # noqa: E402,F401  (its routes join this blueprint)
from blueprints.cooperative import satisfaction as _satisfaction  # noqa: E402,F401  (its routes join this blueprint)
from blueprints.cooperative import deliveries as _deliveries  # noqa: E402,F401  (its routes join this blueprint)
from blueprints.cooperative import impact as _impact  # noqa: E402,F401  (its routes join this blueprint)
from blueprints.cooperative import imports as _imports  # noqa: E402,F401  (its routes join this blueprint)
