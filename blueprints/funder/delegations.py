"""Funders' area: the funder's delegation to the territory's coordinators and the funder's own
audit log. Only the funder's officers (``FUNDER_OFFICER``): a coordinator never grants
themselves access. Routes on ``blueprints.funder.routes.bp``."""
from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField
from wtforms.validators import DataRequired

from blueprints.common import ActionForm, form_error, funder_required, page_arg
from blueprints.funder.routes import bp
from marketplace.extensions import db
from marketplace.models import FunderDelegation
from marketplace.services import DomainError, audit, delegations
from marketplace.services.authz import FUNDER_OFFICER, live_delegation


class DelegationForm(FlaskForm):
    level = RadioField(_l("What the coordinators may do"), choices=list(delegations.LEVEL_LABELS.items()),
                       validators=[DataRequired(_l("Choose what the coordinators may do."))])
    confirm = BooleanField(_l("I confirm that the territory's coordinators may see this data of ours"),
                           validators=[DataRequired(_l("Tick the box to confirm the delegation."))])


def _page(funder, form=None, code: int = 200):
    response = Response(render_template(
        "funder/delegation.html", funder=funder, form=form or DelegationForm(formdata=None),
        revoke_form=ActionForm(), live=live_delegation(funder.id), history=delegations.history(funder),
        labels=delegations.LEVEL_LABELS, short=audit.DELEGATION_LEVEL_LABELS), status=code)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/<int:funder_id>/delegation")
@funder_required(level=FUNDER_OFFICER)
def delegation(funder):
    return _page(funder)


@bp.route("/<int:funder_id>/delegation", methods=["POST"])
@funder_required(level=FUNDER_OFFICER)
def grant_delegation(funder):
    form = DelegationForm()
    if form.validate_on_submit():
        try:
            delegations.grant(funder, form.level.data, current_user._get_current_object())
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc, "level")
        else:
            db.session.commit()
            flash(_("The coordinators now have this delegation: %(level)s.",
                    level=audit.DELEGATION_LEVEL_LABELS[form.level.data]), "success")
            return redirect(url_for("funder.delegation", funder_id=funder.id))
    return _page(funder, form, 422)


@bp.route("/<int:funder_id>/delegation/revoke", methods=["POST"])
@funder_required(level=FUNDER_OFFICER)
def revoke_delegation(funder):
    if not ActionForm().validate_on_submit():
        return _page(funder, code=400)
    try:
        delegations.revoke(funder, current_user._get_current_object())
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "warning")
    else:
        db.session.commit()
        flash(_("Delegation revoked: the coordinators no longer see %(name)s's data.", name=funder.name), "success")
    return redirect(url_for("funder.delegation", funder_id=funder.id))


@bp.route("/<int:funder_id>/audit")
@funder_required(level=FUNDER_OFFICER)
def audit_log(funder):
    rows, page, pages = audit.entries(page_arg(), funder_id=funder.id)
    response = Response(render_template("funder/audit.html", funder=funder, rows=rows, page=page, pages=pages,
                                        actions=audit.ACTION_LABELS, describe=audit.describe,
                                        cooperatives=audit.cooperative_names(rows),
                                        funders=audit.funder_names(rows)))
    response.headers["Cache-Control"] = "no-store"
    return response


__all__ = ["DelegationForm", "FunderDelegation"]
