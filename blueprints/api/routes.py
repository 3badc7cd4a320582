"""The public JSON API, version 1: territories, their published catalogue, their cooperatives.

Read-only and anonymous. The API lives outside ``/t/<slug>/``, so each view resolves the
territory from its ``slug`` (404 if unknown or suspended) and runs — serialisation included —
inside that territory's scope.
"""
from __future__ import annotations

import functools
import math

from flask import abort, g
from flask_smorest import Blueprint
from sqlalchemy import func, select
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from blueprints.api import json_error, schemas
from marketplace.extensions import db
from marketplace.models import Cooperative, Service, Territory
from marketplace.services import catalogue
from marketplace.page_cache import shared_page
from tenants.resolution import territory_by_slug
from tenants.scoping import territory_scope

bp = Blueprint("api", __name__, url_prefix="/api/v1",
               description="Territories, their published services and accredited cooperatives.")
bp.register_error_handler(HTTPException, json_error)

SLUG_PATTERN = r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?"  # models.territory.SLUG_RE


class SlugConverter(BaseConverter):
    """A territory slug; anything else is not a route (404), never a query."""

    regex = SLUG_PATTERN


def slug_param_schema(converter) -> dict:
    return {"type": "string", "pattern": f"^{SLUG_PATTERN}$"}


SERVICE_ID = f"int(min=1, max={schemas.MAX_ID})"


def in_territory(view):
    """Resolve ``slug`` to an active territory (404 otherwise) and run ``view`` — and the
    dump of its response — in that territory's scope; the view gets ``territory``."""

    @functools.wraps(view)
    def wrapper(*args, slug: str, **kwargs):
        territory = territory_by_slug(slug)
        if territory is None or not territory.is_active:
            abort(404)
        g.territory = territory  # for links, the request log and the locale
        with territory_scope(territory.id):
            return view(*args, territory=territory, **kwargs)

    return wrapper


@bp.route("/territories")
@bp.response(200, schemas.TerritoryListSchema)
def territories():
    """Active territories

    Each territory is a consortium's own catalogue; use its `slug` in the other paths."""
    rows = db.session.execute(
        select(Territory).where(Territory.status == Territory.ACTIVE).order_by(Territory.name)
    ).scalars().all()
    return {"items": rows}


@bp.route("/territories/<slug:slug>")
@in_territory
@bp.response(200, schemas.TerritorySchema)
@bp.alt_response(404, schema=schemas.ErrorSchema, description="No such active territory")
def territory(territory: Territory):
    """One territory"""
    return territory


def search_params(args: dict) -> catalogue.SearchParams:
    """Validated query arguments -> the catalogue's SearchParams (as the catalogue page does)."""
    params = catalogue.SearchParams(
        q=args["q"].strip(), vertical=args.get("vertical"), category_id=args.get("category"),
        municipality_id=args.get("municipality"), age=args.get("age"), free=args.get("free"),
        voucher=args["voucher"], welfare=args["welfare"], accessible=args["accessible"],
        language=args.get("language"), cooperative_id=args.get("cooperative"), sort=args["sort"],
        near_id=args.get("near"), page=args["page"], per_page=args["per_page"],
    )
    if params.sort == "nearest" and not params.near_id:
        params.near_id = params.municipality_id
    return params


def facets(raw: dict) -> dict:
    """The search's facets with string keys: the values to pass to each filter."""
    return {
        "vertical": dict(raw["vertical"]),
        "category": {str(k): v for k, v in raw["category"].items()},
        "municipality": {str(k): v for k, v in raw["municipality"].items()},
        "free": {"true": raw["free"][True], "false": raw["free"][False]},
        "voucher": raw["voucher"],
        "welfare": raw["welfare"],
        "accessible": raw["accessible"],
        "language": dict(raw["language"]),
    }


@bp.route("/territories/<slug:slug>/services")
@in_territory
@shared_page
@bp.arguments(schemas.ServiceQuerySchema, location="query")
@bp.response(200, schemas.ServicePageSchema)
@bp.alt_response(404, schema=schemas.ErrorSchema, description="No such active territory")
def territory_services(args: dict, territory: Territory):
    """Search the published services

    The same filters, sort and pagination as the territory's catalogue page, with facets:
    how many results each filter value would give."""
    result = catalogue.search(search_params(args))
    return {"items": result.items, "total": result.total, "page": result.page,
            "per_page": result.per_page, "pages": result.pages, "facets": facets(result.facets)}


@bp.route(f"/territories/<slug:slug>/services/<{SERVICE_ID}:service_id>")
@in_territory
@shared_page
@bp.response(200, schemas.ServiceDetailSchema)
@bp.alt_response(404, schema=schemas.ErrorSchema,
                 description="No such territory, or no published service with this id in it")
def territory_service(territory: Territory, service_id: int):
    """One published service"""
    service = db.session.get(Service, service_id)
    if service is None or not service.is_published:
        abort(404)
    return service


@bp.route("/territories/<slug:slug>/organizations")
@in_territory
@shared_page
@bp.arguments(schemas.PageQuerySchema, location="query")
@bp.response(200, schemas.OrganizationPageSchema)
@bp.alt_response(404, schema=schemas.ErrorSchema, description="No such active territory")
def territory_organizations(args: dict, territory: Territory):
    """Accredited cooperatives

    The organisations that provide the territory's services, by name."""
    accredited = Cooperative.status == Cooperative.ACCREDITED
    total = db.session.execute(select(func.count(Cooperative.id)).where(accredited)).scalar_one()
    page, per_page = args["page"], args["per_page"]
    rows = db.session.execute(
        select(Cooperative).where(accredited).order_by(Cooperative.name, Cooperative.id)
        .offset((page - 1) * per_page).limit(per_page)
    ).scalars().all()
    return {"items": rows, "total": total, "page": page, "per_page": per_page,
            "pages": max(1, math.ceil(total / per_page))}
