"""Consortium coordinators: cooperatives, team, public texts, catalogue review, reference data."""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from blueprints.common import ActionForm, coordinator_required, form_error, get_or_404, page_arg
from blueprints.coordinator.forms import (
    CategoryForm, InviteCooperativeForm, InvitePersonForm, InviteTeamForm, MunicipalityForm, SendBackForm,
    StatusForm, TerritoryTextsForm, UnpublishForm,
)
from marketplace.services import territories
from marketplace.extensions import db
from marketplace.models import (
    Category, ChangeRecord, Cooperative, Invitation, Membership, Municipality, Service,
    ServiceLocation, User,
)
from marketplace.models.catalogue import VERTICALS
from marketplace.services import DomainError, catalogue, cooperatives, invitations, taxonomy

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
    in_review = db.session.execute(
        select(func.count(Service.id)).where(Service.status == Service.IN_REVIEW)
    ).scalar_one()
    return render_template("coordinator/dashboard.html", by_status=by_status,
                           open_invitations=open_invitations, in_review=in_review)


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
    form = InviteTeamForm()
    if form.validate_on_submit():
        try:
            invitations.invite(g.territory, form.email.data, form.role.data, current_user)
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
    help_desk = db.session.execute(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.role == Membership.HELP_DESK).order_by(User.full_name)
    ).scalars().all()
    pending = db.session.execute(
        select(Invitation).where(Invitation.role.in_((Membership.COORDINATOR, Membership.HELP_DESK)),
                                 Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
    ).scalars().all()
    return render_template("coordinator/team.html", form=form, coordinators=coordinators, help_desk=help_desk,
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
        territories.forget_cached(g.territory)
        db.session.commit()
        flash(_("The territory's page has been updated."), "success")
        return redirect(url_for("coordinator.settings"))
    return render_template("coordinator/settings.html", form=form), 422 if form.errors else 200


# ---------------------------------------------------------------------------- catalogue review

# The record actions that bring a service into each status: "since" in the queue.
_ENTERED_STATUS = {
    Service.IN_REVIEW: ("submitted",),
    Service.PUBLISHED: ("published",),
    Service.DRAFT: ("created", "sent_back", "unpublished", "restored"),
    Service.ARCHIVED: ("archived",),
}
QUEUE_PAGE_SIZE = 50


@bp.route("/services")
@coordinator_required
def service_queue():
    status = request.args.get("status")
    if status not in Service.STATUSES:
        status = Service.IN_REVIEW
    page = page_arg()
    counts = dict(db.session.execute(
        select(Service.status, func.count(Service.id)).group_by(Service.status)).all())
    total = counts.get(status, 0)
    pages = max(1, -(-total // QUEUE_PAGE_SIZE))
    page = min(max(1, page), pages)
    since = (
        select(func.max(ChangeRecord.created_at))
        .where(ChangeRecord.entity == "service", ChangeRecord.entity_id == Service.id,
               ChangeRecord.action.in_(_ENTERED_STATUS[status]))
        .correlate(Service).scalar_subquery()
    )
    since = func.coalesce(since, Service.updated_at)
    # The queue is served oldest first (first come, first reviewed); the other tabs newest first.
    order = since.asc() if status == Service.IN_REVIEW else since.desc()
    rows = db.session.execute(
        select(Service, since.label("since")).where(Service.status == status)
        .order_by(order, Service.id)
        .offset((page - 1) * QUEUE_PAGE_SIZE).limit(QUEUE_PAGE_SIZE)
        .options(selectinload(Service.cooperative), selectinload(Service.category))
    ).all()
    return render_template("coordinator/services.html", rows=rows, status=status, counts=counts,
                           page=page, pages=pages, total=total)


def _render_review(service: Service, status: int = 200, publish_form=None, send_back_form=None,
                   unpublish_form=None, failed=None):
    cooperative = db.session.get(Cooperative, service.cooperative_id)
    locations = db.session.execute(
        select(ServiceLocation).where(ServiceLocation.service_id == service.id)
        .order_by(ServiceLocation.id).options(selectinload(ServiceLocation.municipality))
    ).scalars().all()
    records = catalogue.history(service)
    return render_template(
        "coordinator/service_review.html", service=service, cooperative=cooperative,
        locations=locations, history=records,
        publish_form=publish_form or ActionForm(),
        send_back_form=send_back_form or SendBackForm(formdata=None),
        unpublish_form=unpublish_form or UnpublishForm(formdata=None),
        failed=failed,
    ), status


@bp.route("/services/<int:service_id>")
@coordinator_required
def service_review(service_id: int):
    return _render_review(get_or_404(Service, service_id))


def _load_for_update(service_id: int) -> Service:
    """The service, row-locked (PostgreSQL) so two reviewers cannot both move it; 404 if not here."""
    service = db.session.execute(
        select(Service).where(Service.id == service_id).with_for_update()
    ).scalar_one_or_none()
    if service is None:
        return get_or_404(Service, service_id)  # aborts with 404
    return service


def _change_status(service_id: int, from_status: str, to_status: str, form, form_name: str,
                   done_message: str):
    """Load (404), move the service ``from_status`` -> ``to_status`` through the catalogue, commit once.

    A refusal (DomainError: wrong status, missing comment, cooperative not accredited) rolls
    back and shows the review page again with the localised message (422).
    """
    service = _load_for_update(service_id)
    has_comment = hasattr(form, "comment")
    try:
        if not form.validate_on_submit():
            raise _InvalidForm()
        if service.status != from_status:
            # Each button means one move: "unpublish" never sends back a listing in review.
            raise DomainError(_l("This change of status is not allowed."))
        catalogue.change_status(service, to_status, current_user._get_current_object(),
                                as_coordinator=True,
                                comment=(form.comment.data or "") if has_comment else "")
        db.session.flush()
    except (DomainError, _InvalidForm) as exc:
        db.session.rollback()
        if isinstance(exc, DomainError):
            form_error(form, exc, "comment" if has_comment and exc.field == "comment" else None)
        return _render_review(get_or_404(Service, service_id), 422, failed=form_name, **{form_name: form})
    title = service.title
    db.session.commit()
    flash(done_message % {"title": title}, "success")
    return redirect(url_for("coordinator.service_review", service_id=service_id))


class _InvalidForm(Exception):
    pass


@bp.route("/services/<int:service_id>/publish", methods=["POST"])
@coordinator_required
def publish_service(service_id: int):
    return _change_status(service_id, Service.IN_REVIEW, Service.PUBLISHED, ActionForm(), "publish_form",
                          _("%(title)s is now published."))


@bp.route("/services/<int:service_id>/send-back", methods=["POST"])
@coordinator_required
def send_back_service(service_id: int):
    return _change_status(service_id, Service.IN_REVIEW, Service.DRAFT, SendBackForm(), "send_back_form",
                          _("%(title)s has been sent back to the cooperative."))


@bp.route("/services/<int:service_id>/unpublish", methods=["POST"])
@coordinator_required
def unpublish_service(service_id: int):
    return _change_status(service_id, Service.PUBLISHED, Service.DRAFT, UnpublishForm(), "unpublish_form",
                          _("%(title)s has been taken offline and sent back to the cooperative."))


# ---------------------------------------------------------------------------- sub-categories

def _categories_with_use():
    """(category, number of services filed under it), in the order citizens see them."""
    used = (select(Service.category_id, func.count(Service.id).label("n"))
            .where(Service.category_id.is_not(None)).group_by(Service.category_id).subquery())
    rows = db.session.execute(
        select(Category, func.coalesce(used.c.n, 0))
        .outerjoin(used, used.c.category_id == Category.id)
        .order_by(Category.position, Category.name)
    ).all()
    order = {code: i for i, code in enumerate(VERTICALS)}
    return sorted(rows, key=lambda row: order.get(row[0].vertical, len(order)))


def _save_reference(form, action, error_field: str = "name"):
    """Run ``action`` (a taxonomy use case), commit; on refusal roll back and explain on the form.

    Returns the result of ``action``, or None if it was refused.
    """
    try:
        result = action()
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        form_error(form, exc, error_field)
        return None
    except IntegrityError:
        # Two people saved the same name at the same moment: the unique constraint decides.
        db.session.rollback()
        form.name.errors = list(form.name.errors) + [_("This name is already in use.")]
        return None
    return result


@bp.route("/categories", methods=["GET", "POST"])
@coordinator_required
def categories():
    form = CategoryForm()
    if form.validate_on_submit():
        category = _save_reference(form, lambda: taxonomy.create_category(
            form.data_for_service(), current_user._get_current_object()))
        if category is not None:
            flash(_("Sub-category %(name)s added.", name=category.name), "success")
            return redirect(url_for("coordinator.categories"))
    elif request.method == "GET":
        form.vertical.data = request.args.get("vertical") if request.args.get("vertical") in VERTICALS else None
    return render_template("coordinator/categories.html", form=form, rows=_categories_with_use()), \
        422 if form.errors or form.form_errors else 200


@bp.route("/categories/<int:category_id>", methods=["GET", "POST"])
@coordinator_required
def category_edit(category_id: int):
    category = get_or_404(Category, category_id)
    form = CategoryForm(obj=category)
    if form.validate_on_submit():
        changes = _save_reference(form, lambda: taxonomy.update_category(
            category, form.data_for_service(), current_user._get_current_object()))
        if changes is not None:
            flash(_("Sub-category %(name)s saved.", name=category.name) if changes
                  else _("Nothing has changed."), "success")
            return redirect(url_for("coordinator.categories"))
        category = get_or_404(Category, category_id)
    return render_template("coordinator/category_edit.html", form=form, category=category,
                           used_by=taxonomy.services_using(category)), \
        422 if form.errors or form.form_errors else 200


@bp.route("/categories/<int:category_id>/delete", methods=["POST"])
@coordinator_required
def category_delete(category_id: int):
    category = get_or_404(Category, category_id)
    if ActionForm().validate_on_submit():
        name = category.name
        affected = taxonomy.delete_category(category, current_user._get_current_object())
        db.session.commit()
        if affected:
            flash(_("Sub-category %(name)s deleted; %(num)d services now have no sub-category.",
                    name=name, num=affected), "success")
        else:
            flash(_("Sub-category %(name)s deleted.", name=name), "success")
    return redirect(url_for("coordinator.categories"))


# ---------------------------------------------------------------------------- municipalities

@bp.route("/municipalities", methods=["GET", "POST"])
@coordinator_required
def municipalities():
    form = MunicipalityForm()
    if form.validate_on_submit():
        municipality = _save_reference(form, lambda: taxonomy.create_municipality(
            form.data_for_service(), current_user._get_current_object()))
        if municipality is not None:
            flash(_("%(name)s added.", name=municipality.name), "success")
            return redirect(url_for("coordinator.municipalities"))
    rows = db.session.execute(select(Municipality).order_by(Municipality.name)).scalars().all()
    return render_template("coordinator/municipalities.html", form=form, rows=rows), \
        422 if form.errors or form.form_errors else 200


@bp.route("/municipalities/<int:municipality_id>", methods=["GET", "POST"])
@coordinator_required
def municipality_edit(municipality_id: int):
    municipality = get_or_404(Municipality, municipality_id)
    form = MunicipalityForm(obj=municipality)
    if form.validate_on_submit():
        changes = _save_reference(form, lambda: taxonomy.update_municipality(
            municipality, form.data_for_service(), current_user._get_current_object()))
        if changes is not None:
            flash(_("%(name)s saved.", name=municipality.name) if changes else _("Nothing has changed."),
                  "success")
            return redirect(url_for("coordinator.municipalities"))
        municipality = get_or_404(Municipality, municipality_id)
    history = db.session.execute(
        select(ChangeRecord).where(ChangeRecord.entity == "municipality",
                                   ChangeRecord.entity_id == municipality.id)
        .order_by(ChangeRecord.id.desc()).limit(20)
    ).scalars().all()
    return render_template("coordinator/municipality_edit.html", form=form, municipality=municipality,
                           history=history), 422 if form.errors or form.form_errors else 200
from blueprints.coordinator import indicators as _indicators  # noqa: E402,F401  (its routes join this blueprint)
from blueprints.coordinator import impact as _impact  # noqa: E402,F401  (its routes join this blueprint)
