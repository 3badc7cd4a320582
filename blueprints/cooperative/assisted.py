"""A cooperative's staff book their own services for citizens who are not online: the
help desk's pages (``blueprints.helpdesk.views``) limited to this cooperative."""
from __future__ import annotations

from blueprints.common import staff_required
from blueprints.cooperative.routes import bp
from blueprints.helpdesk import views


@bp.route("/<int:coop_id>/assisted/", methods=["GET", "POST"])
@staff_required
@views.lookup_limit
def assisted_index(cooperative):
    return views.index(views.cooperative_desk(cooperative))


@bp.route("/<int:coop_id>/assisted/citizens/new", methods=["POST"])
@staff_required
@views.lookup_limit
def assisted_new_citizen(cooperative):
    return views.new_citizen(views.cooperative_desk(cooperative))


@bp.route("/<int:coop_id>/assisted/services")
@staff_required
def assisted_services(cooperative):
    return views.services(views.cooperative_desk(cooperative))


@bp.route("/<int:coop_id>/assisted/book/<int:slot_id>", methods=["GET", "POST"])
@staff_required
def assisted_book(cooperative, slot_id: int):
    return views.book(views.cooperative_desk(cooperative), slot_id)


@bp.route("/<int:coop_id>/assisted/bookings")
@staff_required
def assisted_bookings(cooperative):
    return views.bookings(views.cooperative_desk(cooperative))


@bp.route("/<int:coop_id>/assisted/bookings/<code>")
@staff_required
def assisted_confirmation(cooperative, code: str):
    return views.confirmation(views.cooperative_desk(cooperative), code)


@bp.route("/<int:coop_id>/assisted/bookings/<code>/cancel", methods=["POST"])
@staff_required
def assisted_cancel(cooperative, code: str):
    return views.cancel(views.cooperative_desk(cooperative), code)
