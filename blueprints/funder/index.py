"""Funders' area: the list of funders the user may manage (coordinators create funders
there), each funder's home page, and its team of officers (invited by e-mail)."""
from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional

from blueprints.common import ActionForm, form_error, funder_required, get_or_404, login_required_here
from blueprints.coordinator.forms import InvitePersonForm
from blueprints.funder.routes import bp
from marketplace.extensions import db
from marketplace.models import Funder, Invitation, Programme
from marketplace.services import DomainError, funders as funders_service, invitations
from marketplace.services.authz import (
    FUNDER_OFFICER, FUNDER_SETUP, funder_has_officers, funder_ids_here, is_coordinator, may_manage_funder,
)
from marketplace.services.funders import FUNDER_KIND_LABELS


@bp.app_template_global("has_endpoint")
def has_endpoint(name: str) -> bool:
    """Whether the app has this endpoint (pages of the funders' area built separately)."""
    return name in current_app.view_functions


def manageable_funders() -> list[Funder]:
    """Every funder of the territory for coordinators (what each lets them open is up to
    its delegation: ``authz.funder_access``); officers see only their own."""
    query = select(Funder).order_by(Funder.name)
    if not (is_coordinator() or current_user.is_platform_admin):
        ids = funder_ids_here()
        if not ids:
            return []
        query = query.where(Funder.id.in_(sorted(ids)))
    return list(db.session.execute(query).scalars())


class FunderForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Enter the funder's name.")), Length(max=160)],
                       description=_l("For example: Comune di Cremona, Azienda Rossi S.p.A."))
    kind = SelectField(_l("Kind"), choices=[(k, v) for k, v in FUNDER_KIND_LABELS.items()],
                       validators=[DataRequired(_l("Choose the kind of funder."))])
    email = EmailField(_l("Contact e-mail"), validators=[
        DataRequired(_l("Enter an e-mail address.")),
        Email(_l("Enter a valid e-mail address, like nome@esempio.it."), check_deliverability=False),
        Length(max=254)])
    vat_number = StringField(_l("VAT number (partita IVA)"), validators=[Optional(), Length(max=20)],
                             description=_l("11 digits. Required for employers."))
    fiscal_code = StringField(_l("Fiscal code (optional)"), validators=[Optional(), Length(max=20)],
                              description=_l("11 digits, or 16 characters."))


def _may_create() -> bool:
    return is_coordinator() or current_user.is_platform_admin


def _index_page(form: FunderForm | None, code: int = 200):
    funders = manageable_funders()
    if not funders and not _may_create():
        abort(403)
    return render_template("funder/index.html", funders=funders, kinds=FUNDER_KIND_LABELS,
                           form=form if _may_create() else None), code


@bp.route("/")
@login_required_here
def index():
    return _index_page(FunderForm(formdata=None))


@bp.route("/", methods=["POST"])
@login_required_here
def create():
    if g.get("territory") is None:
        abort(404)
    if not _may_create():
        abort(403)
    form = FunderForm()
    if form.validate_on_submit():
        try:
            funder = funders_service.create_funder(
                g.territory, name=form.name.data, kind=form.kind.data, email=form.email.data,
                vat_number=form.vat_number.data or "", fiscal_code=form.fiscal_code.data or "")
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            db.session.commit()
            flash(_("%(name)s has been added.", name=funder.name), "success")
            return redirect(url_for("funder.home", funder_id=funder.id))
    return _index_page(form, 422)


def _home_page(funder: Funder, invite_form=None, code: int = 200):
    programmes = db.session.execute(
        select(Programme).where(Programme.funder_id == funder.id).order_by(Programme.created_at.desc(),
                                                                           Programme.id.desc())).scalars().all()
    from marketplace.services.programmes import PROGRAMME_STATUS_LABELS

    return render_template("funder/home.html", funder=funder, kinds=FUNDER_KIND_LABELS, programmes=programmes,
                           programme_labels=PROGRAMME_STATUS_LABELS,
                           officers=funders_service.officers(funder),
                           invitations=funders_service.pending_invitations(funder),
                           invite_form=invite_form or InvitePersonForm(formdata=None)), code


@bp.route("/<int:funder_id>/")
@funder_required(level=FUNDER_SETUP)
def home(funder):
    return _home_page(funder)


def _may_invite(funder) -> bool:
    """The funder's officers invite colleagues; the coordination invites the first officers
    of a funder it set up (and again should every officer leave), never later ones: that
    would let it make itself an officer without the funder's delegation."""
    return may_manage_funder(funder.id, level=FUNDER_OFFICER) or not funder_has_officers(funder.id)


@bp.app_template_global("funder_may")
def funder_may(level: str) -> bool:
    """In the funders' area: whether the user holds ``level`` (an ``authz.FUNDER_LEVELS``
    name) on the funder of the page, to show only the links they may follow."""
    funder = g.get("funder")
    if funder is None:
        return False
    if level == "invite":
        return _may_invite(funder)
    return may_manage_funder(funder.id, level=level)


@bp.route("/<int:funder_id>/officers", methods=["POST"])
@funder_required(level=FUNDER_SETUP)
def invite_officer(funder):
    if not _may_invite(funder):
        abort(403)
    form = InvitePersonForm()
    if form.validate_on_submit():
        try:
            funders_service.invite_officer(g.territory, funder, form.email.data, current_user)
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc, "email")
        else:
            db.session.commit()
            flash(_("Invitation sent to %(email)s.", email=form.email.data), "success")
            return redirect(url_for("funder.home", funder_id=funder.id))
    return _home_page(funder, form, 422)


@bp.route("/<int:funder_id>/invitations/<int:invitation_id>/revoke", methods=["POST"])
@funder_required(level=FUNDER_SETUP)
def revoke_invitation(funder, invitation_id: int):
    if not _may_invite(funder):
        abort(403)
    invitation = get_or_404(Invitation, invitation_id)
    if invitation.funder_id != funder.id:
        abort(404)
    if ActionForm().validate_on_submit():
        invitations.revoke(invitation)
        db.session.commit()
        flash(_("Invitation to %(email)s withdrawn.", email=invitation.email), "success")
    return redirect(url_for("funder.home", funder_id=funder.id))
