"""Cooperative staff: the delivery log (month list, one-off form, attendance from check-in),
the beneficiaries register (with the consent rule for profile bands and an audit entry for
every look at it) and which outcome indicators each service records. Routes join the
cooperative blueprint (imported at the bottom of ``blueprints/cooperative/routes.py``)."""
from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_decimal, gettext as _, lazy_gettext as _l, ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField

from blueprints.common import ActionForm, form_error, get_or_404, page_arg, staff_required
from blueprints.cooperative.forms import MultiCheckboxField
from blueprints.cooperative.routes import _service_of, bp
from marketplace.extensions import db
from marketplace.models import Beneficiary, DeliveryRecord, Funder, Municipality, OutcomeIndicator, Service, Slot
from marketplace.models.delivery import AGE_BANDS
from marketplace.services import DomainError, audit, beneficiaries, deliveries, delivery_log, indicators
from marketplace.validation import parse_id


def _no_store(body, code=200):
    response = Response(body, status=code)
    response.headers["Cache-Control"] = "no-store"
    return response


def _services(cooperative) -> list[Service]:
    return list(db.session.execute(select(Service).where(Service.cooperative_id == cooperative.id)
                                   .order_by(Service.title, Service.id)).scalars())


def _municipalities() -> list[Municipality]:
    return list(db.session.execute(select(Municipality).order_by(Municipality.name)).scalars())


# ---------------------------------------------------------------------------- delivery form

class DeliveryForm(FlaskForm):
    """The fields of ``deliveries.COLUMNS`` (external id aside); values are checked by
    ``deliveries.validate``, the one validation of every way in."""

    service_id = SelectField(_l("Service"), choices=[], validate_choice=False)
    beneficiary_ref = StringField(_l("Beneficiary reference"),
                                  description=_l("The cooperative's reference for the person, like PZ-001. "
                                                 "A new reference registers a new beneficiary."))
    date = StringField(_l("Date"), render_kw={"type": "date"})
    start_time = StringField(_l("Start time (optional)"), render_kw={"type": "time"})
    duration_minutes = StringField(_l("Duration in minutes"), render_kw={"inputmode": "numeric"})
    at_home = RadioField(_l("At home?"), choices=[("no", _l("No")), ("yes", _l("Yes"))], default="no",
                         validate_choice=False)
    municipality = SelectField(_l("Municipality"), choices=[], validate_choice=False,
                               description=_l("Required for a delivery at home."))
    location = StringField(_l("Place (optional)"))
    operator = StringField(_l("Operator (optional)"), description=_l("A staff member or a role, like OSS."))
    activity_type = StringField(_l("Activity type (optional)"))
    funding_source = SelectField(_l("Paid by"), choices=[], validate_choice=False, default="citizen")
    funder = SelectField(_l("Funder (optional)"), choices=[], validate_choice=False)
    cost_eur = StringField(_l("Cost in euros (optional)"), render_kw={"inputmode": "decimal"},
                           description=_l("Like 37,50."))
    notes = TextAreaField(_l("Notes (optional)"))


FORM_FIELDS = [c for c in deliveries.COLUMNS if c != "external_id"]


def _outcome_field(indicator: OutcomeIndicator, services: list[Service]):
    label = indicator.name + (f" ({indicator.unit})" if indicator.unit else "")
    label += " " + _("(only for: %(services)s)", services=", ".join(s.title for s in services))
    description = indicator.description or None
    if indicator.kind == OutcomeIndicator.YES_NO:
        return SelectField(label, choices=[("", _("Not recorded")), ("yes", _("Yes")), ("no", _("No"))],
                           validate_choice=False, description=description)
    if indicator.kind == OutcomeIndicator.SCALE:
        return SelectField(label, choices=[("", _("Not recorded"))] + [(str(n), str(n)) for n in range(1, 6)],
                           validate_choice=False, description=description)
    return StringField(label, render_kw={"inputmode": "numeric"}, description=description)


def _delivery_form(cooperative, lookup: deliveries.Lookup, services: list[Service]):
    """The form with one input per outcome indicator of the cooperative's services
    (``outcome_<code>``); returns (form, [(field name, indicator)])."""
    by_indicator: dict[int, list[Service]] = {}
    for service in services:
        for indicator_id in lookup.service_indicators.get(service.id, ()):
            by_indicator.setdefault(indicator_id, []).append(service)
    outcome_fields = []
    attrs = {}
    for indicator in sorted(lookup.indicators.values(), key=lambda i: (i.name, i.id)):
        if indicator.id in by_indicator:
            name = f"outcome_{indicator.code}"
            attrs[name] = _outcome_field(indicator, by_indicator[indicator.id])
            outcome_fields.append((name, indicator))
    form = type("DeliveryFormWithOutcomes", (DeliveryForm,), attrs)()
    form.service_id.choices = [("", _("Choose a service"))] + [(str(s.id), s.title) for s in services]
    form.municipality.choices = [("", _("None"))] + [(m.name, m.name) for m in _municipalities()]
    form.funding_source.choices = [(k, str(v)) for k, v in deliveries.FUNDING_SOURCE_LABELS.items()]
    funders = db.session.execute(select(Funder).order_by(Funder.name)).scalars().all()
    form.funder.choices = [("", _("None"))] + [(f.name, f.name) for f in funders]
    return form, outcome_fields


@bp.route("/<int:coop_id>/deliveries/new", methods=["GET", "POST"])
@staff_required
def delivery_new(cooperative):
    services = _services(cooperative)
    lookup = deliveries.Lookup.load(cooperative)
    form, outcome_fields = _delivery_form(cooperative, lookup, services)
    if request.method == "GET":
        if parse_id(request.args.get("service_id")) is not None:
            form.service_id.data = request.args["service_id"].strip()
        form.date.data = delivery_log.today().isoformat()
    code = 200
    if form.validate_on_submit():
        raw = {name: (getattr(form, name).data or "") for name in FORM_FIELDS}
        raw["external_id"] = deliveries.new_external_id("F")
        for name, indicator in outcome_fields:
            raw[indicator.code] = getattr(form, name).data or ""
        clean, errors = deliveries.validate(raw, lookup)
        if clean is not None:
            record, _created = deliveries.save(clean, lookup, DeliveryRecord.FORM, created_by=current_user)
            beneficiary = db.session.get(Beneficiary, record.beneficiary_id)
            db.session.commit()
            flash(_("Delivery recorded for %(pseudonym)s (%(ref)s).", pseudonym=beneficiary.pseudonym,
                    ref=beneficiary.external_ref), "success")
            return redirect(url_for("cooperative.delivery_list", coop_id=cooperative.id,
                                    month=record.delivered_on.strftime("%Y-%m")))
        db.session.rollback()
        field_of = {indicator.code: name for name, indicator in outcome_fields}
        for column, reason in errors:
            field = getattr(form, field_of.get(column, column), None)
            if field is not None and column != "external_id" and hasattr(field, "errors"):
                field.errors = list(field.errors) + [reason]
            else:
                form.form_errors.append(reason)
        code = 422
    elif request.method == "POST":
        code = 422
    return _no_store(render_template(
        "cooperative/deliveries_new.html", cooperative=cooperative, form=form, outcome_fields=outcome_fields,
        references=beneficiaries.references(cooperative)), code)


# ---------------------------------------------------------------------------- delivery list

@bp.route("/<int:coop_id>/deliveries")
@staff_required
def delivery_list(cooperative):
    month = request.args.get("month") or delivery_log.this_month()
    try:
        delivery_log.month_bounds(month)
    except DomainError:
        abort(404)
    services = _services(cooperative)
    service_id = parse_id(request.args.get("service"))
    if service_id not in {s.id for s in services}:
        service_id = None
    log = delivery_log.records(cooperative, month, service_id, page_arg())
    audit.log(current_user, "viewed", f"deliveries:{month}", cooperative.id)
    db.session.commit()
    return _no_store(render_template(
        "cooperative/deliveries.html", cooperative=cooperative, log=log, month=month, services=services,
        hours=format_decimal(log.minutes / 60, format="#,##0.#"),
        service_id=service_id, funding_labels=deliveries.FUNDING_SOURCE_LABELS, sources=SOURCE_LABELS))


SOURCE_LABELS = {
    DeliveryRecord.CHECKIN: _l("Check-in"),
    DeliveryRecord.FORM: _l("Form"),
    DeliveryRecord.IMPORT: _l("Import"),
    DeliveryRecord.API: _l("API"),
}


# ---------------------------------------------------------------------------- from check-in

@bp.app_template_global("slot_attendance")
def slot_attendance(slot: Slot) -> dict:
    """For the check-in page: has the slot started, how many arrived, how many recorded."""
    checked, recorded = delivery_log.attendance_counts(slot)
    return {"started": delivery_log.slot_started(slot), "checked": checked, "recorded": recorded}


@bp.route("/<int:coop_id>/slots/<int:slot_id>/deliveries", methods=["POST"])
@staff_required
def slot_deliveries(cooperative, slot_id: int):
    slot = get_or_404(Slot, slot_id)
    service = _service_of(cooperative, slot.service_id)
    back = url_for("cooperative.slot_checkin", coop_id=cooperative.id, service_id=service.id, slot_id=slot.id)
    if not ActionForm().validate_on_submit():
        flash(_("The form has expired. Please try again."), "danger")
        return redirect(back)
    try:
        result = delivery_log.record_attendance(cooperative, slot, current_user)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc.message), "danger")
        return redirect(back)
    except IntegrityError:
        # A colleague pressed the same button at the same moment: their records stand.
        db.session.rollback()
        flash(_("Attendance is being recorded by someone else: reload the page in a moment."), "warning")
        return redirect(back)
    flash(ngettext("%(num)d delivery recorded.", "%(num)d deliveries recorded.", result.recorded) + " "
          + ngettext("%(num)d was already recorded.", "%(num)d were already recorded.", result.already),
          "success")
    for code, column, reason in result.refused:
        flash(_("Ticket %(code)s not recorded: %(column)s: %(reason)s", code=code, column=column, reason=reason),
              "warning")
    return redirect(back)


# ---------------------------------------------------------------------------- indicators of a service

class ServiceIndicatorsForm(FlaskForm):
    indicators = MultiCheckboxField(_l("Outcomes this service records"), choices=[], coerce=int,
                                    validate_choice=False)


@bp.route("/<int:coop_id>/services/<int:service_id>/indicators", methods=["GET", "POST"])
@staff_required
def service_indicators(cooperative, service_id: int):
    service = _service_of(cooperative, service_id)
    available = indicators.active_indicators()
    form = ServiceIndicatorsForm()
    form.indicators.choices = [(i.id, i.name + (f" ({i.unit})" if i.unit else "")) for i in available]
    code = 200
    if form.validate_on_submit():
        try:
            indicators.set_for_service(service, form.indicators.data or [])
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc, "indicators")
            code = 422
        else:
            db.session.commit()
            flash(_("Outcomes of %(title)s saved.", title=service.title), "success")
            return redirect(url_for("cooperative.service_indicators", coop_id=cooperative.id, service_id=service.id))
    elif request.method == "POST":
        code = 422
    else:
        form.indicators.data = [i.id for i in indicators.of_service(service)]
    return render_template("cooperative/deliveries_indicators.html", cooperative=cooperative, service=service,
                           form=form, available=available, kinds=indicators.KIND_LABELS), code


# ---------------------------------------------------------------------------- beneficiaries

def _choices(labels: dict) -> list:
    return [("", _("Not given"))] + [(k, str(v)) for k, v in labels.items()]


class BeneficiaryForm(FlaskForm):
    external_ref = StringField(_l("Reference"), description=_l("The cooperative's own reference (file number), "
                                                               "like PZ-001. Letters, digits and . _ / -"))
    display_name = StringField(_l("Name (optional)"),
                               description=_l("Seen only by your cooperative, never in reports."))
    consent = BooleanField(_l("The person (or their guardian) consents to the profile below being recorded "
                              "for the evaluation of the services"),
                           description=_l("Without consent the profile is not saved, and any saved profile "
                                          "is deleted."))
    age_band = SelectField(_l("Age band"), choices=[], validate_choice=False)
    sex = SelectField(_l("Sex"), choices=[], validate_choice=False)
    municipality_id = SelectField(_l("Municipality of residence"), choices=[], validate_choice=False)
    disability = RadioField(_l("Disability"), choices=[("", _l("Not given")), ("yes", _l("Yes")), ("no", _l("No"))],
                            default="", validate_choice=False)
    income_band = SelectField(_l("Income band"), choices=[], validate_choice=False)

    def with_choices(self):
        self.age_band.choices = _choices({a: a for a in AGE_BANDS})
        self.sex.choices = _choices(beneficiaries.SEX_LABELS)
        self.municipality_id.choices = _choices({str(m.id): m.name for m in _municipalities()})
        self.income_band.choices = _choices(beneficiaries.INCOME_BAND_LABELS)
        return self


def _beneficiary_of(cooperative, beneficiary_id: int) -> Beneficiary:
    beneficiary = get_or_404(Beneficiary, beneficiary_id)
    if beneficiary.cooperative_id != cooperative.id:
        abort(404)
    return beneficiary


@bp.route("/<int:coop_id>/beneficiaries")
@staff_required
def beneficiary_list(cooperative):
    q = request.args.get("q", "")
    rows, total, page, pages = beneficiaries.page_of(cooperative, page_arg(), q)
    audit.log(current_user, "viewed", "beneficiaries", cooperative.id)
    db.session.commit()
    return _no_store(render_template(
        "cooperative/beneficiaries.html", cooperative=cooperative, rows=rows, total=total, page=page,
        pages=pages, q=q, sexes=beneficiaries.SEX_LABELS, incomes=beneficiaries.INCOME_BAND_LABELS))


def _save_beneficiary(cooperative, beneficiary, form):
    """Save from the form; returns the beneficiary, or None when refused (errors on the form)."""
    data = {name: getattr(form, name).data for name in
            ("external_ref", "display_name", "consent", "age_band", "sex", "municipality_id", "disability",
             "income_band")}
    try:
        saved, dropped = beneficiaries.save(cooperative, beneficiary, data, current_user)
        audit.log(current_user, "edited" if beneficiary is not None else "created",
                  f"beneficiary:{saved.pseudonym}", cooperative.id)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        form_error(form, exc, "external_ref")
        return None
    except IntegrityError:
        db.session.rollback()
        form.external_ref.errors = list(form.external_ref.errors) + [
            _("Another beneficiary of the cooperative has this reference.")]
        return None
    flash(_("Beneficiary %(ref)s saved.", ref=saved.external_ref), "success")
    if dropped:
        flash(_("The profile was not saved: the person's consent is not recorded."), "warning")
    return saved


@bp.route("/<int:coop_id>/beneficiaries/new", methods=["GET", "POST"])
@staff_required
def beneficiary_new(cooperative):
    form = BeneficiaryForm().with_choices()
    if form.validate_on_submit():
        if _save_beneficiary(cooperative, None, form) is not None:
            return redirect(url_for("cooperative.beneficiary_list", coop_id=cooperative.id))
    code = 422 if request.method == "POST" else 200
    return _no_store(render_template("cooperative/beneficiary_form.html", cooperative=cooperative, form=form,
                                     beneficiary=None), code)


@bp.route("/<int:coop_id>/beneficiaries/<int:beneficiary_id>", methods=["GET", "POST"])
@staff_required
def beneficiary_edit(cooperative, beneficiary_id: int):
    beneficiary = _beneficiary_of(cooperative, beneficiary_id)
    if request.method == "GET":
        form = BeneficiaryForm(obj=beneficiary).with_choices()
        form.consent.data = beneficiary.consent_at is not None
        form.municipality_id.data = str(beneficiary.municipality_id or "")
        form.disability.data = {True: "yes", False: "no"}.get(beneficiary.disability, "")
        form.age_band.data = beneficiary.age_band or ""
        form.sex.data = beneficiary.sex or ""
        form.income_band.data = beneficiary.income_band or ""
        audit.log(current_user, "viewed", f"beneficiary:{beneficiary.pseudonym}", cooperative.id)
        db.session.commit()
        beneficiary = _beneficiary_of(cooperative, beneficiary_id)
        return _no_store(render_template("cooperative/beneficiary_form.html", cooperative=cooperative, form=form,
                                         beneficiary=beneficiary))
    form = BeneficiaryForm().with_choices()
    if form.validate_on_submit():
        if _save_beneficiary(cooperative, beneficiary, form) is not None:
            return redirect(url_for("cooperative.beneficiary_list", coop_id=cooperative.id))
        beneficiary = _beneficiary_of(cooperative, beneficiary_id)
    return _no_store(render_template("cooperative/beneficiary_form.html", cooperative=cooperative, form=form,
                                     beneficiary=beneficiary), 422)
