"""Platform-wide public pages: the list of territories and the health check."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template
from sqlalchemy import text

from marketplace.extensions import csrf, db
from marketplace.queue import redis_connection
from marketplace.services.territories import active_territories

bp = Blueprint("platform", __name__)


@bp.route("/")
def home():
    return render_template("public/platform_home.html", territories=active_territories())


@bp.route("/privacy")
@bp.route("/t/<territory>/privacy")
def privacy():
    """The privacy notice (informativa): who holds which data, why, for how long, rights."""
    return render_template("public/privacy.html")


@bp.route("/healthz")
@csrf.exempt
def healthz():
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        db.session.rollback()
        checks["database"] = f"error: {exc.__class__.__name__}"
    if current_app.config.get("REDIS_URL"):
        try:
            redis_connection().ping()
            checks["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["redis"] = f"error: {exc.__class__.__name__}"
    else:
        checks["redis"] = "not configured (jobs run inline)"
    healthy = all(v == "ok" or v.startswith("not configured") for v in checks.values())
    return jsonify(status="ok" if healthy else "error", **checks), 200 if healthy else 503
