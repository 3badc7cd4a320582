"""Citizens ask for a service that is arranged rather than booked (e.g. home care), follow
the request, withdraw it, and add the date staff give to their calendar."""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from blueprints.common import ActionForm, form_error, get_or_404, login_required_here
from marketplace.extensions import db, rate_limit
from marketplace.models import Municipality, Service, ServiceRequest
from marketplace.services import DomainError
from marketplace.services import requests as requests_service
from marketplace.services.mail import external_url
from marketplace.validation import parse_int

bp = Blueprint("requests", __name__)


def _age(form, field):
    raw = (field.data or "").strip()
    if raw and parse_int(raw, 0, requests_service.MAX_AGE) is None:
        raise ValidationError(_l("Enter the age in years, between 0 and %(max)d.", max=requests_service.MAX_AGE))


class RequestForm(FlaskForm):
    beneficiary_name = StringField(
        _l("Name of the person who needs the service"),
        validators=[DataRequired(_l("Enter the name of the person who needs the service.")),
                    Length(max=requests_service.MAX_NAME)],
        description=_l("It can be you or a family member."), render_kw={"autocomplete": "name"})
    beneficiary_age = StringField(_l("Age (optional)"), validators=[Optional(), _age],
                                  render_kw={"inputmode": "numeric"})
    municipality_id = SelectField(_l("Municipality where the service is needed"), choices=[],
                                  validate_choice=False)
    phone = StringField(_l("Phone (optional)"), validators=[Optional(), Length(max=requests_service.MAX_PHONE)],
                        description=_l("The cooperative may call you to arrange the service."),
                        render_kw={"autocomplete": "tel", "inputmode": "tel"})
    preferred_times = TextAreaField(
        _l("Preferred days and times (optional)"),
        validators=[Optional(), Length(max=requests_service.MAX_PREFERRED_TIMES, message=_l(
            "Write at most %(max)d characters about the days and times."))],
        description=_l("For example: weekday mornings, from March."))
    message = TextAreaField(
        _l("Message to the cooperative (optional)"),
        validators=[Optional(), Length(max=requests_service.MAX_MESSAGE, message=_l(
            "The message can be at most %(max)d characters long."))],
        description=_l("What the cooperative should know to arrange the service. Do not write health details "
                       "that are not needed."))
    consent = BooleanField(
        _l("I agree that these details are shared with the cooperative to arrange the service."),
        validators=[DataRequired(_l("To send the request, agree to share these details with the cooperative."))])


def _requestable_service(service_id: int) -> Service:
    service = get_or_404(Service, service_id)
    if not service.is_published or not service.cooperative.is_accredited:
        abort(404)
    return service


def _my_request(code: str) -> ServiceRequest:
    """The signed-in citizen's request with this code, in this territory; 404 otherwise."""
    item = db.session.execute(
        select(ServiceRequest).where(ServiceRequest.code == (code or "").strip().upper()[:12])
    ).scalar_one_or_none()
    if item is None or item.user_id != current_user.id:
        abort(404)
    return item


def _municipality_choices(service: Service) -> list[tuple[str, str]]:
    rows = db.session.execute(select(Municipality).order_by(Municipality.name)).scalars().all()
    return [("", _("Choose…"))] + [(str(m.id), m.name) for m in rows]


@bp.route("/services/<int:service_id>/request", methods=["GET", "POST"])
@login_required_here
@rate_limit("CHECKOUT_RATE_LIMIT")
def new(service_id: int):
    service = _requestable_service(service_id)
    if service.booking_mode != "request":
        flash(_("This service is booked by date: choose a date on its page."), "info")
        return redirect(url_for("public.service", service_id=service.id))
    form = RequestForm()
    if request.method == "GET":
        form.phone.data = current_user.phone
    form.municipality_id.choices = _municipality_choices(service)
    if form.validate_on_submit():
        try:
            item = requests_service.create(
                service, current_user, beneficiary_name=form.beneficiary_name.data,
                beneficiary_age=(form.beneficiary_age.data or "").strip() or None,
                municipality_id=form.municipality_id.data, phone=form.phone.data,
                preferred_times=form.preferred_times.data, message=form.message.data,
                consent=bool(form.consent.data))
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            db.session.commit()
            flash(_("Your request is sent. The cooperative will answer by e-mail."), "success")
            return redirect(url_for("requests.detail", request_code=item.code, sent=1))
    elif request.method == "POST" and not form.municipality_id.data:
        form.municipality_id.errors = list(form.municipality_id.errors) + [
            _("Choose the municipality where the service is needed.")]
    code = 422 if request.method == "POST" else 200
    return render_template("public/request_form.html", service=service, form=form), code


@bp.route("/requests/<request_code>")
@login_required_here
def detail(request_code: str):
    item = _my_request(request_code)
    return render_template("public/request.html", item=item, form=ActionForm(),
                           labels=requests_service.STATUS_LABELS, sent=bool(request.args.get("sent")))


@bp.route("/requests/<request_code>/withdraw", methods=["POST"])
@login_required_here
def withdraw(request_code: str):
    item = _my_request(request_code)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        requests_service.withdraw(item, current_user)
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc.message), "danger")
    else:
        db.session.commit()
        flash(_("Your request is withdrawn."), "success")
    return redirect(url_for("requests.detail", request_code=item.code))


@bp.route("/requests/<request_code>/calendar.ics")
@login_required_here
def calendar(request_code: str):
    item = _my_request(request_code)
    if item.status != ServiceRequest.ACCEPTED or item.starts_at is None:
        flash(_("This request has no date yet."), "info")
        return redirect(url_for("requests.detail", request_code=item.code))
    body = requests_service.calendar_file(item, external_url("requests.detail", request_code=item.code))
    return Response(body, mimetype="text/calendar", headers={
        "Content-Type": "text/calendar; charset=utf-8",
        "Content-Disposition": f'attachment; filename="richiesta-{item.code}.ics"', "Cache-Control": "no-store"})
