"""Citizens find funding programmes and apply online (routes on blueprints.public.funding.bp).

- ``/programmes``: open programmes whose application window includes today (public).
- ``/programmes/<id>``: what the programme pays, who can apply; ``/programmes/<id>/apply``.
- ``/applications``: the signed-in citizen's applications in this territory.
- ``/applications/<code>``: fill in and submit (draft / needs info) or follow the status;
  ``.../withdraw``, ``.../documents`` (upload), ``.../documents/<id>`` (download),
  ``.../documents/<id>/delete``.
"""
from __future__ import annotations

import datetime as dt

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional, ValidationError

from blueprints.common import ActionForm, form_error, get_or_404, private_download
from blueprints.common import login_required_here
from blueprints.cooperative.forms import MultiCheckboxField, format_euros, parse_euros
from blueprints.public.funding import bp
from marketplace import storage
from marketplace.extensions import db, rate_limit
from marketplace.models import Application, ApplicationDocument, Programme
from marketplace.services import DomainError
from marketplace.services import applications as service
from marketplace.validation import parse_int

DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y")


# ---------------------------------------------------------------------------- forms

def _birth_date(form, field):
    field.parsed = None
    raw = (field.data or "").strip()
    if not raw:
        return
    for fmt in DATE_FORMATS:
        try:
            field.parsed = dt.datetime.strptime(raw, fmt).date()
            break
        except ValueError:
            continue
    else:
        raise ValidationError(_l("Enter the birth date, like 25/12/2015."))
    if field.parsed > service.today():
        raise ValidationError(_l("The birth date cannot be in the future."))
    if field.parsed.year < service.today().year - service.MAX_AGE:
        raise ValidationError(_l("Enter the birth date, like 25/12/2015."))


def _isee(form, field):
    field.parsed = None
    try:
        field.parsed = parse_euros(field.data)
    except ValueError:
        raise ValidationError(_l("Enter the ISEE in euros, like 12.500,00.")) from None


def _municipality(form, field):
    if field.data and field.data not in {value for value, _label in field.choices}:
        raise ValidationError(_l("Choose a municipality from the list."))


class DeclarationsField(MultiCheckboxField):
    """One checkbox per declaration of the programme; values are their indexes."""

    def pre_validate(self, form):
        allowed = {value for value, _label in self.choices}
        if any(value not in allowed for value in self.data or []):
            raise ValidationError(_l("Tick only the declarations listed."))


class ApplicationForm(FlaskForm):
    """The applicant's answers; fields the programme does not ask for are removed."""

    beneficiary_name = StringField(
        _l("Name and surname of the beneficiary"),
        validators=[Optional(), Length(max=service.MAX_NAME, message=_l(
            "The name can be at most %(max)d characters long."))],
        description=_l("You, or the person the voucher is for, such as your child."))
    beneficiary_birth_date = StringField(
        _l("Date of birth of the beneficiary"), validators=[_birth_date],
        description=_l("Day/month/year, for example 25/12/2015."))
    municipality_id = SelectField(_l("Municipality of residence of the beneficiary"), choices=[],
                                  validate_choice=False, validators=[_municipality])
    isee = StringField(_l("ISEE in euros"), validators=[_isee],
                       description=_l("The value on the ISEE certificate of the beneficiary's household, "
                                      "for example 12.500,00."),
                       render_kw={"inputmode": "decimal"})
    declarations = DeclarationsField(_l("Declarations"), choices=[])
    note = TextAreaField(
        _l("Note for the office (optional)"),
        validators=[Optional(), Length(max=service.MAX_NOTE, message=_l(
            "The note can be at most %(max)d characters long."))],
        description=_l("Anything the office should know about your application."))

    def values(self) -> dict:
        """The parsed answers, as the service takes them."""
        birth = getattr(self, "beneficiary_birth_date", None)
        isee = getattr(self, "isee", None)
        declarations = getattr(self, "declarations", None)
        return dict(
            beneficiary_name=self.beneficiary_name.data or "",
            beneficiary_birth_date=getattr(birth, "parsed", None) if birth is not None else None,
            municipality_id=self.municipality_id.data or None,
            isee_cents=getattr(isee, "parsed", None) if isee is not None else None,
            declarations_accepted=list(declarations.data or []) if declarations is not None else [],
            note=self.note.data or "",
        )


def _application_form(application: Application) -> ApplicationForm:
    programme = application.programme
    data = None
    if request.method != "POST":
        data = dict(
            beneficiary_name=application.beneficiary_name,
            beneficiary_birth_date=(application.beneficiary_birth_date.strftime("%d/%m/%Y")
                                    if application.beneficiary_birth_date else ""),
            municipality_id=str(application.municipality_id or ""),
            isee=format_euros(application.isee_cents),
            declarations=[str(i) for i in application.declarations_accepted or []],
            note=application.note,
        )
    form = ApplicationForm(data=data) if data is not None else ApplicationForm()
    if programme.min_age is None and programme.max_age is None:
        del form.beneficiary_birth_date
    if programme.max_isee_cents is None:
        del form.isee
    if programme.declarations:
        form.declarations.choices = [(str(i), text) for i, text in enumerate(programme.declarations)]
    else:
        del form.declarations
    form.municipality_id.choices = [("", _("Choose…"))] + [
        (str(m.id), m.name) for m in service.all_municipalities()]
    return form


class UploadForm(FlaskForm):
    """The CSRF check of an upload; the document's index in the programme's list
    (``document``) and the file (``file``) are read from the request, the file's bytes
    judged by the service."""


# ---------------------------------------------------------------------------- loading

def _programme(programme_id: int) -> Programme:
    """A programme of this territory that has been published (drafts are not public)."""
    programme = get_or_404(Programme, programme_id)
    if programme.status == Programme.DRAFT:
        abort(404)
    return programme


def _my_application(code: str) -> Application:
    """The signed-in citizen's application with this code, in this territory; 404 otherwise."""
    application = db.session.execute(
        select(Application).where(Application.code == (code or "").strip().upper()[:12])
    ).scalar_one_or_none()
    if application is None or application.user_id != current_user.id:
        abort(404)
    return application


def _my_document(application: Application, document_id: int) -> ApplicationDocument:
    document = get_or_404(ApplicationDocument, document_id)
    if document.application_id != application.id:
        abort(404)
    return document


# ---------------------------------------------------------------------------- programmes

@bp.route("/programmes")
def programmes():
    items = service.open_programmes()
    return render_template("public/funding/programmes.html", programmes=items,
                           value_in_words=service.value_in_words)


def _programme_page(programme: Programme, apply_error: str | None = None, status: int = 200):
    mine = service.latest_of(programme, current_user) if current_user.is_authenticated else None
    return render_template(
        "public/funding/programme.html", programme=programme, form=ActionForm(), apply_error=apply_error,
        value_words=service.value_in_words(programme), closed=service.closed_reason(programme),
        places=service.municipalities_of(programme), age_rule=service.age_rule_in_words(programme),
        pays_for=service.pays_for(programme), mine=mine, labels=service.STATUS_LABELS,
    ), status


@bp.route("/programmes/<int:programme_id>")
def programme(programme_id: int):
    return _programme_page(_programme(programme_id))


@bp.route("/programmes/<int:programme_id>/apply", methods=["GET", "POST"])
@login_required_here
@rate_limit("CHECKOUT_RATE_LIMIT")
def apply(programme_id: int):
    programme = _programme(programme_id)
    if request.method == "GET":  # e.g. back from the login page
        return redirect(url_for("public_funding.programme", programme_id=programme.id))
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        application, created = service.apply(programme, current_user)
    except DomainError as exc:
        db.session.rollback()
        return _programme_page(programme, apply_error=str(exc.message), status=422)
    db.session.commit()
    if created:
        flash(_("Your application is started. Fill it in, upload the documents and send it."), "success")
    elif application.status == Application.SUBMITTED:
        flash(_("You have already applied to this programme: your application is being reviewed."), "info")
    elif application.status == Application.NEEDS_INFO:
        flash(_("The office asked for more information: complete your application and send it again."), "info")
    else:
        flash(_("You already have a draft application to this programme: continue where you left off."), "info")
    return redirect(url_for("public_funding.application", code=application.code))


# ---------------------------------------------------------------------------- applications

@bp.route("/applications")
@login_required_here
def applications():
    return render_template("public/funding/applications.html", applications=service.of_user(current_user),
                           labels=service.STATUS_LABELS)


def _application_page(application: Application, form: ApplicationForm | None = None,
                      upload_errors: dict | None = None, status: int = 200):
    programme = application.programme
    editable = application.status in service.EDITABLE_STATUSES
    if editable and form is None:
        form = _application_form(application)
    by_label = {label: [] for label in programme.documents or []}
    for document in application.documents:
        by_label.setdefault(document.label, []).append(document)
    return render_template(
        "public/funding/application.html", application=application, programme=programme, form=form,
        editable=editable, labels=service.STATUS_LABELS,
        upload_errors=upload_errors or {}, documents_by_label=by_label,
        withdrawable=application.status in service.WITHDRAWABLE_STATUSES,
        closed=service.closed_reason(programme) if application.status == Application.DRAFT else None,
        voucher=service.voucher_of(application) if application.status == Application.APPROVED else None,
        value_words=service.value_in_words(programme), age_rule=service.age_rule_in_words(programme),
        places=service.municipalities_of(programme), max_upload=service.megabytes(
            int(current_app.config["UPLOAD_MAX_BYTES"])),
    ), status


@bp.route("/applications/<code>", methods=["GET", "POST"])
@login_required_here
def application(code: str):
    application = _my_application(code)
    if request.method == "GET":
        return _application_page(application)
    if application.status not in service.EDITABLE_STATUSES:
        flash(_("This application can no longer be changed."), "danger")
        return redirect(url_for("public_funding.application", code=application.code))
    form = _application_form(application)
    submitting = request.form.get("action") == "submit"
    if not form.validate_on_submit():
        return _application_page(application, form, status=422)
    try:
        if submitting:
            service.submit(application, current_user, **form.values())
        else:
            service.save(application, current_user, **form.values())
    except service.NotEligible as exc:
        db.session.rollback()
        # Not sent; the well-formed answers are kept in the draft as "Save as draft" would, so
        # nothing typed is lost while the citizen goes to upload a missing document.
        try:
            service.save(_my_application(code), current_user, **form.values())
        except DomainError:
            db.session.rollback()
            form.form_errors.append(_("The application is not sent."))
        else:
            db.session.commit()
            form.form_errors.append(_("The application is not sent. Your answers are saved in the draft."))
        for field, message in exc.reasons:
            # str(): a lazy string is Markup to Jinja; the texts quoted in it must be escaped.
            form_error(form, DomainError(str(message), field=field))
        return _application_page(_my_application(code), form, status=422)
    except service.AlreadyDecided as exc:
        db.session.rollback()
        flash(str(exc.message), "danger")
        return redirect(url_for("public_funding.application", code=code))
    except DomainError as exc:
        db.session.rollback()
        form_error(form, DomainError(str(exc.message), field=exc.field))
        return _application_page(_my_application(code), form, status=422)
    db.session.commit()
    if submitting:
        flash(_("Your application is sent. We have e-mailed you a receipt; the office will answer by e-mail."),
              "success")
    else:
        flash(_("Your application is saved as a draft. It is not sent yet."), "success")
    return redirect(url_for("public_funding.application", code=application.code))


@bp.route("/applications/<code>/withdraw", methods=["POST"])
@login_required_here
def withdraw(code: str):
    application = _my_application(code)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        service.withdraw(application, current_user)
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc.message), "danger")
    else:
        db.session.commit()
        flash(_("Your application is withdrawn."), "success")
    return redirect(url_for("public_funding.application", code=code))


@bp.route("/applications/<code>/documents", methods=["POST"])
@login_required_here
@rate_limit("CHECKOUT_RATE_LIMIT")
def upload(code: str):
    application = _my_application(code)
    if not UploadForm().validate_on_submit():
        abort(400)
    labels = application.programme.documents or []
    raw_index = request.form.get("document", "")
    index = parse_int(raw_index, 0, len(labels) - 1)
    key = index if index is not None else -1
    upload_file = request.files.get("file")
    if index is None:
        return _application_page(application, upload_errors={key: _(
            "Choose one of the documents the programme asks for.")}, status=422)
    if upload_file is None or not upload_file.filename:
        return _application_page(application, upload_errors={key: _("Choose a file to upload.")}, status=422)
    limit = int(current_app.config["UPLOAD_MAX_BYTES"])
    data = upload_file.stream.read(limit + 1)  # one byte more than allowed tells "too large"
    try:
        service.add_document(application, current_user, labels[index], upload_file.filename, data)
    except service.AlreadyDecided as exc:
        db.session.rollback()
        flash(str(exc.message), "danger")
        return redirect(url_for("public_funding.application", code=code))
    except DomainError as exc:
        db.session.rollback()
        return _application_page(_my_application(code), upload_errors={key: str(exc.message)}, status=422)
    db.session.commit()
    flash(_("The document “%(label)s” is uploaded.", label=labels[index]), "success")
    return redirect(url_for("public_funding.application", code=code, _anchor="documents"))


@bp.route("/applications/<code>/documents/<int:document_id>")
@login_required_here
def document(code: str, document_id: int):
    application = _my_application(code)
    item = _my_document(application, document_id)
    try:
        data = storage.read(item.storage_key)
    except (FileNotFoundError, ValueError):
        abort(404)
    return private_download(data, item.filename)


@bp.route("/applications/<code>/documents/<int:document_id>/delete", methods=["POST"])
@login_required_here
def document_delete(code: str, document_id: int):
    application = _my_application(code)
    item = _my_document(application, document_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    label = item.label
    try:
        key = service.remove_document(application, current_user, item)
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc.message), "danger")
        return redirect(url_for("public_funding.application", code=code))
    db.session.commit()
    storage.delete(key)  # after the commit: a rollback never leaves a row without its file
    flash(_("The file for “%(label)s” is removed.", label=label), "success")
    return redirect(url_for("public_funding.application", code=code, _anchor="documents"))
