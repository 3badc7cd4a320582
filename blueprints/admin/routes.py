"""Platform operators: territories, their domains and first coordinators, the outbox."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from blueprints.admin.forms import DomainForm, InviteCoordinatorForm, TerritoryForm
from blueprints.common import ActionForm, admin_required, form_error, page_arg
from marketplace.extensions import db
from marketplace.models import Cooperative, Domain, Membership, OutboxMessage, Territory
from marketplace.services import DomainError, invitations, territories
from tenants.scoping import territory_scope, unscoped

bp = Blueprint("admin", __name__)


def _territory(territory_id: int) -> Territory:
    territory = db.session.get(Territory, territory_id)
    if territory is None:
        abort(404)
    return territory


@bp.route("/")
@admin_required
def index():
    rows = db.session.execute(select(Territory).order_by(Territory.name)).scalars().all()
    with unscoped():
        coop_counts = dict(db.session.execute(
            select(Cooperative.territory_id, func.count()).group_by(Cooperative.territory_id)
        ).all())
    return render_template("admin/index.html", territories=rows, coop_counts=coop_counts)


@bp.route("/territories/new", methods=["GET", "POST"])
@admin_required
def new_territory():
    form = TerritoryForm()
    if form.validate_on_submit():
        try:
            territory = territories.create_territory(
                form.slug.data, form.name.data, form.contact_email.data, form.default_language.data,
                form.primary_color.data or "#0066cc", form.logo_text.data or "",
                form.welcome_title.data or "", form.intro_text.data or "",
            )
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            db.session.commit()
            flash(_("Territory %(name)s created.", name=territory.name), "success")
            return redirect(url_for("admin.territory", territory_id=territory.id))
    return render_template("admin/territory_form.html", form=form), 422 if form.errors else 200


@bp.route("/territories/<int:territory_id>", methods=["GET", "POST"])
@admin_required
def territory(territory_id: int):
    territory = _territory(territory_id)
    form = TerritoryForm(obj=territory)
    if form.validate_on_submit():
        if form.slug.data.strip().lower() != territory.slug:
            form.slug.errors = [_("The address of an existing territory cannot change.")]
        else:
            for field in ("name", "contact_email", "default_language", "primary_color", "logo_text",
                          "welcome_title", "intro_text"):
                setattr(territory, field, (getattr(form, field).data or "").strip())
            territories.forget_cached(territory)
            db.session.commit()
            flash(_("Territory saved."), "success")
            return redirect(url_for("admin.territory", territory_id=territory.id))
    return _render_territory(territory, form=form, status=422 if form.errors else 200)


def _render_territory(territory, form=None, domain_form=None, invite_form=None, status=200):
    with territory_scope(territory.id):
        coordinators = db.session.execute(
            select(Membership).where(Membership.role == Membership.COORDINATOR)
        ).scalars().all()
        coordinators = [m.user for m in coordinators]
    return render_template(
        "admin/territory.html", territory=territory,
        form=form or TerritoryForm(obj=territory, formdata=None),
        domain_form=domain_form or DomainForm(formdata=None),
        invite_form=invite_form or InviteCoordinatorForm(formdata=None),
        action_form=ActionForm(), coordinators=coordinators,
    ), status


@bp.route("/territories/<int:territory_id>/domains", methods=["POST"])
@admin_required
def add_domain(territory_id: int):
    territory = _territory(territory_id)
    form = DomainForm()
    if form.validate_on_submit():
        try:
            territories.map_domain(territory, form.hostname.data)
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc, "hostname")
        else:
            db.session.commit()
            flash(_("Domain %(host)s now serves %(name)s.", host=form.hostname.data, name=territory.name), "success")
            return redirect(url_for("admin.territory", territory_id=territory.id))
    return _render_territory(territory, domain_form=form, status=422)


@bp.route("/territories/<int:territory_id>/domains/<int:domain_id>/delete", methods=["POST"])
@admin_required
def remove_domain(territory_id: int, domain_id: int):
    territory = _territory(territory_id)
    domain = db.session.get(Domain, domain_id)
    if domain is None or domain.territory_id != territory.id:
        abort(404)
    if ActionForm().validate_on_submit():
        territories.remove_domain(domain)
        db.session.commit()
        flash(_("Domain %(host)s removed.", host=domain.hostname), "success")
    return redirect(url_for("admin.territory", territory_id=territory.id))


@bp.route("/territories/<int:territory_id>/status", methods=["POST"])
@admin_required
def territory_status(territory_id: int):
    territory = _territory(territory_id)
    if ActionForm().validate_on_submit():
        if request.form.get("action") == "suspend":
            territories.suspend(territory)
            flash(_("%(name)s is suspended: its pages are offline, its data is kept.", name=territory.name), "success")
        elif request.form.get("action") == "reactivate":
            territories.reactivate(territory)
            flash(_("%(name)s is online again.", name=territory.name), "success")
        else:
            abort(400)
        db.session.commit()
    return redirect(url_for("admin.territory", territory_id=territory.id))


@bp.route("/territories/<int:territory_id>/coordinators", methods=["POST"])
@admin_required
def invite_coordinator(territory_id: int):
    territory = _territory(territory_id)
    form = InviteCoordinatorForm()
    if form.validate_on_submit():
        try:
            with territory_scope(territory.id):
                invitations.invite(territory, form.email.data, Membership.COORDINATOR, current_user)
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc, "email")
        else:
            db.session.commit()
            flash(_("Invitation sent to %(email)s.", email=form.email.data), "success")
            return redirect(url_for("admin.territory", territory_id=territory.id))
    return _render_territory(territory, invite_form=form, status=422)


@bp.route("/outbox")
@admin_required
def outbox():
    page = page_arg()
    messages = db.paginate(
        select(OutboxMessage).order_by(OutboxMessage.id.desc()), page=page, per_page=50,
        error_out=False,
    )
    return render_template("admin/outbox.html", messages=messages)


@bp.route("/outbox/<int:message_id>")
@admin_required
def outbox_message(message_id: int):
    message = db.session.get(OutboxMessage, message_id)
    if message is None:
        abort(404)
    return render_template("admin/outbox_message.html", message=message)
