"""Territory help desk (Social Point): operators and coordinators book for citizens who
are not online. Every route: help-desk operators or coordinators of this territory."""
from __future__ import annotations

from flask import Blueprint

from blueprints.common import help_desk_required
from blueprints.helpdesk import views

bp = Blueprint("helpdesk", __name__)


@bp.route("/", methods=["GET", "POST"])
@help_desk_required
@views.lookup_limit
def index():
    return views.index(views.help_desk())


@bp.route("/citizens/new", methods=["POST"])
@help_desk_required
@views.lookup_limit
def new_citizen():
    return views.new_citizen(views.help_desk())


@bp.route("/services")
@help_desk_required
def services():
    return views.services(views.help_desk())


@bp.route("/book/<int:slot_id>", methods=["GET", "POST"])
@help_desk_required
def book(slot_id: int):
    return views.book(views.help_desk(), slot_id)


@bp.route("/bookings")
@help_desk_required
def bookings():
    return views.bookings(views.help_desk())


@bp.route("/bookings/<code>")
@help_desk_required
def confirmation(code: str):
    return views.confirmation(views.help_desk(), code)


@bp.route("/bookings/<code>/cancel", methods=["POST"])
@help_desk_required
def cancel(code: str):
    return views.cancel(views.help_desk(), code)
