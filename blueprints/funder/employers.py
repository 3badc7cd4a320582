"""Funders' area: an employer's employees and welfare credits (routes on
blueprints.funder.routes.bp, under ``/t/<territory>/funders``).

- ``/<funder_id>/employees``: list, invite one, invite from a CSV, remove, the join code;
- ``/<funder_id>/credits``: load credit for one employee or from a CSV, the credits,
  spend per category and totals.

Every route: officers of that employer, or coordinators it delegated "review" to
(``funder_required``: another territory's funder is 404, anyone else 403); a funder that is
not an employer is 404.
"""
from __future__ import annotations

import functools
import re
import secrets

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l, ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from blueprints.common import ActionForm, form_error, funder_required
from blueprints.funder.routes import bp
from marketplace.extensions import db
from marketplace.services import DomainError
from marketplace.services import welfare
from marketplace.validation import parse_id

_TOKEN = re.compile(r"^[A-Za-z0-9_\-]{16,43}$")


def employer_required(view):
    """``funder_required``, and the funder must be an employer (else 404)."""

    @functools.wraps(view)
    @funder_required
    def wrapper(*args, funder, **kwargs):
        if not funder.is_employer:
            abort(404)
        return view(*args, funder=funder, **kwargs)

    return wrapper


def _new_token() -> str:
    return secrets.token_urlsafe(16)


def _optional_int(value):
    return parse_id(value)


class InviteForm(FlaskForm):
    email = StringField(_l("E-mail"), validators=[
        DataRequired(_l("Enter the e-mail address.")), Length(max=welfare.MAX_EMAIL)],
        description=_l("The invitation with the link to join is sent here."))
    full_name = StringField(_l("Name and surname (optional)"), validators=[Optional(), Length(max=welfare.MAX_NAME)])


class UploadForm(FlaskForm):
    """A CSV file; ``token`` makes a double submit of the same upload count once."""

    file = FileField(_l("CSV file"), render_kw={"accept": ".csv,text/csv"})
    token = HiddenField()


class LoadCreditForm(FlaskForm):
    employee_id = SelectField(_l("Employee"), coerce=_optional_int, validate_choice=False)
    amount = StringField(_l("Amount in euros"), description=_l("For example 150,00."))
    expires_on = StringField(_l("Expires on"), render_kw={"type": "date"},
                             description=_l("The credit can be used until this day included, like 31/12/2026."))
    note = StringField(_l("Note (optional)"), validators=[Optional(), Length(max=welfare.MAX_NOTE)],
                       description=_l("Only you see it, for example “Welfare plan 2026”."))
    token = HiddenField()

    amount_cents: int | None = None
    expiry = None

    def validate_employee_id(self, field):
        if not field.data:
            raise ValidationError(_l("Choose one of your employees."))

    def validate_amount(self, field):
        try:
            self.amount_cents = welfare.parse_amount(field.data)
        except ValueError as exc:
            raise ValidationError(exc.args[0])

    def validate_expires_on(self, field):
        try:
            self.expiry = welfare.check_expiry(welfare.parse_date(field.data))
        except ValueError as exc:
            raise ValidationError(exc.args[0])
        field.data = self.expiry.isoformat()  # what a date input shows back


def _uploaded(form: UploadForm) -> bytes | None:
    """The uploaded file's bytes (at most one byte over the limit), or None with an error set."""
    storage = form.file.data
    if storage is None or not getattr(storage, "filename", ""):
        form.file.errors = list(form.file.errors) + [_("Choose a CSV file.")]
        return None
    return storage.read(welfare.MAX_CSV_BYTES + 1)


def _valid_token(form) -> bool:
    if _TOKEN.match(form.token.data or ""):
        return True
    form.form_errors.append(_("The form has expired: reload the page and try again."))
    return False


def _csv_response(body: str, filename: str) -> Response:
    return Response(body, mimetype="text/csv", headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


# --------------------------------------------------------------------------- employees


def _employees_page(funder, invite_form=None, upload_form=None, csv_errors=None, code=200):
    return render_template(
        "funder/employees.html", funder=funder, rows=welfare.employees_of(funder),
        labels=welfare.EMPLOYEE_STATUS_LABELS, columns=welfare.COLUMN_LABELS,
        invite_form=invite_form or InviteForm(formdata=None, prefix="invite"),
        upload_form=upload_form or UploadForm(formdata=None, prefix="csv"),
        csv_errors=csv_errors or []), code


@bp.route("/<int:funder_id>/employees")
@employer_required
def employees(funder):
    return _employees_page(funder)


@bp.route("/<int:funder_id>/employees/invite", methods=["POST"])
@employer_required
def invite_employee(funder):
    form = InviteForm(prefix="invite")
    if form.validate_on_submit():
        try:
            employee, outcome = welfare.invite_employee(funder, form.email.data, form.full_name.data or "",
                                                        current_user)
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            email = employee.email
            db.session.commit()
            if outcome == "invited":
                flash(_("Invitation sent to %(email)s.", email=email), "success")
            else:
                flash(_("Invitation sent again to %(email)s.", email=email), "success")
            return redirect(url_for("funder.employees", funder_id=funder.id))
    return _employees_page(funder, invite_form=form, code=422)


@bp.route("/<int:funder_id>/employees/import", methods=["POST"])
@employer_required
def import_employees(funder):
    form = UploadForm(prefix="csv")
    csv_errors = []
    if form.validate_on_submit():
        data = _uploaded(form)
        if data is not None:
            try:
                rows = welfare.parse_employee_csv(funder, data)
                result = welfare.invite_many(funder, rows, current_user)
            except welfare.CsvRejected as exc:
                db.session.rollback()
                form_error(form, exc)
                csv_errors = exc.errors
            except DomainError as exc:
                db.session.rollback()
                form_error(form, exc)
            else:
                db.session.commit()
                message = ngettext("%(num)d invitation sent.", "%(num)d invitations sent.",
                                   result.invited + result.resent)
                if result.already_active:
                    message += " " + ngettext("%(num)d person was already an active employee.",
                                              "%(num)d people were already active employees.",
                                              result.already_active)
                flash(message, "success")
                return redirect(url_for("funder.employees", funder_id=funder.id))
    return _employees_page(funder, upload_form=form, csv_errors=csv_errors, code=422)


@bp.route("/<int:funder_id>/employees/template.csv")
@employer_required
def employees_template(funder):
    body = welfare.csv_template([_("email"), _("name")], ["mario.rossi@example.org", "Mario Rossi"])
    return _csv_response(body, "dipendenti.csv")


@bp.route("/<int:funder_id>/employees/<int:employee_id>/remove", methods=["POST"])
@employer_required
def remove_employee(funder, employee_id: int):
    employee = welfare.employee_of(funder, employee_id)
    if employee is None:
        abort(404)
    form = ActionForm()
    if not form.validate_on_submit():
        flash(_("The form has expired: reload the page and try again."), "error")
        return _employees_page(funder, code=400)
    welfare.remove_employee(funder, employee)
    email = employee.email
    db.session.commit()
    flash(_("%(email)s has been removed: their credits can no longer be used and go back to you when they "
            "expire.", email=email), "success")
    return redirect(url_for("funder.employees", funder_id=funder.id))


# --------------------------------------------------------------------------- credits


def _load_form(funder, submitted: bool = False):
    form = LoadCreditForm(prefix="load") if submitted else LoadCreditForm(formdata=None, prefix="load")
    form.employee_id.choices = [("", _("Choose an employee"))] + [
        (e.id, f"{e.full_name} ({e.email})" if e.full_name else e.email) for e in welfare.loadable_employees(funder)]
    return form


def _credits_page(funder, load_form=None, upload_form=None, csv_errors=None, code=200):
    if load_form is None:
        load_form = _load_form(funder)
        load_form.token.data = _new_token()
        employee_id = _optional_int(request.args.get("employee"))
        if employee_id is not None:
            load_form.employee_id.data = employee_id
    if upload_form is None:
        upload_form = UploadForm(formdata=None, prefix="upload")
        upload_form.token.data = _new_token()
    return render_template(
        "funder/credits.html", funder=funder, credits=welfare.credits_of_employer(funder),
        spend=welfare.spend_by_vertical(funder), totals=welfare.totals(funder),
        state_of=welfare.credit_state, state_labels=welfare.CREDIT_STATE_LABELS, columns=welfare.COLUMN_LABELS,
        load_form=load_form, upload_form=upload_form, csv_errors=csv_errors or []), code


@bp.route("/<int:funder_id>/credits")
@employer_required
def credits(funder):
    return _credits_page(funder)


@bp.route("/<int:funder_id>/credits/load", methods=["POST"])
@employer_required
def load_credit(funder):
    form = _load_form(funder, submitted=True)
    if form.validate_on_submit() and _valid_token(form):
        employee = welfare.employee_of(funder, form.employee_id.data)
        try:
            credit, created = welfare.load_credit(
                funder, employee, form.amount_cents, form.expiry, form.note.data or "", current_user,
                f"credit-load:{funder.id}:{form.token.data}")
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            amount, email = credit.amount_cents, credit.employee.email
            db.session.commit()
            from marketplace.formatting import money

            if created:
                flash(_("%(amount)s loaded for %(email)s.", amount=money(amount), email=email), "success")
            else:
                flash(_("This credit had already been loaded: it was not loaded twice."), "info")
            return redirect(url_for("funder.credits", funder_id=funder.id))
    return _credits_page(funder, load_form=form, code=422)


@bp.route("/<int:funder_id>/credits/import", methods=["POST"])
@employer_required
def import_credits(funder):
    form = UploadForm(prefix="upload")
    csv_errors = []
    if form.validate_on_submit() and _valid_token(form):
        data = _uploaded(form)
        if data is not None:
            try:
                rows = welfare.parse_credit_csv(funder, data)
                loaded = welfare.load_credit_rows(funder, rows, current_user,
                                                  f"credit-csv:{funder.id}:{form.token.data}")
            except welfare.CsvRejected as exc:
                db.session.rollback()
                form_error(form, exc)
                csv_errors = exc.errors
            except DomainError as exc:
                db.session.rollback()
                form_error(form, exc)
            else:
                db.session.commit()
                if loaded:
                    flash(ngettext("%(num)d credit loaded.", "%(num)d credits loaded.", loaded), "success")
                else:
                    flash(_("This file had already been loaded: nothing was loaded twice."), "info")
                return redirect(url_for("funder.credits", funder_id=funder.id))
    if not _TOKEN.match(form.token.data or ""):
        form.token.data = _new_token()
    return _credits_page(funder, upload_form=form, csv_errors=csv_errors, code=422)


@bp.route("/<int:funder_id>/credits/template.csv")
@employer_required
def credits_template(funder):
    body = welfare.csv_template([_("email"), _("amount"), _("expiry"), _("note")],
                                ["mario.rossi@example.org", "150,00", "31/12/2026", ""])
    return _csv_response(body, "crediti-welfare.csv")
