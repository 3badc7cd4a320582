"""Use cases of the catalogue: listings and their review workflow, and the search.

Everything here runs inside a territory scope; the caller commits.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, exists, func, literal, or_, select

from marketplace import page_cache
from marketplace.extensions import db
from marketplace.models import (
    Category, ChangeRecord, Cooperative, Municipality, PriceBand, Service, ServiceImage,
    ServiceLocation, User,
)
from marketplace.models.base import utcnow
from marketplace.models.catalogue import (
    DELIVERY_MODES, LANGUAGES, PRICE_MODELS, VERTICALS, ServiceArea,
)
from marketplace.services import DomainError
from marketplace.services.search_index import index_text, terms
from tenants.scoping import TenantScopeError, current_territory_id, unscoped

# Review workflow: who may move a service from which status to which.
STAFF_TRANSITIONS = {
    ("draft", "in_review"),
    ("draft", "archived"), ("in_review", "archived"), ("published", "archived"),
    ("archived", "draft"),
}
COORDINATOR_TRANSITIONS = {
    ("in_review", "published"),   # publish
    ("in_review", "draft"),       # send back with a comment
    ("published", "draft"),       # unpublish
}
TRANSITION_ACTIONS = {
    ("draft", "in_review"): "submitted",
    ("in_review", "published"): "published",
    ("in_review", "draft"): "sent_back",
    ("published", "draft"): "unpublished",
    ("archived", "draft"): "restored",
}

IMAGE_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
MAX_IMAGE_BYTES = 2 * 1024 * 1024
MAX_IMAGES = 6

SCALAR_FIELDS = (
    "title", "summary", "description", "vertical", "category_id", "target_group", "age_min",
    "age_max", "eligibility", "documents", "delivery_modes", "schedule_text", "languages",
    "accessibility", "wheelchair_accessible", "price_model", "price_cents", "accepts_card",
    "accepts_voucher", "accepts_welfare_credit", "contact_email", "contact_phone",
    "booking_mode", "participant_fields", "free_cancel_hours", "late_refund_percent",
)


# ---------------------------------------------------------------------------- listings

def _validate(data: dict) -> None:
    if not (data.get("title") or "").strip():
        raise DomainError(_l("Enter a title."), field="title")
    if data.get("vertical") not in VERTICALS:
        raise DomainError(_l("Choose an area."), field="vertical")
    if data.get("price_model") not in PRICE_MODELS:
        raise DomainError(_l("Choose a price model."), field="price_model")
    price = data.get("price_cents")
    if price is not None and price < 0:
        raise DomainError(_l("A price cannot be negative."), field="price_cents")
    if data["price_model"] in ("fixed", "per_hour", "per_session") and price is None:
        raise DomainError(_l("Enter the price."), field="price_cents")
    age_min, age_max = data.get("age_min"), data.get("age_max")
    for name, value in (("age_min", age_min), ("age_max", age_max)):
        if value is not None and not 0 <= value <= 120:
            raise DomainError(_l("Enter an age between 0 and 120."), field=name)
    if age_min is not None and age_max is not None and age_max < age_min:
        raise DomainError(_l("The highest age cannot be lower than the lowest age."), field="age_max")
    modes = [m for m in (data.get("delivery_modes") or "").split(",") if m]
    if not modes or any(m not in DELIVERY_MODES for m in modes):
        raise DomainError(_l("Choose where the service is given."), field="delivery_modes")
    langs = [code for code in (data.get("languages") or "").split(",") if code]
    if any(code not in LANGUAGES for code in langs):
        raise DomainError(_l("Unknown language."), field="languages")
    _validate_booking(data)
    if data.get("category_id") is not None:
        category = db.session.get(Category, data["category_id"])
        if category is None or category.vertical != data["vertical"]:
            raise DomainError(_l("Choose a sub-category of the chosen area."), field="category_id")


def _validate_booking(data: dict) -> None:
    """How citizens get the service and its cancellation policy (absent keys keep defaults)."""
    from marketplace.services.policy import BOOKING_MODES, MAX_FREE_CANCEL_HOURS, PARTICIPANT_FIELDS

    if data.get("booking_mode", "slots") not in BOOKING_MODES:
        raise DomainError(_l("Choose how citizens get the service."), field="booking_mode")
    if (data.get("participant_fields") or "") not in PARTICIPANT_FIELDS:
        raise DomainError(_l("Choose which details to ask for."), field="participant_fields")
    hours = data.get("free_cancel_hours", 48)
    if not isinstance(hours, int) or isinstance(hours, bool) or not 0 <= hours <= MAX_FREE_CANCEL_HOURS:
        raise DomainError(_l("Enter a number of hours between 0 and %(max)d.", max=MAX_FREE_CANCEL_HOURS),
                          field="free_cancel_hours")
    percent = data.get("late_refund_percent", 0)
    if not isinstance(percent, int) or isinstance(percent, bool) or not 0 <= percent <= 100:
        raise DomainError(_l("Enter a percentage between 0 and 100."), field="late_refund_percent")


def municipality_by_name(name: str) -> Municipality:
    """The territory's municipality of that name (case-insensitive), else DomainError."""
    found = db.session.execute(
        select(Municipality).where(func.lower(Municipality.name) == (name or "").strip().lower())
    ).scalar_one_or_none()
    if found is None:
        raise DomainError(_l("%(name)s is not a municipality of this territory.", name=name),
                          field="municipality")
    return found


def _apply(service: Service, data: dict, locations: list[dict] | None,
           home_municipalities: list[int] | None, bands: list[dict] | None) -> dict:
    """Write validated data onto ``service``; returns {field: [old, new]} of what changed."""
    changes: dict = {}
    for field in SCALAR_FIELDS:
        if field in data:
            new = data[field].strip() if isinstance(data[field], str) else data[field]
            old = getattr(service, field)
            if old != new:
                changes[field] = [old, new]
                setattr(service, field, new)
    if locations is not None:
        before = [(l.name, l.address, l.postal_code, l.municipality_id) for l in service.locations]
        after = [(l.get("name", ""), l.get("address", ""), l.get("postal_code", ""), l["municipality_id"])
                 for l in locations]
        if before != after:
            for municipality_id in {l["municipality_id"] for l in locations}:
                if db.session.get(Municipality, municipality_id) is None:
                    raise DomainError(_l("Unknown municipality."), field="locations")
            service.locations = [
                ServiceLocation(
                    name=l.get("name", ""), address=l.get("address", ""),
                    postal_code=l.get("postal_code", ""), municipality_id=l["municipality_id"],
                    latitude=l.get("latitude"), longitude=l.get("longitude"),
                    territory_id=service.territory_id,
                )
                for l in locations
            ]
            changes["locations"] = [before, after]
    if home_municipalities is not None:
        before_ids = sorted(a.municipality_id for a in service.areas)
        after_ids = sorted(set(home_municipalities))
        if before_ids != after_ids:
            rows = db.session.execute(
                select(Municipality).where(Municipality.id.in_(after_ids))
            ).scalars().all() if after_ids else []
            if len(rows) != len(after_ids):
                raise DomainError(_l("Unknown municipality."), field="home_municipalities")
            service.areas = [ServiceArea(municipality_id=m.id, municipality=m,
                                         territory_id=service.territory_id) for m in rows]
            changes["home_municipalities"] = [before_ids, after_ids]
    if bands is not None:
        before = [(b.label, b.isee_max_cents, b.price_cents) for b in service.price_bands]
        after = [(b.get("label", ""), b.get("isee_max_cents"), b["price_cents"]) for b in bands]
        if any(b["price_cents"] < 0 for b in bands):
            raise DomainError(_l("A price cannot be negative."), field="price_bands")
        if before != after:
            service.price_bands = [
                PriceBand(label=l, isee_max_cents=m, price_cents=p, territory_id=service.territory_id)
                for l, m, p in after
            ]
            changes["price_bands"] = [before, after]
    if service.price_model == "income_based" and not service.price_bands:
        raise DomainError(_l("Add at least one income band."), field="price_bands")
    if "delivery_modes" in data or locations is not None:
        modes = service.delivery_mode_list
        if "at_location" in modes and not service.locations:
            raise DomainError(_l("Add the address where the service is given."), field="locations")
        if "at_home" in modes and not service.areas:
            raise DomainError(_l("List the municipalities where home visits are made."),
                              field="home_municipalities")
    _refresh_derived(service)
    if changes:
        # Child rows (places, bands, areas) do not touch the service row by themselves: mark it,
        # so cached search answers keyed on updated_at are not served stale.
        service.updated_at = utcnow()
    return changes


def _refresh_derived(service: Service) -> None:
    category = service.category.name if service.category is not None else ""
    if service.category_id and service.category is None:
        category = db.session.get(Category, service.category_id).name
    service.search_text = index_text(service.title, service.summary, service.description,
                                     service.target_group, category)
    if service.price_model == "free":
        service.price_from_cents = 0
    elif service.price_model == "income_based":
        service.price_from_cents = min((b.price_cents for b in service.price_bands), default=None)
    else:
        service.price_from_cents = service.price_cents


def record(entity: str, entity_id: int, action: str, user: User | None, changes: dict | None = None,
           comment: str = "") -> None:
    db.session.add(ChangeRecord(entity=entity, entity_id=entity_id, action=action,
                                user_id=user.id if user else None,
                                changes=_jsonable(changes or {}), comment=comment))
    # Every public change of the catalogue passes here: cached pages go stale on commit.
    page_cache.invalidate(current_territory_id())


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def create_service(cooperative: Cooperative, data: dict, user: User | None,
                   locations: list[dict] | None = None, home_municipalities: list[int] | None = None,
                   bands: list[dict] | None = None) -> Service:
    """A new draft listing of ``cooperative``. Raises DomainError on bad input."""
    _validate(data)
    service = Service(cooperative_id=cooperative.id, territory_id=cooperative.territory_id,
                      status=Service.DRAFT, title=data["title"], vertical=data["vertical"])
    db.session.add(service)
    changes = _apply(service, data, locations or [], home_municipalities or [], bands or [])
    db.session.flush()
    record("service", service.id, "created", user, changes)
    return service


def update_service(service: Service, data: dict, user: User | None,
                   locations: list[dict] | None = None, home_municipalities: list[int] | None = None,
                   bands: list[dict] | None = None) -> dict:
    """Edit a listing; a published one stays online with the new content."""
    merged = {f: getattr(service, f) for f in SCALAR_FIELDS}
    merged.update(data)
    _validate(merged)
    with db.session.no_autoflush:
        changes = _apply(service, data, locations, home_municipalities, bands)
    if changes:
        record("service", service.id, "edited", user, changes)
    return changes


def change_status(service: Service, status: str, user: User, as_coordinator: bool,
                  comment: str = "") -> None:
    """Move a listing along the review workflow. Raises DomainError if not allowed."""
    move = (service.status, status)
    allowed = COORDINATOR_TRANSITIONS if as_coordinator else STAFF_TRANSITIONS
    if move not in allowed:
        raise DomainError(_l("This change of status is not allowed."))
    if move in {("in_review", "draft"), ("published", "draft")} and not comment.strip():
        raise DomainError(_l("Explain to the cooperative what to change."), field="comment")
    if status == Service.PUBLISHED:
        cooperative = db.session.get(Cooperative, service.cooperative_id)
        if cooperative is None or not cooperative.is_accredited:
            raise DomainError(_l("Only accredited cooperatives can publish services."))
        service.published_at = service.published_at or utcnow()
    service.status = status
    service.review_comment = comment.strip() if status == Service.DRAFT else ""
    record("service", service.id, TRANSITION_ACTIONS.get(move, status), user,
           {"status": list(move)}, comment.strip())


def history(service: Service) -> list[ChangeRecord]:
    return list(db.session.execute(
        select(ChangeRecord).where(ChangeRecord.entity == "service", ChangeRecord.entity_id == service.id)
        .order_by(ChangeRecord.id.desc())
    ).scalars())


def add_image(service: Service, upload: bytes, alt_text: str, user: User | None) -> ServiceImage:
    """Store an image after checking it really is a JPEG/PNG/WebP under 2 MB."""
    from PIL import Image, UnidentifiedImageError

    if not alt_text or not alt_text.strip():
        raise DomainError(_l("Describe the image for people who cannot see it."), field="alt_text")
    if len(upload) > MAX_IMAGE_BYTES:
        raise DomainError(_l("The image is larger than 2 MB."), field="image")
    if len(service.images) >= MAX_IMAGES:
        raise DomainError(_l("A service can have at most %(n)d images.", n=MAX_IMAGES), field="image")
    try:
        with Image.open(io.BytesIO(upload)) as image:
            image.verify()
        with Image.open(io.BytesIO(upload)) as image:
            kind, (width, height) = image.format, image.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise DomainError(_l("This file is not an image (use JPEG, PNG or WebP)."), field="image")
    if kind not in IMAGE_TYPES:
        raise DomainError(_l("This file is not an image (use JPEG, PNG or WebP)."), field="image")
    image_row = ServiceImage(service_id=service.id, territory_id=service.territory_id,
                             alt_text=alt_text.strip()[:250], content_type=IMAGE_TYPES[kind],
                             width=width, height=height, data=upload)
    db.session.add(image_row)
    service.updated_at = utcnow()
    db.session.flush()
    record("service", service.id, "image_added", user, {"image": image_row.id})
    return image_row


def remove_image(image: ServiceImage, user: User | None) -> None:
    record("service", image.service_id, "image_removed", user, {"image": image.id})
    image.service.updated_at = utcnow()
    db.session.delete(image)


# ---------------------------------------------------------------------------- search

SORTS = ("relevance", "name", "price", "nearest")


@dataclasses.dataclass
class SearchParams:
    q: str = ""
    vertical: str | None = None
    category_id: int | None = None
    municipality_id: int | None = None
    age: int | None = None
    free: bool | None = None          # True: only free; False: only paid; None: both
    voucher: bool = False
    welfare: bool = False
    accessible: bool = False
    language: str | None = None
    cooperative_id: int | None = None
    sort: str = "relevance"
    near_id: int | None = None        # municipality to sort by distance from
    page: int = 1
    per_page: int = 20


@dataclasses.dataclass
class SearchResult:
    items: list[Service]
    total: int
    page: int
    per_page: int
    facets: dict

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def _comma_wrapped_languages():
    return literal(",", sa.String) + Service.languages + literal(",", sa.String)


def _is_postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _text_condition(q: str):
    """(condition, rank expression) for the text query, or (None, None) when empty."""
    if not (q or "").strip():
        return None, None
    if _is_postgres():
        query = func.plainto_tsquery("italian", q)
        vector = sa.literal_column("service.search_vector")
        return vector.op("@@")(query), func.ts_rank(vector, query)
    words = terms(q)
    if not words:
        return sa.false(), None
    conditions = [Service.search_text.like(f"% {w} %") for w in words]
    rank = sum((case((Service.title.ilike(f"%{w}%"), 2), else_=0) for w in words), literal(0)) + \
        sum((case((Service.summary.ilike(f"%{w}%"), 1), else_=0) for w in words), literal(0))
    return and_(*conditions), rank


def _where_municipality(municipality_id: int):
    at_location = exists().where(ServiceLocation.service_id == Service.id,
                                 ServiceLocation.municipality_id == municipality_id)
    at_home = exists().where(ServiceArea.service_id == Service.id,
                             ServiceArea.municipality_id == municipality_id)
    return or_(at_location, at_home, Service.delivery_modes.like("%online%"))


def _conditions(p: SearchParams, skip: str | None = None) -> list:
    # Only accredited cooperatives are shown to citizens: a suspended one's listings stay
    # published (they come back on re-accreditation) but out of the catalogue meanwhile.
    accredited = select(Cooperative.id).where(Cooperative.status == Cooperative.ACCREDITED)
    conds = [Service.status == Service.PUBLISHED, Service.cooperative_id.in_(accredited)]
    text_cond, _ = _text_condition(p.q)
    if text_cond is not None:
        conds.append(text_cond)
    if p.vertical and skip != "vertical":
        conds.append(Service.vertical == p.vertical)
    if p.category_id and skip != "category":
        conds.append(Service.category_id == p.category_id)
    if p.municipality_id and skip != "municipality":
        conds.append(_where_municipality(p.municipality_id))
    if p.age is not None:
        conds.append(or_(Service.age_min.is_(None), Service.age_min <= p.age))
        conds.append(or_(Service.age_max.is_(None), Service.age_max >= p.age))
    if p.free is not None and skip != "free":
        conds.append(Service.price_model == "free" if p.free else Service.price_model != "free")
    if p.voucher and skip != "voucher":
        conds.append(Service.accepts_voucher.is_(True))
    if p.welfare and skip != "welfare":
        conds.append(Service.accepts_welfare_credit.is_(True))
    if p.accessible and skip != "accessible":
        conds.append(Service.wheelchair_accessible.is_(True))
    if p.language and skip != "language":
        conds.append(_comma_wrapped_languages().like(f"%,{p.language},%"))
    if p.cooperative_id:
        conds.append(Service.cooperative_id == p.cooperative_id)
    return conds


def _distance(near: Municipality):
    """Squared equirectangular distance from ``near`` to the closest place of the service."""
    k = math.cos(math.radians(near.latitude or 0))
    lat0, lon0 = near.latitude or 0, near.longitude or 0

    def dist(lat, lon):
        return (lat - lat0) * (lat - lat0) + (lon - lon0) * k * (lon - lon0) * k

    loc_municipality = sa.orm.aliased(Municipality)
    at_location = (
        select(func.min(dist(func.coalesce(ServiceLocation.latitude, loc_municipality.latitude),
                             func.coalesce(ServiceLocation.longitude, loc_municipality.longitude))))
        .join(loc_municipality, loc_municipality.id == ServiceLocation.municipality_id)
        .where(ServiceLocation.service_id == Service.id)
        .scalar_subquery()
    )
    home_municipality = sa.orm.aliased(Municipality)
    at_home = (
        select(func.min(dist(home_municipality.latitude, home_municipality.longitude)))
        .join(ServiceArea, ServiceArea.municipality_id == home_municipality.id)
        .where(ServiceArea.service_id == Service.id)
        .scalar_subquery()
    )
    far = literal(1e9)
    return case(
        (and_(at_location.is_not(None), at_home.is_not(None)),
         case((at_location < at_home, at_location), else_=at_home)),
        else_=func.coalesce(at_location, at_home, far),
    )


def search(p: SearchParams, with_facets: bool = True) -> SearchResult:
    """Published services of the territory in scope matching ``p``, one page, with facets.

    The answer is the same for every visitor, so with Redis configured it is cached
    (ids, total, facets) under a key that changes whenever a service of the territory is
    added, edited or removed; the page's services are then loaded by id.
    """
    p.page = max(1, p.page)
    p.per_page = min(max(1, p.per_page), 100)
    p.q = (p.q or "").replace("\x00", "")  # PostgreSQL text cannot hold NUL: the query would fail
    key = _cache_key(p, with_facets)
    if key is not None:
        cached = _cache_get(key)
        if cached is not None:
            ids, total, facets = cached
            by_id = {s.id: s for s in db.session.execute(
                select(Service).where(Service.id.in_(ids)).options(*_card_options())).scalars()}
            items = [by_id[i] for i in ids if i in by_id]
            return SearchResult(items=items, total=total, page=p.page, per_page=p.per_page, facets=facets)
    result = _search(p, with_facets)
    if key is not None:
        _cache_put(key, result)
    return result


def _card_options():
    return (sa.orm.selectinload(Service.cooperative), sa.orm.selectinload(Service.category),
            sa.orm.selectinload(Service.locations).selectinload(ServiceLocation.municipality),
            sa.orm.selectinload(Service.price_bands))


CACHE_SECONDS = 300


def _cache_key(p: SearchParams, with_facets: bool) -> str | None:
    from flask import current_app

    from marketplace.queue import redis_connection

    if not current_app.config.get("REDIS_URL") or not current_app.config.get("SEARCH_CACHE", True):
        return None
    # Changes whenever a service of the territory is added or edited (status changes, archiving
    # included); one index probe on (territory_id, updated_at). Cached answers expire anyway.
    latest = db.session.execute(select(func.max(Service.updated_at))).scalar()
    # A cooperative's accreditation decides whether its services are shown: changes too.
    accredited = db.session.execute(select(func.max(Cooperative.status_changed_at))).scalar()
    state = f"{latest.timestamp() if latest else 0}-{accredited.timestamp() if accredited else 0}"
    params = dataclasses.asdict(p)
    params["facets"] = with_facets
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:32]
    prefix = current_app.config.get("QUEUE_PREFIX", "")
    return f"{prefix}catalogue:{current_territory_id()}:{state}:{digest}"


def _cache_get(key: str):
    from marketplace.queue import redis_connection

    try:
        raw = redis_connection().get(key)
    except Exception:  # noqa: BLE001 - a cache outage must not take search down
        return None
    if raw is None:
        return None
    data = json.loads(raw)
    facets = {}
    for name, value in data["facets"].items():
        if isinstance(value, list):
            facets[name] = {(k if name not in ("free",) else bool(k)): v for k, v in value}
        else:
            facets[name] = value
    return data["ids"], data["total"], facets


def _cache_put(key: str, result: SearchResult) -> None:
    from marketplace.queue import redis_connection

    facets = {name: [[k, v] for k, v in value.items()] if isinstance(value, dict) else value
              for name, value in result.facets.items()}
    payload = json.dumps({"ids": [s.id for s in result.items], "total": result.total, "facets": facets})
    try:
        redis_connection().setex(key, CACHE_SECONDS, payload)
    except Exception:  # noqa: BLE001
        pass


def _search(p: SearchParams, with_facets: bool) -> SearchResult:
    conds = _conditions(p)
    _, rank = _text_condition(p.q)
    query = select(Service).where(*conds)
    total = db.session.execute(select(func.count(Service.id)).where(*conds)).scalar_one()
    order = []
    if p.sort == "nearest" and p.near_id:
        near = db.session.get(Municipality, p.near_id)
        if near is not None and near.latitude is not None:
            order.append(_distance(near))
    elif p.sort == "price":
        order.append(Service.price_from_cents.is_(None))
        order.append(Service.price_from_cents)
    elif p.sort == "relevance" and rank is not None:
        order.append(rank.desc())
    order += [Service.title, Service.id]
    items = db.session.execute(
        query.order_by(*order).offset((p.page - 1) * p.per_page).limit(p.per_page).options(*_card_options())
    ).scalars().all()
    facets = _facets(p) if with_facets else {}
    return SearchResult(items=list(items), total=total, page=p.page, per_page=p.per_page, facets=facets)


def _facets(p: SearchParams) -> dict:
    """How many results each filter value would give, the other filters staying as they are."""
    facets: dict = {}
    facets["vertical"] = dict(db.session.execute(
        select(Service.vertical, func.count(Service.id)).where(*_conditions(p, "vertical"))
        .group_by(Service.vertical)).all())
    facets["category"] = dict(db.session.execute(
        select(Service.category_id, func.count(Service.id)).where(*_conditions(p, "category"))
        .where(Service.category_id.is_not(None)).group_by(Service.category_id)).all())
    # A UNION is Core SQL the automatic scope cannot filter: say the territory explicitly.
    tid = current_territory_id()
    if tid is None:
        raise TenantScopeError("catalogue search needs a territory in scope")
    with unscoped():
        base_ids = select(Service.id).where(Service.territory_id == tid, *_conditions(p, "municipality"))
        located = select(ServiceLocation.service_id.label("sid"), ServiceLocation.municipality_id.label("mid")) \
            .where(ServiceLocation.territory_id == tid, ServiceLocation.service_id.in_(base_ids))
        at_home = select(ServiceArea.service_id.label("sid"), ServiceArea.municipality_id.label("mid")) \
            .where(ServiceArea.territory_id == tid, ServiceArea.service_id.in_(base_ids))
        places = sa.union(located, at_home).subquery()
        facets["municipality"] = dict(db.session.execute(
            select(places.c.mid, func.count(func.distinct(places.c.sid))).group_by(places.c.mid)).all())
    flags = db.session.execute(
        select(
            func.count(Service.id),
            func.sum(case((Service.price_model == "free", 1), else_=0)),
            func.sum(case((Service.accepts_voucher.is_(True), 1), else_=0)),
            func.sum(case((Service.accepts_welfare_credit.is_(True), 1), else_=0)),
            func.sum(case((Service.wheelchair_accessible.is_(True), 1), else_=0)),
            *[func.sum(case((_comma_wrapped_languages().like(f"%,{code},%"), 1), else_=0))
              for code in LANGUAGES],
        ).where(*_conditions(p, "flags"))
    ).one()
    total, free, voucher, welfare, accessible, *langs = [int(v or 0) for v in flags]
    facets["free"] = {True: free, False: total - free}
    facets["voucher"], facets["welfare"], facets["accessible"] = voucher, welfare, accessible
    facets["language"] = {code: n for code, n in zip(LANGUAGES, langs) if n}
    return facets
