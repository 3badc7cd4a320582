"""Cooperative staff: the territory dashboard limited to their cooperative (the cooperative
filter fixed), and its CSV. Routes join the cooperative blueprint (imported at the bottom
of ``blueprints/cooperative/routes.py``)."""
from __future__ import annotations

from blueprints.common import staff_required
from blueprints.coordinator.impact import render_csv, render_dashboard
from blueprints.cooperative.routes import bp


@bp.route("/<int:coop_id>/dashboard")
@staff_required
def dashboard(cooperative):
    return render_dashboard("cooperative/dashboard.html", "cooperative.dashboard", {"coop_id": cooperative.id},
                            cooperative)


@bp.route("/<int:coop_id>/dashboard.csv")
@staff_required
def dashboard_csv(cooperative):
    return render_csv("cooperative/dashboard.html", "cooperative.dashboard", {"coop_id": cooperative.id},
                      f"cooperativa-{cooperative.id}", cooperative)
