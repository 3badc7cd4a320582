"""Marshmallow schemas of the public API: what anyone on the internet may read.

Query schemas validate input (bad values -> 422 with the field); response schemas dump ORM
objects and are the API's documentation. Public schemas carry no personal data: no staff,
no review comments, no workflow state, no fiscal codes.
"""
from __future__ import annotations

from flask import current_app, g
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, fields, validate

from marketplace.formatting import money
from marketplace.models.catalogue import DELIVERY_MODES, LANGUAGES, PRICE_MODELS, VERTICALS
from marketplace.services.catalogue import SORTS
from marketplace.services.mail import external_url

MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database
NO_NUL = validate.Regexp(r"^[^\x00]*$", error=_l("Remove the NUL characters."))


# ---------------------------------------------------------------------------- fields

class Money(fields.String):
    """Integer cents formatted in the request's locale (e.g. "12,50 €"); null stays null."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_none", True)
        super().__init__(dump_only=True, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else money(value)


class Label(fields.String):
    """The localised label of a code (vertical, price model, language)."""

    def __init__(self, labels: dict, **kwargs):
        super().__init__(dump_only=True, **kwargs)
        self.labels = labels

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(self.labels.get(value, value))


class Link(fields.String):
    """An absolute URL built from the dumped object by ``build(obj)`` (None: no such page)."""

    _CHECK_ATTRIBUTE = False

    def __init__(self, build, **kwargs):
        kwargs.setdefault("metadata", {}).setdefault("format", "uri")
        super().__init__(dump_only=True, **kwargs)
        self.build = build

    def _serialize(self, value, attr, obj, **kwargs):
        return self.build(obj)


class Itself(fields.Nested):
    """A nested schema dumped from the same object (to group some of its fields)."""

    _CHECK_ATTRIBUTE = False

    def _serialize(self, value, attr, obj, **kwargs):
        return super()._serialize(obj, attr, obj, **kwargs)


def page_url(endpoint: str, **values) -> str | None:
    """Absolute URL of an HTML page of the territory in scope, if that page exists."""
    if endpoint not in current_app.view_functions:
        return None
    return external_url(endpoint, territory=g.territory.slug, **values)


def api_url(endpoint: str, **values) -> str:
    return external_url(f"api.{endpoint}", slug=g.territory.slug, **values)


# ---------------------------------------------------------------------------- errors

class ErrorSchema(Schema):
    """Every error of the API (and of the platform's other JSON endpoints)."""

    status = fields.Integer(required=True, metadata={"description": "HTTP status code"})
    error = fields.String(required=True, metadata={"description": "What went wrong, localised"})
    message = fields.String(metadata={"description": "Details, when there are any"})
    errors = fields.Dict(
        keys=fields.String(),
        metadata={"description": "Invalid values by location and field, e.g. "
                                 '{"query": {"page": ["Not a valid integer."]}}'})


# ---------------------------------------------------------------------------- queries

def _integer(low: int, high: int, message=None, **kwargs):
    """An integer query parameter with the catalogue page's messages."""
    message = message or _l("Enter a number between %(low)s and %(high)s.", low=low, high=high)
    return fields.Integer(validate=validate.Range(low, high, error=message),
                          error_messages={"invalid": _l("Enter a whole number.")}, **kwargs)


def _id(**kwargs):
    return _integer(1, MAX_ID, message=_l("Unknown id."), **kwargs)


def _flag(**kwargs):
    return fields.Boolean(error_messages={"invalid": _l("Enter true or false.")}, **kwargs)


def _choice(choices, message, **kwargs):
    return fields.String(validate=validate.OneOf(list(choices), error=message), **kwargs)


class ServiceQuerySchema(Schema):
    """The catalogue's filters, sort and pagination (the same as the catalogue page)."""

    q = fields.String(load_default="", validate=[
        validate.Length(max=200, error=_l("Use at most %(n)s characters.", n=200)), NO_NUL],
        metadata={"description": "Words to look for (Italian stemming)"})
    vertical = _choice(VERTICALS, _l("Unknown area."), metadata={"description": "Area of care"})
    category = _id(metadata={"description": "Sub-category id (see facets)"})
    municipality = _id(metadata={"description": "Municipality id: services given there, "
                                                "at home there or online"})
    age = _integer(0, 120, _l("Enter an age between 0 and 120."),
                   metadata={"description": "Age of the person cared for"})
    free = _flag(metadata={"description": "true: only free services; false: only paid"})
    voucher = _flag(load_default=False,
                    metadata={"description": "Only services accepting municipal vouchers"})
    welfare = _flag(load_default=False,
                    metadata={"description": "Only services accepting employer welfare credit"})
    accessible = _flag(load_default=False,
                       metadata={"description": "Only wheelchair-accessible services"})
    language = _choice(LANGUAGES, _l("Unknown language."), metadata={"description": "Language spoken"})
    cooperative = _id(metadata={"description": "Only the services of this organisation"})
    sort = _choice(SORTS, _l("Unknown sort order."), load_default="relevance")
    near = _id(metadata={"description": "Municipality id to sort by distance from "
                                        "(sort=nearest; defaults to `municipality`)"})
    page = _integer(1, 10_000, load_default=1)
    per_page = _integer(1, 100, load_default=20)


class PageQuerySchema(Schema):
    page = _integer(1, 10_000, load_default=1)
    per_page = _integer(1, 100, load_default=50)


# ---------------------------------------------------------------------------- territories

class TerritoryLinksSchema(Schema):
    self = Link(lambda t: external_url("api.territory", slug=t.slug), required=True)
    services = Link(lambda t: external_url("api.territory_services", slug=t.slug),
                    required=True)
    organizations = Link(lambda t: external_url("api.territory_organizations", slug=t.slug), required=True)
    hsds = Link(lambda t: external_url("hsds.index", territory=t.slug), required=True)
    html = Link(lambda t: external_url("public.home", territory=t.slug), required=True)


class TerritorySchema(Schema):
    slug = fields.String(required=True)
    name = fields.String(required=True)
    default_language = fields.String(required=True)
    links = Itself(TerritoryLinksSchema, required=True)


class TerritoryListSchema(Schema):
    items = fields.List(fields.Nested(TerritorySchema), required=True)


# ---------------------------------------------------------------------------- services

class CategorySchema(Schema):
    id = fields.Integer(required=True)
    vertical = fields.String(required=True)
    name = fields.String(required=True, metadata={"description": "Italian name"})
    name_en = fields.String(required=True, metadata={"description": "English name (may be empty)"})


class CooperativeRefSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


class MunicipalitySchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    province = fields.String(required=True)


class PriceBandSchema(Schema):
    label = fields.String(required=True)
    isee_max_cents = fields.Integer(required=True, allow_none=True,
                                    metadata={"description": "Highest ISEE of the band; null: no limit"})
    isee_max_formatted = Money(attribute="isee_max_cents", required=True)
    price_cents = fields.Integer(required=True)
    price_formatted = Money(attribute="price_cents", required=True)


class PriceSchema(Schema):
    model = fields.String(attribute="price_model", required=True,
                          validate=validate.OneOf(list(PRICE_MODELS)))
    model_label = Label(PRICE_MODELS, attribute="price_model", required=True)
    price_cents = fields.Integer(required=True, allow_none=True,
                                 metadata={"description": "Price of fixed, per-hour, per-session models"})
    price_formatted = Money(attribute="price_cents", required=True)
    from_cents = fields.Integer(attribute="lowest_price_cents", required=True, allow_none=True,
                                metadata={"description": "Lowest price a family may pay (0: free)"})
    from_formatted = Money(attribute="lowest_price_cents", required=True)
    bands = fields.List(fields.Nested(PriceBandSchema), attribute="price_bands", required=True,
                        metadata={"description": "Income (ISEE) bands of the income_based model"})
    accepts_card = fields.Boolean(required=True)
    accepts_voucher = fields.Boolean(required=True)
    accepts_welfare_credit = fields.Boolean(required=True)


class ServiceLinksSchema(Schema):
    self = Link(lambda s: api_url("territory_service", service_id=s.id), required=True)
    html = Link(lambda s: page_url("public.service", service_id=s.id), required=True,
                allow_none=True)


class ServiceSummarySchema(Schema):
    """A service as listed in search results."""

    id = fields.Integer(required=True)
    public_id = fields.String(required=True, metadata={"format": "uuid"})
    title = fields.String(required=True)
    summary = fields.String(required=True)
    vertical = fields.String(required=True, validate=validate.OneOf(list(VERTICALS)))
    vertical_label = Label(VERTICALS, attribute="vertical", required=True)
    category = fields.Nested(CategorySchema, required=True, allow_none=True)
    cooperative = fields.Nested(CooperativeRefSchema, required=True)
    age_min = fields.Integer(required=True, allow_none=True)
    age_max = fields.Integer(required=True, allow_none=True)
    delivery_modes = fields.List(fields.String(validate=validate.OneOf(list(DELIVERY_MODES))),
                                 attribute="delivery_mode_list", required=True)
    languages = fields.List(fields.String(validate=validate.OneOf(list(LANGUAGES))),
                            attribute="language_codes", required=True)
    wheelchair_accessible = fields.Boolean(required=True)
    price = Itself(PriceSchema, required=True)
    links = Itself(ServiceLinksSchema, required=True)


class LocationSchema(Schema):
    id = fields.String(attribute="public_id", required=True, metadata={"format": "uuid"})
    name = fields.String(required=True)
    address = fields.String(required=True)
    postal_code = fields.String(required=True)
    municipality = fields.Nested(MunicipalitySchema, required=True)
    latitude = fields.Float(required=True, allow_none=True)
    longitude = fields.Float(required=True, allow_none=True)


class ServiceDetailSchema(ServiceSummarySchema):
    """One published service, everything a family needs to choose it."""

    description = fields.String(required=True, metadata={"description": "Markdown"})
    target_group = fields.String(required=True)
    eligibility = fields.String(required=True)
    documents = fields.String(required=True)
    schedule_text = fields.String(required=True)
    accessibility = fields.String(required=True)
    contact_email = fields.String(required=True)
    contact_phone = fields.String(required=True)
    locations = fields.List(fields.Nested(LocationSchema), required=True)
    home_municipalities = fields.List(fields.Nested(MunicipalitySchema), attribute="municipalities",
                                      required=True)
    published_at = fields.DateTime(required=True, allow_none=True)
    updated_at = fields.DateTime(required=True)


def _counts(description: str):
    return fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                       metadata={"description": description})


class FacetsSchema(Schema):
    """How many results each filter value would give, the other filters staying as they are.

    Keys are the values to pass to the filter of the same name."""

    vertical = _counts("vertical -> count")
    category = _counts("category id -> count")
    municipality = _counts("municipality id -> count")
    free = _counts('"true" (free) / "false" (paid) -> count')
    voucher = fields.Integer(required=True)
    welfare = fields.Integer(required=True)
    accessible = fields.Integer(required=True)
    language = _counts("language -> count")


class ServicePageSchema(Schema):
    items = fields.List(fields.Nested(ServiceSummarySchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    pages = fields.Integer(required=True)
    facets = fields.Nested(FacetsSchema, required=True)


# ---------------------------------------------------------------------------- organisations

class OrganizationLinksSchema(Schema):
    html = Link(lambda c: page_url("public.cooperative", coop_id=c.id), required=True,
                allow_none=True)
    services = Link(lambda c: api_url("territory_services", cooperative=c.id), required=True)


class OrganizationSchema(Schema):
    """An accredited cooperative as the public sees it (the organisation's own contacts only)."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    legal_name = fields.String(required=True)
    description = fields.String(required=True)
    address = fields.String(required=True)
    postal_code = fields.String(required=True)
    municipality = fields.String(required=True)
    province = fields.String(required=True)
    email = fields.String(required=True)
    phone = fields.String(required=True)
    website = fields.String(required=True)
    vat_number = fields.String(required=True)
    links = Itself(OrganizationLinksSchema, required=True)


class OrganizationPageSchema(Schema):
    items = fields.List(fields.Nested(OrganizationSchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    pages = fields.Integer(required=True)
