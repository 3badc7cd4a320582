"""Open Referral HSDS 3.0 export: our catalogue as HSDS services and organizations.

Only published services of accredited cooperatives, and accredited cooperatives, are
exported. Everything here runs inside a territory scope. Ids are stable UUIDs: a service's
and a location's ``public_id``; a cooperative's is derived (uuid5) from the territory slug and
its id; the rest (phones, schedules, cost options, ...) are uuid5 of their parent's id.
Optional HSDS fields are left out rather than sent as null (the schemas do not allow null).
Web addresses come from the caller (``Links``): this module never reads the request.
"""
from __future__ import annotations

import dataclasses
import math
import uuid
from typing import Callable

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.formatting import money
from marketplace.models import Cooperative, Service, ServiceLocation, Territory
from marketplace.models.catalogue import LANGUAGES, PRICE_MODELS

HSDS_VERSION = "3.0"
PROFILE_URL = "https://docs.openreferral.org/en/v3.0/"
OPENAPI_URL = "https://raw.githubusercontent.com/openreferral/specification/3.0/schema/openapi.json"
# Fixed forever: changing it would change every derived id the export has published.
NAMESPACE = uuid.UUID("5b0c7a8e-2f3d-5e1a-9c4b-8d6f0e2a7b13")
# Our language codes -> ISO 639-1 (or 639-3 where there is no 639-1 code).
ISO_LANGUAGE = {"lis": "ise"}  # "lis" is Lisu in ISO 639-3; Italian Sign Language is "ise"


@dataclasses.dataclass
class Links:
    """Absolute URLs of the territory's HTML pages (None: no such page)."""

    service: Callable[[Service], str | None] = lambda service: None
    organization: Callable[[Cooperative], str | None] = lambda cooperative: None


def organization_id(territory: Territory, cooperative: Cooperative) -> str:
    """The stable HSDS id of a cooperative (it has no UUID column of its own)."""
    return str(uuid.uuid5(NAMESPACE, f"cooperative:{territory.slug}:{cooperative.id}"))


def derived_id(parent_id: str, kind: str) -> str:
    """A stable id for something that exists only as a part of ``parent_id``'s record."""
    return str(uuid.uuid5(uuid.UUID(parent_id), kind))


def _compact(data: dict, keep: tuple[str, ...] = ()) -> dict:
    """HSDS has no nulls: optional fields without a value are left out (``keep``: required)."""
    return {k: v for k, v in data.items() if k in keep or (v is not None and v != "")}


def _web(url: str | None) -> str | None:
    url = (url or "").strip()
    return url if url.lower().startswith(("http://", "https://")) else None


def _email(value: str | None) -> str | None:
    value = (value or "").strip()
    return value if "@" in value and not any(c.isspace() for c in value) else None


def _euros(cents: int) -> float:
    return cents / 100


# ---------------------------------------------------------------------------- queries

def _published(*columns):
    """Published services of accredited cooperatives (an ORM select, so it is scoped)."""
    return (select(*(columns or (Service,))).join(Cooperative, Cooperative.id == Service.cooperative_id)
            .where(Service.status == Service.PUBLISHED, Cooperative.status == Cooperative.ACCREDITED))


def accredited_cooperatives() -> list[Cooperative]:
    return list(db.session.execute(
        select(Cooperative).where(Cooperative.status == Cooperative.ACCREDITED)
        .order_by(Cooperative.name, Cooperative.id)
    ).scalars())


def find_cooperative(territory: Territory, hsds_id: str) -> Cooperative | None:
    """The accredited cooperative whose derived id is ``hsds_id`` (recomputed: few rows)."""
    return next((c for c in accredited_cooperatives() if organization_id(territory, c) == hsds_id),
                None)


def find_service(public_id: str) -> Service | None:
    return db.session.execute(_published().where(Service.public_id == public_id)).scalar_one_or_none()


def services_page(page: int, per_page: int, cooperative_id: int | None = None) -> tuple[list[Service], int]:
    """One page of published services by title, and how many there are in all."""
    only = [Service.cooperative_id == cooperative_id] if cooperative_id is not None else []
    total = db.session.execute(_published(func.count(Service.id)).where(*only)).scalar_one()
    rows = db.session.execute(
        _published().where(*only).order_by(Service.title, Service.id)
        .offset((page - 1) * per_page).limit(per_page)
        .options(sa.orm.selectinload(Service.cooperative))
    ).scalars().all()
    return list(rows), total


def page(contents: list[dict], total: int, page_number: int, per_page: int) -> dict:
    """The HSDS API's Page: counts and flags around ``contents``."""
    pages = max(1, math.ceil(total / per_page))
    return {
        "total_items": total,
        "total_pages": pages,
        "page_number": page_number,
        "size": len(contents),
        "first_page": page_number == 1,
        "last_page": page_number >= pages,
        "empty": not contents,
        "contents": contents,
    }


# ---------------------------------------------------------------------------- organizations

def organization(territory: Territory, cooperative: Cooperative, links: Links) -> dict:
    """A cooperative as an HSDS organization, without nested records (organization_list)."""
    return _compact({
        "id": organization_id(territory, cooperative),
        "name": cooperative.name,
        "alternate_name": cooperative.legal_name if cooperative.legal_name != cooperative.name else None,
        "description": cooperative.description or "",
        "email": _email(cooperative.email),
        "website": _web(cooperative.website),
        "tax_id": cooperative.vat_number or None,
        "uri": links.organization(cooperative),
    }, keep=("description",))


def organization_full(territory: Territory, cooperative: Cooperative, links: Links) -> dict:
    """The organization with its phones, address and (summary of) published services."""
    data = organization(territory, cooperative, links)
    org_id = data["id"]
    if cooperative.phone:
        data["phones"] = [{"id": derived_id(org_id, "phone"), "organization_id": org_id,
                           "number": cooperative.phone}]
    if cooperative.address or cooperative.municipality:
        location_id = derived_id(org_id, "location")
        data["locations"] = [_compact({
            "id": location_id,
            "location_type": "physical",
            "organization_id": org_id,
            "name": cooperative.name,
            "addresses": [_address(location_id, cooperative.address, cooperative.municipality,
                                   cooperative.province, cooperative.postal_code)],
        })]
    if cooperative.vat_number:
        data["organization_identifiers"] = [{
            "id": derived_id(org_id, "identifier:vat"), "organization_id": org_id,
            "identifier_type": "Partita IVA", "identifier": cooperative.vat_number,
        }]
    services, _total = services_page(1, 10_000, cooperative_id=cooperative.id)
    data["services"] = [service(territory, s, links, with_organization=False) for s in services]
    return data


# ---------------------------------------------------------------------------- services

def _address(location_id: str, street: str, city: str, province: str, postal_code: str) -> dict:
    return {
        "id": derived_id(location_id, "address"),
        "location_id": location_id,
        "address_1": street or "",
        "city": city or "",
        "state_province": province or "",
        "postal_code": postal_code or "",
        "country": "IT",
        "address_type": "physical",
    }


def _fees_description(item: Service) -> str:
    parts = [str(PRICE_MODELS.get(item.price_model, item.price_model))]
    if item.price_model in ("fixed", "per_hour", "per_session") and item.price_cents is not None:
        parts[0] += f": {money(item.price_cents)}"
    elif item.price_model == "income_based" and item.lowest_price_cents is not None:
        parts[0] += ": " + _("from %(price)s", price=money(item.lowest_price_cents))
    if item.accepts_voucher:
        parts.append(_("Accepts municipal vouchers"))
    if item.accepts_welfare_credit:
        parts.append(_("Accepts employer welfare credit"))
    return ". ".join(parts) + "."


def _cost_options(item: Service) -> list[dict]:
    sid = item.public_id

    def option(key: str, label: str, cents: int | None, description: str | None = None) -> dict:
        return _compact({"id": derived_id(sid, f"cost_option:{key}"), "service_id": sid,
                         "option": label, "currency": "EUR",
                         "amount": None if cents is None else _euros(cents),
                         "amount_description": description})

    label = str(PRICE_MODELS.get(item.price_model, item.price_model))
    if item.price_model == "free":
        return [option("free", label, 0)]
    if item.price_model == "income_based":
        options = []
        for band in item.price_bands:
            limit = (_("ISEE up to %(amount)s", amount=money(band.isee_max_cents))
                     if band.isee_max_cents is not None else _("Any ISEE"))
            options.append(option(f"band:{band.id}", band.label or limit, band.price_cents, limit))
        return options
    if item.price_cents is None:
        return []
    return [option(item.price_model, label, item.price_cents)]


def _required_documents(item: Service) -> list[dict]:
    lines = [line.strip().lstrip("-*•").strip() for line in (item.documents or "").splitlines()]
    return [{"id": derived_id(item.public_id, f"required_document:{n}"), "service_id": item.public_id,
             "document": line} for n, line in enumerate(l for l in lines if l)]


def _location(item: Service, place: ServiceLocation) -> dict:
    location_id = place.public_id
    accessibility = []
    if item.wheelchair_accessible or item.accessibility:
        accessibility.append(_compact({
            "id": derived_id(location_id, "accessibility"),
            "location_id": location_id,
            "description": item.accessibility or None,
            "details": _("Wheelchair accessible") if item.wheelchair_accessible else None,
        }))
    return _compact({
        "id": location_id,
        "location_type": "physical",
        "name": place.name or place.municipality.name,
        "latitude": place.latitude,
        "longitude": place.longitude,
        "addresses": [_address(location_id, place.address, place.municipality.name,
                               place.municipality.province, place.postal_code)],
        "accessibility": accessibility or None,
    })


def service(territory: Territory, item: Service, links: Links, with_organization: bool = True) -> dict:
    """A service's own fields (service_list), with its organization (without nested records)."""
    data = _compact({
        "id": item.public_id,
        "organization_id": organization_id(territory, item.cooperative),
        "name": item.title,
        "description": "\n\n".join(p for p in (item.summary, item.description) if p),
        "url": links.service(item),
        "email": _email(item.contact_email),
        "status": "active",
        "fees_description": _fees_description(item),
        "eligibility_description": "\n\n".join(p for p in (item.target_group, item.eligibility) if p),
        "minimum_age": item.age_min,
        "maximum_age": item.age_max,
        "last_modified": item.updated_at.isoformat() if item.updated_at else None,
    })
    if with_organization:
        data["organization"] = organization(territory, item.cooperative, links)
    return data


def service_full(territory: Territory, item: Service, links: Links) -> dict:
    """The fully nested HSDS service: organization, places, schedule, costs, languages, ..."""
    data = service(territory, item, links)
    sid = item.public_id
    phones = [{"id": derived_id(sid, "phone"), "service_id": sid, "number": item.contact_phone}] \
        if item.contact_phone else []
    contact_id = derived_id(sid, "contact")
    contacts = [_compact({
        "id": contact_id, "service_id": sid, "email": _email(item.contact_email),
        "phones": [{"id": derived_id(contact_id, "phone"), "contact_id": contact_id,
                    "number": item.contact_phone}] if item.contact_phone else None,
    })] if item.contact_email or item.contact_phone else []
    data.update({
        "phones": phones,
        "contacts": contacts,
        "schedules": [{"id": derived_id(sid, "schedule"), "service_id": sid,
                       "description": item.schedule_text}] if item.schedule_text.strip() else [],
        "service_areas": [
            {"id": derived_id(sid, f"service_area:{area.municipality_id}"), "service_id": sid,
             "name": area.municipality.name,
             "description": _("Home visits in %(place)s", place=area.municipality.name)}
            for area in sorted(item.areas, key=lambda a: a.municipality.name)
        ],
        "service_at_locations": [
            {"id": derived_id(place.public_id, "service_at_location"), "service_id": sid,
             "location_id": place.public_id, "location": _location(item, place)}
            for place in item.locations
        ],
        "languages": [
            {"id": derived_id(sid, f"language:{code}"), "service_id": sid,
             "name": str(LANGUAGES.get(code, code)), "code": ISO_LANGUAGE.get(code, code)}
            for code in item.language_codes
        ],
        "cost_options": _cost_options(item),
        "required_documents": _required_documents(item),
    })
    return data

