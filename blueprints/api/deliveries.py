"""The push API: a cooperative's own software sends delivery records with its API token.

``POST /api/v1/territories/<slug>/deliveries`` with ``Authorization: Bearer <token>`` and
``{"records": [...]}`` (1 to 500). Each record has the import file's columns as fields
(``deliveries.COLUMNS`` plus one per outcome indicator code), strings or numbers, and goes
through the same ``deliveries.validate`` + ``deliveries.save`` as every other way in
(source API, idempotent by ``external_id``). All or nothing: if any record is invalid,
none is saved (422 with every record's result).

The token is looked up inside the territory of the URL: another territory's token is as
unknown as a wrong one (401, nothing said about other territories).
"""
from __future__ import annotations

import functools

from flask import current_app, request
from flask_babel import gettext as _, lazy_gettext as _l
from flask_smorest import Blueprint, abort
from marshmallow import INCLUDE, Schema, fields, validate
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from blueprints.api import json_error
from blueprints.api.routes import in_territory
from blueprints.api.schemas import ErrorSchema
from marketplace.extensions import db, limiter
from marketplace.models import Cooperative, DeliveryRecord, Territory
from marketplace.services import api_tokens, deliveries

MAX_RECORDS = 500
SECURITY_SCHEME = "cooperativeToken"
STATUSES = ("created", "duplicate", "invalid", "not_saved")

bp = Blueprint("api_deliveries", __name__, url_prefix="/api/v1",
               description="Cooperatives push the services they delivered from their own software "
                           "(an API token of the cooperative is required).")
bp.register_error_handler(HTTPException, json_error)


def api_rate_limit() -> str:
    """``API_RATE_LIMIT`` if configured, else the checkout's limit."""
    config = current_app.config
    return config.get("API_RATE_LIMIT") or config["CHECKOUT_RATE_LIMIT"]


# ---------------------------------------------------------------------------- schemas

class Scalar(fields.Field):
    """A record's value: text, a number or true/false, read as the text a file would have."""

    default_error_messages = {"invalid": _l("Give a text, a number or true/false.")}

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_none", True)
        kwargs.setdefault("metadata", {}).setdefault(
            "oneOf", [{"type": "string", "maxLength": 2000}, {"type": "number"}, {"type": "boolean"}])
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return scalar_text(value, self.make_error)


def scalar_text(value, fail=None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    if fail is not None:
        raise fail("invalid")
    raise ValueError(value)


def _described(description: str, required: bool = False):
    return Scalar(required=required, metadata={"description": description})


class DeliveryInSchema(Schema):
    """One delivery record, the same fields as the import file's columns. Outcome
    indicators are further fields named by their code (a number; 1-5; yes/no)."""

    class Meta:
        unknown = INCLUDE  # outcome indicator codes: checked per record (unknown ones: invalid)

    external_id = _described("Your unique code for the delivery (at most 64 letters, digits, . _ / -); "
                             "a code already received is a duplicate and changes nothing", True)
    service_id = _described("Number of the cooperative's service", True)
    beneficiary_ref = _described("Your reference for the person (never a name); a new one registers a "
                                 "beneficiary", True)
    date = _described("Day of the delivery: 2026-12-31 or 31/12/2026, not in the future", True)
    start_time = _described("Start time, Italian time, like 14:30")
    duration_minutes = _described("Minutes, 1 to 1440", True)
    at_home = _described("true/false, yes/no, sì/no, 1/0")
    location = _described("Where, if not at home")
    municipality = _described("Name or ISTAT code; required at home")
    operator = _described("A staff member or a role")
    activity_type = _described("Kind of activity")
    funding_source = _described("One of: " + ", ".join(deliveries.FUNDING_SOURCE_LABELS) + " (default citizen)")
    funder = _described("The funder's name as the territory lists it")
    cost_eur = _described("Cost in euros: 25.50 or \"25,50\"")
    notes = _described("At most 2000 characters, no names or health details")


class DeliveryPushSchema(Schema):
    records = fields.List(
        fields.Nested(DeliveryInSchema), required=True,
        validate=validate.Length(min=1, max=MAX_RECORDS,
                                 error=_l("Send from %(min)s to %(max)s records at a time.",
                                          min=1, max=MAX_RECORDS)),
        metadata={"description": f"1 to {MAX_RECORDS} delivery records"})


class FieldErrorSchema(Schema):
    field = fields.String(required=True, metadata={"description": "The field (empty: the whole record)"})
    message = fields.String(required=True, metadata={"description": "What is wrong, localised"})


class RecordResultSchema(Schema):
    external_id = fields.String(required=True, allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES), metadata={"description": (
        "created: saved now; duplicate: already received, unchanged; invalid: see errors; "
        "not_saved: valid, but not saved because another record of the request is invalid")})
    errors = fields.List(fields.Nested(FieldErrorSchema), required=True)


class DeliveryPushResultSchema(Schema):
    created = fields.Integer(required=True, metadata={"description": "Records saved by this request"})
    duplicates = fields.Integer(required=True, metadata={"description": "Records already received"})
    invalid = fields.Integer(required=True, metadata={"description": "Records refused"})
    results = fields.List(fields.Nested(RecordResultSchema), required=True,
                          metadata={"description": "One per record, in the request's order"})


# ---------------------------------------------------------------------------- auth

def _unauthorized():
    abort(401, message=_("Send a valid API token of a cooperative of this territory in the header "
                         "Authorization: Bearer <token>."),
          headers={"WWW-Authenticate": 'Bearer realm="api"'})


def token_required(view):
    """The cooperative's active token from ``Authorization: Bearer`` (401 otherwise), looked
    up in the territory in scope; passes ``token`` and ``cooperative``. An expired token is
    a 401 and a suspended cooperative's a 403, each saying why."""

    @functools.wraps(view)
    def wrapper(*args, territory: Territory, **kwargs):
        scheme, _sep, raw = (request.headers.get("Authorization") or "").partition(" ")
        try:
            token = api_tokens.authenticate(raw.strip()) if scheme.lower() == "bearer" else None
        except api_tokens.TokenRefused as exc:
            headers = {"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"'} if exc.status == 401 else {}
            abort(exc.status, message=str(exc.message), headers=headers)
        if token is None:
            _unauthorized()
        cooperative = db.session.get(Cooperative, token.cooperative_id)
        if cooperative is None or cooperative.territory_id != territory.id:
            _unauthorized()
        db.session.commit()  # last_used_at, whatever happens next
        return view(*args, territory=territory, token=token, cooperative=cooperative, **kwargs)

    return wrapper


# ---------------------------------------------------------------------------- the endpoint

def _check(records: list[dict], lookup: deliveries.Lookup):
    """Validate every record; returns [(clean row or None, [(field, message)])] in order."""
    known = set(deliveries.COLUMNS) | set(lookup.indicators)
    seen: dict[str, int] = {}
    checked = []
    for index, record in enumerate(records):
        problems: list[tuple[str, str]] = []
        raw: dict[str, str] = {}
        for key, value in record.items():
            if key not in known:
                problems.append((key, _("Unknown field: use the import's column names.")))
                continue
            try:
                raw[key] = scalar_text(value)  # the fixed fields are text already (Scalar)
            except ValueError:
                problems.append((key, _("Give a text, a number or true/false.")))
        external_id = (raw.get("external_id") or "").strip()
        if external_id in seen:
            problems.append(("external_id", _("This external id is already in record %(n)d of the request.",
                                              n=seen[external_id] + 1)))
        elif external_id:
            seen[external_id] = index
        clean = None
        if not problems:
            clean, problems = deliveries.validate(raw, lookup)
        checked.append((clean, [(f, str(m)) for f, m in problems]))
    return checked


def _result(record: dict, status: str, problems=()) -> dict:
    return {"external_id": (record.get("external_id") or "").strip() or None, "status": status,
            "errors": [{"field": f, "message": m} for f, m in problems]}


@bp.route("/territories/<slug:slug>/deliveries", methods=["POST"])
@in_territory
@limiter.limit(api_rate_limit, methods=["POST"])
@token_required
@bp.arguments(DeliveryPushSchema, error_status_code=400, description=(
    "1 to 500 delivery records. All or nothing: if any record is invalid, none is saved."))
@bp.response(200, DeliveryPushResultSchema, description="Every record is valid: new ones were saved, "
                                                        "ones already received left unchanged")
@bp.alt_response(422, schema=DeliveryPushResultSchema,
                 description="Some records are invalid (see each record's errors): nothing was saved")
@bp.alt_response(403, schema=ErrorSchema, description="The token's cooperative is suspended")
@bp.alt_response(401, schema=ErrorSchema, description="Missing, unknown, revoked or expired token, or a token of "
                                                      "another territory")
@bp.alt_response(404, schema=ErrorSchema, description="No such active territory")
@bp.alt_response(409, schema=ErrorSchema, description="Another request saved some of the same records at the "
                                                      "same moment: send the request again")
@bp.alt_response(429, schema=ErrorSchema, description="Too many requests: wait and try again")
@bp.doc(security=[{SECURITY_SCHEME: []}])
def push_deliveries(args: dict, territory: Territory, token, cooperative: Cooperative):
    """Push delivery records

    The records the cooperative delivered, as in the import file: same fields, same checks,
    same idempotency (a record whose `external_id` was already received is a duplicate and
    changes nothing, so a request can safely be sent again). All or nothing per request: if
    any record is invalid the answer is 422 and no record is saved."""
    records = args["records"]  # fixed fields as text; indicator fields as sent (checked in _check)
    lookup = deliveries.Lookup.load(cooperative)
    checked = _check(records, lookup)
    if any(clean is None for clean, _problems in checked):
        known = _known_external_ids(cooperative, [c.external_id for c, _p in checked if c is not None])
        results = [_result(record, "invalid", problems) if clean is None else
                   _result(record, "duplicate" if clean.external_id in known else "not_saved")
                   for record, (clean, problems) in zip(records, checked)]
        return {"created": 0, "duplicates": sum(r["status"] == "duplicate" for r in results),
                "invalid": sum(r["status"] == "invalid" for r in results), "results": results}, 422
    results = []
    try:
        for record, (clean, _problems) in zip(records, checked):
            _record, created = deliveries.save(clean, lookup, DeliveryRecord.API)
            results.append(_result(record, "created" if created else "duplicate"))
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        abort(409, message=_("Another request saved some of these records at the same moment. Send the request "
                             "again: records already saved are reported as duplicates."))
    created = sum(r["status"] == "created" for r in results)
    return {"created": created, "duplicates": len(results) - created, "invalid": 0, "results": results}


def _known_external_ids(cooperative: Cooperative, external_ids: list[str]) -> set[str]:
    from sqlalchemy import select

    if not external_ids:
        return set()
    return set(db.session.execute(select(DeliveryRecord.external_id).where(
        DeliveryRecord.cooperative_id == cooperative.id, DeliveryRecord.external_id.in_(external_ids))).scalars())


def register(api) -> None:
    """Document the token scheme and register the push API on ``api`` (CSRF-exempt: it is
    authenticated by a bearer token, never by a cookie)."""
    from marketplace.extensions import csrf

    api.spec.components.security_scheme(SECURITY_SCHEME, {
        "type": "http", "scheme": "bearer",
        "description": "An API token of a cooperative, made by its staff on the cooperative's "
                       "\"API tokens\" page (shown once)."})
    api.register_blueprint(bp)
    csrf.exempt(bp)
