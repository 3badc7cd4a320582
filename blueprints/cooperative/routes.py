"""Cooperative staff: their cooperative's profile and colleagues."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from blueprints.common import form_error, login_required_here, staff_required
from blueprints.cooperative.forms import CooperativeProfileForm
from blueprints.coordinator.forms import InvitePersonForm
from marketplace.extensions import db
from marketplace.models import Cooperative, Invitation, Membership, User
from marketplace.services import DomainError, cooperatives, invitations
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
