"""Citizens' pages of one territory (prefix /t/<slug>, or the territory's own domain)."""
from __future__ import annotations

from flask import Blueprint, abort, g, render_template, request
from flask_babel import get_locale
from sqlalchemy import select

from blueprints.common import get_or_404
from blueprints.public.catalogue_query import parse
from marketplace.extensions import db
from marketplace.page_cache import shared_page
from marketplace.models import Category, Cooperative, Municipality, Service
from marketplace.models.catalogue import VERTICALS
from marketplace.services import catalogue
from marketplace.services.mail import external_url

bp = Blueprint("public", __name__)


@bp.route("/")
@shared_page
def home():
    cooperatives = db.session.execute(
        select(Cooperative)
        .where(Cooperative.status == Cooperative.ACCREDITED)
        .order_by(Cooperative.name)
    ).scalars().all()
    params, _ = parse({})
    counts = catalogue.search(params, with_facets=True).facets.get("vertical", {})
    return render_template("public/territory_home.html", territory=g.territory,
                           cooperatives=cooperatives, vertical_counts=counts)


def _choices():
    categories = db.session.execute(
        select(Category).order_by(Category.vertical, Category.position, Category.name)
    ).scalars().all()
    municipalities = db.session.execute(select(Municipality).order_by(Municipality.name)).scalars().all()
    return categories, municipalities


@bp.route("/services")
@shared_page
def catalogue_page():
    params, errors = parse(request.args)
    result = catalogue.search(params)
    categories, municipalities = _choices()
    args = {k: v for k, v in request.args.items() if v and k != "page"}
    return render_template(
        "public/catalogue.html", result=result, params=params, errors=errors,
        categories=categories, municipalities=municipalities, args=args,
        locale=str(get_locale()),
    ), 400 if errors else 200


@bp.route("/services/<int:service_id>")
@shared_page
def service(service_id: int):
    item = get_or_404(Service, service_id)
    # Citizens see published services of accredited cooperatives only (as in the search).
    if not item.is_published or not item.cooperative.is_accredited:
        abort(404)
    from marketplace.models import Slot
    from marketplace.models.base import utcnow
    from marketplace.services import booking

    slots = db.session.execute(
        select(Slot).where(Slot.service_id == item.id, Slot.status == Slot.OPEN, Slot.starts_at > utcnow())
        .order_by(Slot.starts_at).limit(20)
    ).scalars().all()
    dates = [(slot, booking.seats_left(slot)) for slot in slots if slot.ticket_types]
    return render_template("public/service.html", service=item, json_ld=_json_ld(item),
                           locale=str(get_locale()), dates=dates)


def _json_ld(item: Service) -> dict:
    """schema.org description of the service for search engines."""
    data = {
        "@context": "https://schema.org",
        "@type": "Service",
        "name": item.title,
        "description": item.summary or item.title,
        "serviceType": str(VERTICALS.get(item.vertical, item.vertical)),
        "url": external_url("public.service", service_id=item.id),
        "provider": {
            "@type": "Organization",
            "name": item.cooperative.name,
            "url": external_url("public.cooperative", coop_id=item.cooperative_id),
        },
        "areaServed": [m.name for m in item.municipalities]
        + [loc.municipality.name for loc in item.locations],
        "availableLanguage": item.language_codes,
    }
    if item.lowest_price_cents is not None:
        data["offers"] = {"@type": "Offer", "price": f"{item.lowest_price_cents / 100:.2f}",
                          "priceCurrency": "EUR"}
    if item.contact_email or item.contact_phone:
        data["provider"]["email"] = item.contact_email or None
        data["provider"]["telephone"] = item.contact_phone or None
    return data


@bp.route("/cooperatives/<int:coop_id>")
@shared_page
def cooperative(coop_id: int):
    coop = get_or_404(Cooperative, coop_id)
    if not coop.is_accredited:
        abort(404)
    services = db.session.execute(
        select(Service).where(Service.cooperative_id == coop.id, Service.status == Service.PUBLISHED)
        .order_by(Service.title)
    ).scalars().all()
    return render_template("public/cooperative.html", cooperative=coop, services=services)


@bp.route("/services/<int:service_id>/images/<int:image_id>")
def service_image(service_id: int, image_id: int):
    """An image of a listing: anyone's for a published service, otherwise only for the
    owning cooperative's staff (and the territory's coordinators, who review it)."""
    from flask import make_response
    from flask_login import current_user

    from marketplace.models import ServiceImage
    from marketplace.services.authz import is_coordinator, staff_cooperative_ids

    item = get_or_404(Service, service_id)
    image = get_or_404(ServiceImage, image_id)
    if image.service_id != item.id:
        abort(404)
    if not item.is_published and not (
            item.cooperative_id in staff_cooperative_ids() or is_coordinator()
            or getattr(current_user, "is_platform_admin", False)):
        abort(404)
    response = make_response(image.data)
    response.headers["Content-Type"] = image.content_type
    # Published images are public; an unpublished one is nobody's to keep.
    response.headers["Cache-Control"] = "public, max-age=3600" if item.is_published else "private, no-store"
    response.add_etag()
    return response.make_conditional(request)
