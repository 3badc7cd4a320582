"""Consortium coordinators: the territory's cooperatives, team and public texts."""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from blueprints.common import ActionForm, coordinator_required, form_error, get_or_404
from blueprints.coordinator.forms import (
    InviteCooperativeForm, InvitePersonForm, StatusForm, TerritoryTextsForm,
)
from marketplace.extensions import db
from marketplace.models import Cooperative, Invitation, Membership, User
from marketplace.services import DomainError, cooperatives, invitations

bp = Blueprint("coordinator", __name__)


@bp.route("/")
@coordinator_required
def dashboard():
    by_status = dict(
        db.session.execute(
            select(Cooperative.status, func.count()).group_by(Cooperative.status)
        ).all()
    )
    open_invitations = db.session.execute(
        select(func.count(Invitation.id)).where(
            Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None)
        )
    ).scalar_one()
    return render_template("coordinator/dashboard.html", by_status=by_status,
                           open_invitations=open_invitations)


@bp.route("/cooperatives")
@coordinator_required
def cooperative_list():
    status = request.args.get("status")
    query = select(Cooperative).order_by(Cooperative.name)
    if status in Cooperative.STATUSES:
        query = query.where(Cooperative.status == status)
    rows = db.session.execute(query).scalars().all()
    return render_template("coordinator/cooperatives.html", cooperatives=rows, status=status)


@bp.route("/cooperatives/invite", methods=["GET", "POST"])
@coordinator_required
def invite_cooperative():
    form = InviteCooperativeForm()
    if form.validate_on_submit():
        try:
            coop = cooperatives.invite_cooperative(g.territory, form.name.data, form.staff_email.data,
                                                   current_user)
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc, "staff_email")
        else:
            db.session.commit()
            flash(_("%(name)s has been added and its staff invited.", name=coop.name), "success")
            return redirect(url_for("coordinator.cooperative_detail", coop_id=coop.id))
    return render_template("coordinator/invite_cooperative.html", form=form), 422 if form.errors else 200


@bp.route("/cooperatives/<int:coop_id>")
@coordinator_required
def cooperative_detail(coop_id: int):
    coop = get_or_404(Cooperative, coop_id)
    return _render_detail(coop, InvitePersonForm())


def _render_detail(coop, invite_form, status=200):
    staff = db.session.execute(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.cooperative_id == coop.id, Membership.role == Membership.STAFF)
        .order_by(User.full_name)
    ).scalars().all()
    pending = db.session.execute(
        select(Invitation).where(Invitation.cooperative_id == coop.id, Invitation.accepted_at.is_(None),
                                 Invitation.revoked_at.is_(None)).order_by(Invitation.created_at)
    ).scalars().all()
    return render_template("coordinator/cooperative.html", cooperative=coop, staff=staff,
                           invitations=pending, invite_form=invite_form, status_form=StatusForm(),
                           action_form=ActionForm()), status


@bp.route("/cooperatives/<int:coop_id>/status", methods=["POST"])
@coordinator_required
def cooperative_status(coop_id: int):
    coop = get_or_404(Cooperative, coop_id)
    form = StatusForm()
    if form.validate_on_submit():
        try:
            cooperatives.change_status(coop, form.status.data)
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "danger")
            return redirect(url_for("coordinator.cooperative_detail", coop_id=coop.id))
        db.session.commit()
        flash(_("Status of %(name)s updated.", name=coop.name), "success")
    return redirect(url_for("coordinator.cooperative_detail", coop_id=coop.id))


@bp.route("/cooperatives/<int:coop_id>/staff", methods=["POST"])
@coordinator_required
def invite_staff(coop_id: int):
    coop = get_or_404(Cooperative, coop_id)
    form = InvitePersonForm()
    if form.validate_on_submit():
        try:
            invitations.invite(g.territory, form.email.data, Membership.STAFF, current_user, coop)
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc, "email")
        else:
            db.session.commit()
            flash(_("Invitation sent to %(email)s.", email=form.email.data), "success")
            return redirect(url_for("coordinator.cooperative_detail", coop_id=coop.id))
    return _render_detail(coop, form, 422)


@bp.route("/team", methods=["GET", "POST"])
@coordinator_required
def team():
    form = InvitePersonForm()
    if form.validate_on_submit():
        try:
            invitations.invite(g.territory, form.email.data, Membership.COORDINATOR, current_user)
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc, "email")
        else:
            db.session.commit()
            flash(_("Invitation sent to %(email)s.", email=form.email.data), "success")
            return redirect(url_for("coordinator.team"))
    coordinators = db.session.execute(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.role == Membership.COORDINATOR).order_by(User.full_name)
    ).scalars().all()
    pending = db.session.execute(
        select(Invitation).where(Invitation.role == Membership.COORDINATOR,
                                 Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
    ).scalars().all()
    return render_template("coordinator/team.html", form=form, coordinators=coordinators,
                           invitations=pending, action_form=ActionForm()), 422 if form.errors else 200


@bp.route("/invitations/<int:invitation_id>/revoke", methods=["POST"])
@coordinator_required
def revoke_invitation(invitation_id: int):
    invitation = get_or_404(Invitation, invitation_id)
    if ActionForm().validate_on_submit():
        invitations.revoke(invitation)
        db.session.commit()
        flash(_("Invitation to %(email)s withdrawn.", email=invitation.email), "success")
    if invitation.cooperative_id:
        return redirect(url_for("coordinator.cooperative_detail", coop_id=invitation.cooperative_id))
    return redirect(url_for("coordinator.team"))


@bp.route("/settings", methods=["GET", "POST"])
@coordinator_required
def settings():
    form = TerritoryTextsForm(obj=g.territory)
    if form.validate_on_submit():
        g.territory.welcome_title = form.welcome_title.data.strip()
        g.territory.intro_text = form.intro_text.data.strip()
        g.territory.about_text = form.about_text.data.strip()
        g.territory.contact_email = form.contact_email.data.strip().lower()
        db.session.commit()
        flash(_("The territory's page has been updated."), "success")
        return redirect(url_for("coordinator.settings"))
    return render_template("coordinator/settings.html", form=form), 422 if form.errors else 200
