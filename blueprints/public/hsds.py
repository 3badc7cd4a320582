"""Open Referral HSDS 3.0 API of one territory (prefix /t/<slug>/hsds, or /hsds on its domain).

Read-only JSON following the HSDS API (shared/standards/hsds-3.0/openapi.json): paged lists
of services and organizations, one fully nested service or organization by its UUID. The
URL preprocessor has already put the territory in ``g.territory`` and in scope.
"""
from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, g, jsonify, request
from flask_babel import gettext as _
from webargs.flaskparser import abort as abort_with  # keeps ``messages`` for the JSON error
from werkzeug.exceptions import HTTPException

from blueprints.api import json_error
from marketplace.services import hsds
from marketplace.services.mail import external_url

bp = Blueprint("hsds", __name__)
bp.register_error_handler(HTTPException, json_error)
NUMBER = re.compile(r"^[0-9]{1,6}$")


def _links() -> hsds.Links:
    def page(endpoint: str, **values) -> str | None:
        if endpoint not in current_app.view_functions:
            return None
        return external_url(endpoint, **values)

    return hsds.Links(
        service=lambda s: page("public.service", service_id=s.id),
        organization=lambda c: page("public.cooperative", coop_id=c.id),
    )


def _paging() -> tuple[int, int]:
    """``page`` (1-10000) and ``per_page`` (1-100, default 50); 422 naming the field otherwise."""
    errors, values = {}, {}
    for name, default, high in (("page", 1, 10_000), ("per_page", 50, 100)):
        raw = request.args.get(name, "").strip()
        if not raw:
            values[name] = default
        elif NUMBER.match(raw) and 1 <= int(raw) <= high:
            values[name] = int(raw)
        else:
            errors[name] = [_("Enter a number between %(low)s and %(high)s.", low=1, high=high)]
    if errors:
        abort_with(422, messages={"query": errors})
    return values["page"], values["per_page"]


@bp.route("/")
def index():
    """What this API is: the HSDS version and where its definition is."""
    return jsonify(version=hsds.HSDS_VERSION, profile=hsds.PROFILE_URL, openapi_url=hsds.OPENAPI_URL)


@bp.route("/services")
def services():
    number, per_page = _paging()
    items, total = hsds.services_page(number, per_page)
    links = _links()
    return jsonify(hsds.page([hsds.service(g.territory, s, links) for s in items],
                             total, number, per_page))


@bp.route("/services/<uuid:service_id>")
def service(service_id):
    item = hsds.find_service(str(service_id))
    if item is None:
        abort(404)
    return jsonify(hsds.service_full(g.territory, item, _links()))


@bp.route("/organizations")
def organizations():
    number, per_page = _paging()
    everyone = hsds.accredited_cooperatives()
    chunk = everyone[(number - 1) * per_page:number * per_page]
    links = _links()
    return jsonify(hsds.page([hsds.organization(g.territory, c, links) for c in chunk],
                             len(everyone), number, per_page))


@bp.route("/organizations/<uuid:organization_id>")
def organization(organization_id):
    cooperative = hsds.find_cooperative(g.territory, str(organization_id))
    if cooperative is None:
        abort(404)
    return jsonify(hsds.organization_full(g.territory, cooperative, _links()))
