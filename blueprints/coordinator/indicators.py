"""Coordinators: the territory's outcome indicators (add, edit, deactivate) and the audit log
of who looked at beneficiary-level data. Routes join the coordinator blueprint (imported at
the bottom of ``blueprints/coordinator/routes.py``). Coordinators never get a page listing
beneficiaries one by one."""
from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from wtforms import RadioField, StringField, TextAreaField

from blueprints.common import ActionForm, coordinator_required, form_error, get_or_404, page_arg
from blueprints.coordinator.routes import bp
from marketplace.extensions import db
from marketplace.models import OutcomeIndicator
from marketplace.services import DomainError, audit, indicators
from marketplace.services.authz import review_delegated_funder_ids


class IndicatorForm(FlaskForm):
    code = StringField(_l("Code"), description=_l("Lowercase letters, digits and underscores, like autonomy_score: "
                                                  "the column name in import files. It cannot change once values "
                                                  "are recorded."))
    name = StringField(_l("Name"))
    kind = RadioField(_l("Kind of value"), choices=[(k, v) for k, v in indicators.KIND_LABELS.items()],
                      default=OutcomeIndicator.NUMBER, validate_choice=False)
    unit = StringField(_l("Unit (optional)"), description=_l("For numbers, like hours."))
    description = TextAreaField(_l("Description (optional)"),
                                description=_l("What is measured and how, for the cooperatives that record it."))

    def data_for_service(self) -> dict:
        return {name: getattr(self, name).data for name in ("code", "name", "kind", "unit", "description")}


def _save(form, action) -> tuple[bool, object]:
    """Run ``action``, commit; on refusal roll back and explain on the form: (done, result)."""
    try:
        result = action()
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        form_error(form, exc, "code")
        return False, None
    except IntegrityError:
        db.session.rollback()  # the same code saved twice at the same moment
        form.code.errors = list(form.code.errors) + [_("Another indicator of the territory has this code.")]
        return False, None
    return True, result


def _list_page(form, code=200):
    rows = indicators.all_indicators()
    ids = [i.id for i in rows]
    return render_template("coordinator/indicators.html", form=form, rows=rows, kinds=indicators.KIND_LABELS,
                           values=indicators.values_recorded(ids), services=indicators.services_using(ids)), code


@bp.route("/indicators", methods=["GET", "POST"])
@coordinator_required
def indicator_list():
    form = IndicatorForm()
    if form.validate_on_submit():
        done, indicator = _save(form, lambda: indicators.create(form.data_for_service()))
        if done:
            flash(_("Indicator %(name)s added.", name=indicator.name), "success")
            return redirect(url_for("coordinator.indicator_list"))
        return _list_page(form, 422)
    return _list_page(form, 422 if request.method == "POST" else 200)


@bp.route("/indicators/<int:indicator_id>", methods=["GET", "POST"])
@coordinator_required
def indicator_edit(indicator_id: int):
    indicator = get_or_404(OutcomeIndicator, indicator_id)
    form = IndicatorForm(obj=indicator)
    code = 200
    if form.validate_on_submit():
        done, _result = _save(form, lambda: indicators.update(indicator, form.data_for_service()))
        if done:
            flash(_("Indicator %(name)s saved.", name=form.name.data), "success")
            return redirect(url_for("coordinator.indicator_list"))
        indicator = get_or_404(OutcomeIndicator, indicator_id)
        code = 422
    elif request.method == "POST":
        code = 422
    used = indicators.is_used(indicator)
    return render_template("coordinator/indicators_edit.html", form=form, indicator=indicator, used=used,
                           active_form=ActionForm()), code


@bp.route("/indicators/<int:indicator_id>/active", methods=["POST"])
@coordinator_required
def indicator_active(indicator_id: int):
    indicator = get_or_404(OutcomeIndicator, indicator_id)
    if ActionForm().validate_on_submit():
        active = request.form.get("active") == "1"
        indicators.set_active(indicator, active)
        db.session.commit()
        flash(_("Indicator %(name)s reactivated.", name=indicator.name) if active
              else _("Indicator %(name)s deactivated: it is no longer offered for new deliveries.",
                     name=indicator.name), "success")
    return redirect(url_for("coordinator.indicator_list"))


@bp.route("/audit")
@coordinator_required
def audit_log():
    # Entries about a funder's applications only where the funder delegated their review.
    rows, page, pages = audit.entries(page_arg(), funder_ids=review_delegated_funder_ids())
    response = Response(render_template("coordinator/audit.html", rows=rows, page=page, pages=pages,
                                        actions=audit.ACTION_LABELS, describe=audit.describe,
                                        cooperatives=audit.cooperative_names(rows),
                                        funders=audit.funder_names(rows)))
    response.headers["Cache-Control"] = "no-store"
    return response
