"""A territory's own reference data: sub-categories of the verticals, and municipalities.

Everything here runs inside a territory scope; the caller commits. Rules are checked here
(not only in forms) so every door — HTML or API — refuses the same inputs.
"""
from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.models import Category, Municipality, Service, User
from marketplace.models.catalogue import VERTICALS
from marketplace.services import DomainError
from marketplace.services.catalogue import _refresh_derived, record

PROVINCE_RE = re.compile(r"^[A-Z]{2}$")
ISTAT_RE = re.compile(r"^\d{6}$")


# ---------------------------------------------------------------------------- categories

def _clean_category(data: dict) -> dict:
    vertical = data.get("vertical")
    if vertical not in VERTICALS:
        raise DomainError(_l("Choose an area."), field="vertical")
    name = " ".join((data.get("name") or "").split())
    if not name:
        raise DomainError(_l("Enter the Italian name."), field="name")
    if len(name) > 100:
        raise DomainError(_l("Use at most 100 characters."), field="name")
    name_en = " ".join((data.get("name_en") or "").split())
    if len(name_en) > 100:
        raise DomainError(_l("Use at most 100 characters."), field="name_en")
    position = data.get("position")
    position = 0 if position is None else position
    if not 0 <= position <= 9999:
        raise DomainError(_l("Enter a number between 0 and 9999."), field="position")
    return {"vertical": vertical, "name": name, "name_en": name_en, "position": position}


def _check_category_name_free(vertical: str, name: str, exclude_id: int | None = None) -> None:
    query = select(Category.id).where(Category.vertical == vertical,
                                      func.lower(Category.name) == name.lower())
    if exclude_id is not None:
        query = query.where(Category.id != exclude_id)
    if db.session.execute(query).first() is not None:
        raise DomainError(_l("There is already a sub-category called %(name)s in this area.", name=name),
                          field="name")


def services_using(category: Category) -> int:
    """How many services of any status are filed under ``category``."""
    return db.session.execute(
        select(func.count(Service.id)).where(Service.category_id == category.id)
    ).scalar_one()


def _services_of(category_id: int) -> list[Service]:
    return list(db.session.execute(
        select(Service).where(Service.category_id == category_id)
    ).scalars())


def create_category(data: dict, user: User | None) -> Category:
    """A new sub-category in the territory in scope. Raises DomainError on bad input or a duplicate."""
    clean = _clean_category(data)
    _check_category_name_free(clean["vertical"], clean["name"])
    category = Category(**clean)
    db.session.add(category)
    db.session.flush()
    record("category", category.id, "created", user, clean)
    return category


def update_category(category: Category, data: dict, user: User | None) -> dict:
    """Rename or move a sub-category; returns {field: [old, new]} of what changed.

    Moving it to another vertical is refused while services of the old vertical use it.
    """
    clean = _clean_category(data)
    _check_category_name_free(clean["vertical"], clean["name"], exclude_id=category.id)
    if clean["vertical"] != category.vertical and services_using(category):
        raise DomainError(_l("Services of another area use this sub-category: it cannot change area."),
                          field="vertical")
    changes = {k: [getattr(category, k), v] for k, v in clean.items() if getattr(category, k) != v}
    if not changes:
        return changes
    for key, value in clean.items():
        setattr(category, key, value)
    if "name" in changes:
        # The category's name is part of each service's search text.
        for service in _services_of(category.id):
            _refresh_derived(service)
    record("category", category.id, "edited", user, changes)
    return changes


def delete_category(category: Category, user: User | None) -> int:
    """Delete a sub-category; the services filed under it keep no sub-category.

    Returns how many services were affected. (The FK says SET NULL, but SQLite does not
    enforce foreign keys here, so the services are detached explicitly.)
    """
    affected = _services_of(category.id)
    for service in affected:
        service.category_id = None
        service.category = None
        _refresh_derived(service)
        record("service", service.id, "edited", user, {"category_id": [category.id, None]})
    record("category", category.id, "deleted", user,
           {"vertical": category.vertical, "name": category.name, "services": len(affected)})
    db.session.flush()
    db.session.delete(category)
    return len(affected)


# ---------------------------------------------------------------------------- municipalities

def _clean_municipality(data: dict) -> dict:
    name = " ".join((data.get("name") or "").split())
    if not name:
        raise DomainError(_l("Enter the municipality's name."), field="name")
    if len(name) > 100:
        raise DomainError(_l("Use at most 100 characters."), field="name")
    province = (data.get("province") or "").strip().upper()
    if not PROVINCE_RE.match(province):
        raise DomainError(_l("Enter the province as two letters, like CR."), field="province")
    istat_code = (data.get("istat_code") or "").strip()
    if istat_code and not ISTAT_RE.match(istat_code):
        raise DomainError(_l("The ISTAT code has 6 digits, like 019036."), field="istat_code")
    latitude, longitude = data.get("latitude"), data.get("longitude")
    if latitude is not None and not -90 <= latitude <= 90:
        raise DomainError(_l("Enter a latitude between -90 and 90."), field="latitude")
    if longitude is not None and not -180 <= longitude <= 180:
        raise DomainError(_l("Enter a longitude between -180 and 180."), field="longitude")
    if (latitude is None) != (longitude is None):
        missing = "longitude" if longitude is None else "latitude"
        raise DomainError(_l("Enter both latitude and longitude, or neither."), field=missing)
    population = data.get("population")
    if population is not None and population < 0:
        raise DomainError(_l("The population cannot be negative."), field="population")
    return {"name": name, "province": province, "istat_code": istat_code, "latitude": latitude,
            "longitude": longitude, "population": population}


def _check_municipality_name_free(name: str, exclude_id: int | None = None) -> None:
    # Case-insensitive: municipalities are looked up by name regardless of case.
    query = select(Municipality.id).where(func.lower(Municipality.name) == name.lower())
    if exclude_id is not None:
        query = query.where(Municipality.id != exclude_id)
    if db.session.execute(query).first() is not None:
        raise DomainError(_l("There is already a municipality called %(name)s.", name=name), field="name")


def create_municipality(data: dict, user: User | None) -> Municipality:
    """A new municipality of the territory in scope. Raises DomainError on bad input or a duplicate."""
    clean = _clean_municipality(data)
    _check_municipality_name_free(clean["name"])
    municipality = Municipality(**clean)
    db.session.add(municipality)
    db.session.flush()
    record("municipality", municipality.id, "created", user, clean)
    return municipality


def update_municipality(municipality: Municipality, data: dict, user: User | None) -> dict:
    """Edit a municipality; returns {field: [old, new]} of what changed."""
    clean = _clean_municipality(data)
    _check_municipality_name_free(clean["name"], exclude_id=municipality.id)
    changes = {k: [getattr(municipality, k), v] for k, v in clean.items() if getattr(municipality, k) != v}
    for key, value in clean.items():
        setattr(municipality, key, value)
    if changes:
        record("municipality", municipality.id, "edited", user, changes)
    return changes
