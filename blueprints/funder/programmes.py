"""Funders' area: programmes, the officers' review queue of applications, vouchers (bulk
from a CSV, printed codes). Routes on ``blueprints.funder.routes.bp``; every route is
``funder_required`` and a programme or application of another funder is 404."""
from __future__ import annotations

import math

from flask import Response, abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from wtforms import (
    DateField, HiddenField, IntegerField, RadioField, SelectMultipleField, StringField, TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from blueprints.common import ActionForm, form_error, funder_required, get_or_404, page_arg, private_download
from blueprints.cooperative.forms import EuroField, MultiCheckboxField, format_euros
from blueprints.funder.routes import bp
from marketplace import storage
from marketplace.extensions import db
from marketplace.models import (
    Application, ApplicationDocument, Cooperative, Municipality, Programme, Service, Voucher,
)
from marketplace.models.catalogue import VERTICALS
from marketplace.services import DomainError, audit
from marketplace.services import programmes as svc
from marketplace.validation import DB_INT_MAX, parse_id, parse_int

# Where a service error on a model field is shown when the form names the field otherwise.
ERROR_FIELDS = {"budget_cents": "budget", "value_cents": "value", "cap_cents": "cap",
                "max_isee_cents": "max_isee"}
MAX_CSV_BYTES = 2 * 1024 * 1024


class DayField(DateField):
    """A date typed as 25/12/2026 or picked (2026-12-25), with a clear message otherwise."""

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, format=["%Y-%m-%d", "%d/%m/%Y"], **kwargs)

    def process_formdata(self, valuelist):
        if not valuelist or not " ".join(valuelist).strip():
            self.data = None
            return
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None
            raise ValueError(_l("Enter a date, like 25/12/2026.")) from None


class WholeNumberField(IntegerField):
    def process_formdata(self, valuelist):
        if not valuelist or not valuelist[0].strip():
            self.data = None
            return
        self.data = parse_int(valuelist[0], -DB_INT_MAX, DB_INT_MAX)
        if self.data is None:
            raise ValueError(_l("Enter a whole number."))


class ProgrammeForm(FlaskForm):
    title = StringField(_l("Title"), validators=[Length(max=svc.MAX_TITLE)])
    description = TextAreaField(_l("Description"), validators=[Length(max=svc.MAX_DESCRIPTION)],
                                description=_l("Who may apply, what the vouchers pay for, how to apply."))
    budget = EuroField(_l("Budget (euros)"), description=_l("The total value of the vouchers that may be issued."))
    starts_on = DayField(_l("Vouchers valid from"))
    ends_on = DayField(_l("Vouchers valid until"))
    applications_open_on = DayField(_l("Applications open on"))
    applications_close_on = DayField(_l("Applications close on"))
    eligible_verticals = MultiCheckboxField(_l("Kinds of service the vouchers pay for"),
                                            choices=list(VERTICALS.items()), validate_choice=False,
                                            description=_l("None ticked: any kind."))
    eligible_cooperative_ids = SelectMultipleField(_l("Cooperatives"), validate_choice=False,
                                                   description=_l("None chosen: any accredited cooperative."))
    eligible_service_ids = SelectMultipleField(_l("Services"), validate_choice=False,
                                               description=_l("None chosen: any published service."))
    value_kind = RadioField(_l("Value of a voucher"), choices=list(svc.VALUE_KIND_LABELS.items()),
                            default=Programme.FIXED, validate_choice=False)
    value = EuroField(_l("Amount (euros)"),
                      description=_l("Fixed amount: the value of a voucher. Hours: the value of one hour."))
    percent = WholeNumberField(_l("Percentage of the price"), validators=[Optional()],
                               description=_l("From 1 to 100, for percentage vouchers."))
    cap = EuroField(_l("Cap (euros)"), description=_l("For percentage vouchers: the most one voucher pays in all."))
    hours = WholeNumberField(_l("Number of hours"), validators=[Optional()],
                             description=_l("For vouchers worth hours of service."))
    municipality_ids = SelectMultipleField(_l("Municipalities of residence"), validate_choice=False,
                                           description=_l("None chosen: residents of any municipality."))
    min_age = WholeNumberField(_l("Minimum age of the beneficiary"), validators=[Optional()])
    max_age = WholeNumberField(_l("Maximum age of the beneficiary"), validators=[Optional()])
    max_isee = EuroField(_l("Maximum ISEE (euros)"), description=_l("Empty: no income threshold."))
    declarations = TextAreaField(_l("Declarations"), validators=[Length(max=20000)],
                                 description=_l("One per line: what the applicant declares to be true."))
    documents = TextAreaField(_l("Documents to upload"), validators=[Length(max=20000)],
                              description=_l("One per line: the name of each document asked for."))

    def with_choices(self) -> "ProgrammeForm":
        coops = db.session.execute(select(Cooperative).where(Cooperative.status == Cooperative.ACCREDITED)
                                   .order_by(Cooperative.name)).scalars()
        self.eligible_cooperative_ids.choices = [(str(c.id), c.name) for c in coops]
        services = db.session.execute(select(Service).where(Service.status == Service.PUBLISHED)
                                      .order_by(Service.title)).scalars()
        self.eligible_service_ids.choices = [(str(s.id), f"{s.title} ({s.cooperative.name})") for s in services]
        municipalities = db.session.execute(select(Municipality).order_by(Municipality.name)).scalars()
        self.municipality_ids.choices = [(str(m.id), m.name) for m in municipalities]
        return self

    def data_for_service(self) -> dict:
        return {
            "title": self.title.data, "description": self.description.data,
            "budget_cents": self.budget.cents, "starts_on": self.starts_on.data, "ends_on": self.ends_on.data,
            "applications_open_on": self.applications_open_on.data,
            "applications_close_on": self.applications_close_on.data,
            "eligible_verticals": self.eligible_verticals.data or [],
            "eligible_cooperative_ids": self.eligible_cooperative_ids.data or [],
            "eligible_service_ids": self.eligible_service_ids.data or [],
            "value_kind": self.value_kind.data, "value_cents": self.value.cents, "percent": self.percent.data,
            "cap_cents": self.cap.cents, "hours": self.hours.data,
            "municipality_ids": self.municipality_ids.data or [], "min_age": self.min_age.data,
            "max_age": self.max_age.data, "max_isee_cents": self.max_isee.cents,
            "declarations": self.declarations.data or "", "documents": self.documents.data or "",
        }

    @staticmethod
    def initial(p: Programme) -> dict:
        return {
            "title": p.title, "description": p.description, "budget": format_euros(p.budget_cents),
            "starts_on": p.starts_on, "ends_on": p.ends_on, "applications_open_on": p.applications_open_on,
            "applications_close_on": p.applications_close_on, "eligible_verticals": list(p.eligible_verticals or []),
            "eligible_cooperative_ids": [str(i) for i in p.eligible_cooperative_ids or []],
            "eligible_service_ids": [str(i) for i in p.eligible_service_ids or []],
            "value_kind": p.value_kind,
            "value": format_euros(p.value_cents) if p.value_kind != Programme.PERCENT else "",
            "percent": p.percent, "cap": format_euros(p.cap_cents), "hours": p.hours,
            "municipality_ids": [str(i) for i in p.municipality_ids or []], "min_age": p.min_age,
            "max_age": p.max_age, "max_isee": format_euros(p.max_isee_cents),
            "declarations": "\n".join(p.declarations or []), "documents": "\n".join(p.documents or []),
        }


class OpenProgrammeForm(FlaskForm):
    """What may change once a programme is open."""

    description = ProgrammeForm.description
    applications_close_on = DayField(_l("Applications close on"))
    budget = EuroField(_l("Budget (euros)"), description=_l("Once the programme is open it can only be raised."))

    def data_for_service(self) -> dict:
        return {"description": self.description.data, "applications_close_on": self.applications_close_on.data,
                "budget_cents": self.budget.cents}


class DecisionForm(FlaskForm):
    message = TextAreaField(_l("Message to the applicant"), validators=[Length(max=svc.MAX_OFFICER_TEXT)])
    seen_status = HiddenField()


class BulkForm(FlaskForm):
    file = FileField(_l("List of beneficiaries (CSV)"), validators=[FileRequired(_l("Choose a CSV file."))],
                     description=_l("Two columns: e-mail and beneficiary name, separated by a semicolon or a comma."))


class PrintedForm(FlaskForm):
    count = WholeNumberField(_l("How many codes"), validators=[DataRequired(_l("Enter how many codes to issue."))],
                             description=_l("From 1 to %(n)d at a time.", n=svc.MAX_PRINTED))


# ---------------------------------------------------------------------------- loading

def _programme_of(funder, programme_id: int) -> Programme:
    programme = get_or_404(Programme, programme_id)
    if programme.funder_id != funder.id:
        abort(404)
    return programme


def _application_of(funder, application_id: int) -> Application:
    application = get_or_404(Application, application_id)
    if application.status == Application.DRAFT or application.programme.funder_id != funder.id:
        abort(404)
    return application


def _attach_errors(form, errors: dict) -> None:
    """Service errors on the fields that have none from parsing (one message each)."""
    for field, message in errors.items():
        target = getattr(form, ERROR_FIELDS.get(field, field), None)
        if target is None:
            form.form_errors.append(message)
        elif not target.errors:
            target.errors = list(target.errors) + [message]


# ---------------------------------------------------------------------------- programmes

@bp.route("/<int:funder_id>/programmes/new", methods=["GET", "POST"])
@funder_required
def new_programme(funder):
    form = ProgrammeForm().with_choices()
    if request.method == "POST":
        form.validate_on_submit()
        if not form.csrf_token.errors:
            data = form.data_for_service()
            errors = svc.check(data)[1]
            _attach_errors(form, errors)
            if not form.errors and not form.form_errors:
                try:
                    programme = svc.create(funder, data, current_user)
                except DomainError as exc:
                    db.session.rollback()
                    _attach_errors(form, getattr(exc, "errors", None) or {exc.field or "": exc.message})
                else:
                    db.session.commit()
                    flash(_("Programme saved as a draft. Open it when it is ready."), "success")
                    return redirect(url_for("funder.programme", funder_id=funder.id, programme_id=programme.id))
        return render_template("funder/programme_form.html", funder=funder, form=form, programme=None), 422
    return render_template("funder/programme_form.html", funder=funder, form=form, programme=None)


@bp.route("/<int:funder_id>/programmes/<int:programme_id>/edit", methods=["GET", "POST"])
@funder_required
def edit_programme(funder, programme_id: int):
    programme = _programme_of(funder, programme_id)
    if programme.status == Programme.CLOSED:
        flash(_("This programme is closed: it cannot be changed."), "info")
        return redirect(url_for("funder.programme", funder_id=funder.id, programme_id=programme.id))
    draft = programme.status == Programme.DRAFT
    if request.method == "GET":
        initial = ProgrammeForm.initial(programme)
        form = ProgrammeForm(data=initial).with_choices() if draft else OpenProgrammeForm(data=initial)
        return render_template("funder/programme_form.html", funder=funder, form=form, programme=programme)
    form = ProgrammeForm().with_choices() if draft else OpenProgrammeForm()
    form.validate_on_submit()
    if not form.csrf_token.errors and not form.errors:
        try:
            svc.update(programme, form.data_for_service())
        except DomainError as exc:
            db.session.rollback()
            _attach_errors(form, getattr(exc, "errors", None) or {exc.field or "": exc.message})
        else:
            db.session.commit()
            flash(_("Programme saved."), "success")
            return redirect(url_for("funder.programme", funder_id=funder.id, programme_id=programme.id))
    elif draft and not form.csrf_token.errors:
        _attach_errors(form, svc.check(form.data_for_service())[1])
    db.session.refresh(programme)
    return render_template("funder/programme_form.html", funder=funder, form=form, programme=programme), 422


@bp.route("/<int:funder_id>/programmes/<int:programme_id>/")
@funder_required
def programme(funder, programme_id: int):
    item = _programme_of(funder, programme_id)
    committed = svc.committed_cents(item.id)
    issued = db.session.execute(select(Voucher.status, Voucher.id).where(Voucher.programme_id == item.id)).all()
    names = {}
    if item.eligible_cooperative_ids:
        names["cooperatives"] = db.session.execute(select(Cooperative.name).where(
            Cooperative.id.in_(item.eligible_cooperative_ids)).order_by(Cooperative.name)).scalars().all()
    if item.eligible_service_ids:
        names["services"] = db.session.execute(select(Service.title).where(
            Service.id.in_(item.eligible_service_ids)).order_by(Service.title)).scalars().all()
    if item.municipality_ids:
        names["municipalities"] = db.session.execute(select(Municipality.name).where(
            Municipality.id.in_(item.municipality_ids)).order_by(Municipality.name)).scalars().all()
    return render_template(
        "funder/programme.html", funder=funder, programme=item, committed=committed,
        remaining=max(0, item.budget_cents - committed), counts=svc.application_counts(item),
        vouchers_active=sum(1 for s, _id in issued if s == Voucher.ACTIVE),
        vouchers_cancelled=sum(1 for s, _id in issued if s == Voucher.CANCELLED),
        names=names, labels=svc.APPLICATION_STATUS_LABELS, status_labels=svc.PROGRAMME_STATUS_LABELS,
        kind_labels=svc.VALUE_KIND_LABELS, action_form=ActionForm())


def _status_change(funder, programme_id: int, change, done: str):
    item = _programme_of(funder, programme_id)
    if ActionForm().validate_on_submit():
        try:
            change(item)
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
        else:
            db.session.commit()
            flash(done, "success")
    return redirect(url_for("funder.programme", funder_id=funder.id, programme_id=programme_id))


@bp.route("/<int:funder_id>/programmes/<int:programme_id>/open", methods=["POST"])
@funder_required
def open_programme(funder, programme_id: int):
    return _status_change(funder, programme_id, svc.open_programme,
                          _("The programme is open: citizens can apply in its application window."))


@bp.route("/<int:funder_id>/programmes/<int:programme_id>/close", methods=["POST"])
@funder_required
def close_programme(funder, programme_id: int):
    return _status_change(funder, programme_id, svc.close_programme,
                          _("The programme is closed: no more applications nor vouchers."))


# ---------------------------------------------------------------------------- review queue

QUEUE_FILTERS = ("", "all", Application.SUBMITTED, Application.NEEDS_INFO, Application.APPROVED,
                 Application.REJECTED, Application.WITHDRAWN)


@bp.route("/<int:funder_id>/programmes/<int:programme_id>/applications")
@funder_required
def applications(funder, programme_id: int):
    item = _programme_of(funder, programme_id)
    status = request.args.get("status", "")
    status = status if status in QUEUE_FILTERS else ""
    sort = request.args.get("sort", "oldest")
    sort = sort if sort in svc.SORTS else "oldest"
    q = (request.args.get("q") or "").strip()[:100]
    page = page_arg()
    rows, total = svc.review_queue(item, status=status, q=q, sort=sort, page=page)
    pages = max(1, math.ceil(total / svc.PAGE_SIZE))
    page = min(max(1, page), pages)
    return render_template("funder/applications.html", funder=funder, programme=item, rows=rows, total=total,
                           status=status, sort=sort, q=q, page=page, pages=pages,
                           labels=svc.APPLICATION_STATUS_LABELS)


def _age(birth, on):
    if birth is None:
        return None
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _review_page(funder, application, forms: dict | None = None, code: int = 200):
    forms = forms or {}
    seen = {"seen_status": application.status}
    defaults = {name: DecisionForm(formdata=None, prefix=name, data=seen)
                for name in (svc.APPROVE, svc.REJECT, svc.NEEDS_INFO)}
    defaults.update(forms)
    programme = application.programme
    declared = [programme.declarations[i] for i in application.declarations_accepted or []
                if isinstance(i, int) and 0 <= i < len(programme.declarations or [])]
    return render_template(
        "funder/application.html", funder=funder, application=application, programme=programme,
        age=_age(application.beneficiary_birth_date, svc.today()), declared=declared,
        voucher=svc.voucher_of(application), labels=svc.APPLICATION_STATUS_LABELS, decision_forms=defaults,
        remaining=svc.remaining_cents(programme)), code


@bp.route("/<int:funder_id>/applications/<int:application_id>")
@funder_required
def application(funder, application_id: int):
    return _review_page(funder, _application_of(funder, application_id))


MESSAGES = {
    svc.APPROVE: _l("Application approved: the voucher is issued and the applicant informed by e-mail."),
    svc.REJECT: _l("Application rejected: the applicant gets the reason by e-mail."),
    svc.NEEDS_INFO: _l("The applicant has been asked for more information by e-mail."),
}


def _decide(funder, application_id: int, action: str):
    item = _application_of(funder, application_id)
    form = DecisionForm(prefix=action)
    if form.validate_on_submit():
        try:
            svc.decide(item, current_user, action, form.message.data or "", seen_status=form.seen_status.data or None)
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc, "message" if exc.field == "message" else None)
        else:
            db.session.commit()
            flash(str(MESSAGES[action]), "success")
            return redirect(url_for("funder.application", funder_id=funder.id, application_id=item.id))
    db.session.expire_all()
    item = _application_of(funder, application_id)
    return _review_page(funder, item, {action: form}, 422)


@bp.route("/<int:funder_id>/applications/<int:application_id>/approve", methods=["POST"])
@funder_required
def approve(funder, application_id: int):
    return _decide(funder, application_id, svc.APPROVE)


@bp.route("/<int:funder_id>/applications/<int:application_id>/reject", methods=["POST"])
@funder_required
def reject(funder, application_id: int):
    return _decide(funder, application_id, svc.REJECT)


@bp.route("/<int:funder_id>/applications/<int:application_id>/needs-info", methods=["POST"])
@funder_required
def needs_info(funder, application_id: int):
    return _decide(funder, application_id, svc.NEEDS_INFO)


def record_download(application: Application, doc: ApplicationDocument) -> None:
    """Every download of an application document goes to the audit log (who, when, which
    document of which application, why: the application's review), committed before the
    file leaves."""
    audit.log(current_user, "downloaded", f"document:{doc.id}:application:{application.id}",
              funder_id=application.programme.funder_id,
              reason=str(_l("Review of the application (status: %(status)s)",
                            status=svc.APPLICATION_STATUS_LABELS.get(application.status, application.status))))
    db.session.commit()


@bp.route("/<int:funder_id>/applications/<int:application_id>/documents/<int:document_id>")
@funder_required
def document(funder, application_id: int, document_id: int):
    item = _application_of(funder, application_id)
    doc = get_or_404(ApplicationDocument, document_id)
    if doc.application_id != item.id:
        abort(404)
    try:
        data = storage.read(doc.storage_key)
    except (FileNotFoundError, ValueError):
        abort(404)
    record_download(item, doc)
    return private_download(data, doc.filename or f"document-{doc.id}")


# ---------------------------------------------------------------------------- vouchers

def _vouchers_page(funder, item, bulk_form=None, printed_form=None, bad_rows=None, code: int = 200):
    page = page_arg()
    rows, total = svc.vouchers_of(item, page=page)
    response = make_response(render_template(
        "funder/vouchers.html", funder=funder, programme=item, rows=rows, total=total,
        page=min(max(1, page), max(1, math.ceil(total / 50))), pages=max(1, math.ceil(total / 50)),
        remaining=svc.remaining_cents(item),
        bulk_form=bulk_form or BulkForm(formdata=None), printed_form=printed_form or PrintedForm(formdata=None),
        bad_rows=bad_rows or [], status_labels=svc.VOUCHER_STATUS_LABELS, channel_labels=svc.CHANNEL_LABELS), code)
    response.headers["Cache-Control"] = "no-store"  # voucher codes
    return response


@bp.route("/<int:funder_id>/programmes/<int:programme_id>/vouchers")
@funder_required
def vouchers(funder, programme_id: int):
    return _vouchers_page(funder, _programme_of(funder, programme_id))


@bp.route("/<int:funder_id>/programmes/<int:programme_id>/vouchers/<int:voucher_id>/cancel", methods=["POST"])
@funder_required
def cancel_voucher(funder, programme_id: int, voucher_id: int):
    item = _programme_of(funder, programme_id)
    voucher = get_or_404(Voucher, voucher_id)
    if voucher.programme_id != item.id:
        abort(404)
    if ActionForm().validate_on_submit():
        try:
            svc.cancel_voucher(voucher)
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
        else:
            db.session.commit()
            flash(_("Voucher %(code)s cancelled: its value is back in the budget.", code=voucher.code), "success")
    return redirect(url_for("funder.vouchers", funder_id=funder.id, programme_id=item.id))


@bp.route("/<int:funder_id>/programmes/<int:programme_id>/vouchers/bulk", methods=["POST"])
@funder_required
def bulk_vouchers(funder, programme_id: int):
    item = _programme_of(funder, programme_id)
    form = BulkForm()
    bad_rows = []
    if form.validate_on_submit():
        data = form.file.data.read(MAX_CSV_BYTES + 1)
        try:
            if len(data) > MAX_CSV_BYTES:
                raise DomainError(_l("The file is too large: upload at most 2 MB."), field="file")
            issued = svc.issue_bulk(item, data, current_user)
        except svc.BadRows as exc:
            db.session.rollback()
            bad_rows = exc.rows
            form_error(form, exc, "file")
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc, "file")
        else:
            db.session.commit()
            flash(ngettext_issued(len(issued)), "success")
            return redirect(url_for("funder.vouchers", funder_id=funder.id, programme_id=item.id))
    db.session.refresh(item)
    return _vouchers_page(funder, item, bulk_form=form, bad_rows=bad_rows, code=422)


def ngettext_issued(n: int) -> str:
    from flask_babel import ngettext

    return ngettext("%(num)d voucher issued; each holder has been e-mailed.",
                    "%(num)d vouchers issued; each holder has been e-mailed.", n)


@bp.route("/<int:funder_id>/programmes/<int:programme_id>/vouchers/printed", methods=["POST"])
@funder_required
def printed_vouchers(funder, programme_id: int):
    item = _programme_of(funder, programme_id)
    form = PrintedForm()
    if form.validate_on_submit():
        try:
            issued = svc.issue_printed(item, form.count.data, current_user)
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc, "count")
        else:
            db.session.commit()
            return redirect(url_for("funder.printed_codes", funder_id=funder.id, programme_id=item.id,
                                    first=issued[0].id, last=issued[-1].id))
    db.session.refresh(item)
    return _vouchers_page(funder, item, printed_form=form, code=422)


@bp.route("/<int:funder_id>/programmes/<int:programme_id>/vouchers/printed")
@funder_required
def printed_codes(funder, programme_id: int):
    """A printable page of printed codes nobody has claimed yet (of one batch if given)."""
    item = _programme_of(funder, programme_id)
    query = select(Voucher).where(Voucher.programme_id == item.id, Voucher.channel == Voucher.PRINTED,
                                  Voucher.status == Voucher.ACTIVE, Voucher.holder_id.is_(None))
    first = parse_id(request.args.get("first"))
    last = parse_id(request.args.get("last"))
    if first and last and 0 < first <= last < 2**31:
        query = query.where(Voucher.id >= first, Voucher.id <= last)
    rows = db.session.execute(query.order_by(Voucher.id)).scalars().all()
    response = make_response(render_template("funder/vouchers_printed.html", funder=funder, programme=item,
                                             rows=rows))
    response.headers["Cache-Control"] = "no-store"  # the codes are worth money to whoever types them
    return response


@bp.route("/<int:funder_id>/programmes/<int:programme_id>/vouchers/template.csv")
@funder_required
def vouchers_template(funder, programme_id: int):
    _programme_of(funder, programme_id)
    response = Response("\ufeff" + svc.csv_template(), mimetype="text/csv")
    response.headers.set("Content-Disposition", "attachment", filename="beneficiaries.csv")
    return response
