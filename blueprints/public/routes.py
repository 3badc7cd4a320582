"""Citizens' pages of one territory (prefix /t/<slug>, or the territory's own domain)."""
from __future__ import annotations

from flask import Blueprint, abort, g, render_template
from sqlalchemy import select

from blueprints.common import get_or_404
from marketplace.extensions import db
from marketplace.models import Cooperative

bp = Blueprint("public", __name__)


@bp.route("/")
def home():
    cooperatives = db.session.execute(
        select(Cooperative)
        .where(Cooperative.status == Cooperative.ACCREDITED)
        .order_by(Cooperative.name)
    ).scalars().all()
    return render_template("public/territory_home.html", territory=g.territory,
                           cooperatives=cooperatives)


@bp.route("/cooperatives/<int:coop_id>")
def cooperative(coop_id: int):
    coop = get_or_404(Cooperative, coop_id)
    if not coop.is_accredited:
        abort(404)
    return render_template("public/cooperative.html", cooperative=coop)
