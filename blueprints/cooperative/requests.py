"""Cooperative staff answer service requests: accept with a date or decline with a reason.

Registered at ``/t/<territory>/cooperative`` beside the cooperative blueprint; every
route is ``staff_required`` and a request of another cooperative's service is 404.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, TextAreaField, TimeField
from wtforms.validators import DataRequired, Length, Optional

from blueprints.common import form_error, get_or_404, staff_required
from marketplace.extensions import db
from marketplace.models import Cooperative, Service, ServiceRequest
from marketplace.services import DomainError
from marketplace.services import requests as requests_service
from marketplace.services.slots import local_to_utc

bp = Blueprint("cooperative_requests", __name__)


class AcceptForm(FlaskForm):
    date = DateField(_l("Date of the first visit"), format=["%Y-%m-%d", "%d/%m/%Y"],
                     validators=[DataRequired(_l("Enter a date, like 25/12/2026."))])
    time = TimeField(_l("Time"), format=["%H:%M", "%H.%M"],
                     validators=[DataRequired(_l("Enter a time, like 09:30."))],
                     description=_l("Italian time."))
    message = TextAreaField(_l("Message to the citizen (optional)"),
                            validators=[Optional(), Length(max=requests_service.MAX_STAFF_TEXT)],
                            description=_l("For example: who will come, what to prepare, a phone number."))


class DeclineForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[
        DataRequired(_l("Explain to the citizen why the request is declined.")),
        Length(max=requests_service.MAX_STAFF_TEXT)],
        description=_l("The citizen reads it in the e-mail. Suggest an alternative if you can."))


STATUS_FILTERS = ("", ) + ServiceRequest.STATUSES


@bp.app_template_global("new_service_requests")
def new_service_requests(cooperative: Cooperative) -> int:
    """Requests of the cooperative waiting for a decision (for its home page)."""
    return requests_service.count_new(cooperative.id)


def _request_of(cooperative: Cooperative, request_id: int) -> ServiceRequest:
    """Request ``request_id`` for a service of ``cooperative`` in this territory; 404 otherwise."""
    item = get_or_404(ServiceRequest, request_id)
    service = db.session.get(Service, item.service_id)
    if service is None or service.cooperative_id != cooperative.id:
        abort(404)
    return item


@bp.route("/<int:coop_id>/requests")
@staff_required
def index(cooperative):
    status = request.args.get("status", "")
    if status not in STATUS_FILTERS:
        status = ""
    rows = requests_service.of_cooperative(cooperative.id, status or None)
    return render_template("cooperative/requests.html", cooperative=cooperative, rows=rows, status=status,
                           labels=requests_service.STATUS_LABELS,
                           new_count=requests_service.count_new(cooperative.id))


def _detail_page(cooperative, item, accept_form=None, decline_form=None, code=200):
    return render_template(
        "cooperative/request.html", cooperative=cooperative, item=item, labels=requests_service.STATUS_LABELS,
        accept_form=accept_form or AcceptForm(formdata=None, prefix="accept"),
        decline_form=decline_form or DeclineForm(formdata=None, prefix="decline")), code


@bp.route("/<int:coop_id>/requests/<int:request_id>")
@staff_required
def detail(cooperative, request_id: int):
    return _detail_page(cooperative, _request_of(cooperative, request_id))


@bp.route("/<int:coop_id>/requests/<int:request_id>/accept", methods=["POST"])
@staff_required
def accept(cooperative, request_id: int):
    item = _request_of(cooperative, request_id)
    form = AcceptForm(prefix="accept")
    if form.validate_on_submit():
        try:
            requests_service.decide(item, current_user, True, starts_at=local_to_utc(form.date.data, form.time.data),
                                    staff_message=form.message.data or "")
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            db.session.commit()
            flash(_("Request accepted: the citizen gets the date by e-mail."), "success")
            return redirect(url_for("cooperative_requests.detail", coop_id=cooperative.id, request_id=item.id))
    db.session.refresh(item)
    return _detail_page(cooperative, item, accept_form=form, code=422)


@bp.route("/<int:coop_id>/requests/<int:request_id>/decline", methods=["POST"])
@staff_required
def decline(cooperative, request_id: int):
    item = _request_of(cooperative, request_id)
    form = DeclineForm(prefix="decline")
    if form.validate_on_submit():
        try:
            requests_service.decide(item, current_user, False, reason=form.reason.data or "")
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            db.session.commit()
            flash(_("Request declined: the citizen gets the reason by e-mail."), "success")
            return redirect(url_for("cooperative_requests.detail", coop_id=cooperative.id, request_id=item.id))
    db.session.refresh(item)
    return _detail_page(cooperative, item, decline_form=form, code=422)
