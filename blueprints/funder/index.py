"""Funders' area: the list of funders the user may manage."""
from __future__ import annotations

from flask import abort, render_template
from flask_login import current_user
from sqlalchemy import select

from blueprints.common import login_required_here
from blueprints.funder.routes import bp
from marketplace.extensions import db
from marketplace.models import Funder
from marketplace.services.authz import funder_ids_here, is_coordinator


def manageable_funders() -> list[Funder]:
    """Every funder of the territory for coordinators; officers see only their own."""
    query = select(Funder).order_by(Funder.name)
    if not (is_coordinator() or current_user.is_platform_admin):
        ids = funder_ids_here()
        if not ids:
            return []
        query = query.where(Funder.id.in_(sorted(ids)))
    return list(db.session.execute(query).scalars())


@bp.route("/")
@login_required_here
def index():
    funders = manageable_funders()
    if not funders and not (is_coordinator() or current_user.is_platform_admin):
        abort(403)
    return render_template("funder/index.html", funders=funders, kinds=FUNDER_KIND_LABELS)


from marketplace.services.funders import FUNDER_KIND_LABELS  # noqa: E402
