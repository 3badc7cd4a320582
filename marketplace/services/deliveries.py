"""Delivery records: one validation for every way in (form, check-in, import, API).

``Lookup`` loads once what rows refer to (the cooperative's services, the territory's
municipalities, funders and outcome indicators, the cooperative's beneficiaries), so a file
of 50,000 rows is checked without a query per row. ``validate`` turns one row of text
values (the import's columns, the API's JSON fields, the form's fields) into clean values
or a list of (column, reason). ``save`` writes a valid row, once: a row whose
``external_id`` the cooperative already has is a duplicate and changes nothing.

Everything runs inside a territory scope and the caller's transaction; the caller commits.
"""
from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import (
    Beneficiary, Cooperative, DeliveryRecord, Funder, Municipality, OutcomeIndicator, OutcomeValue, Service,
    ServiceIndicator,
)
from marketplace.models.delivery import FUNDING_SOURCES
from marketplace.validation import euros_to_cents, parse_id, parse_int

LOCAL_TZ = ZoneInfo("Europe/Rome")
MAX_MINUTES = 24 * 60
MAX_TEXT = 200
MAX_NOTES = 2000
FUNDING_SOURCE_LABELS = {
    "citizen": _l("The citizen"),
    "municipal_voucher": _l("Municipal voucher"),
    "municipal_contract": _l("Municipal or district contract"),
    "employer_credit": _l("Employer welfare credit"),
    "foundation_grant": _l("Foundation grant"),
    "other": _l("Other"),
}
assert set(FUNDING_SOURCE_LABELS) == set(FUNDING_SOURCES)

# The columns of the import file and the fields of the API, in the template's order.
# Outcome indicators follow as one column each, named by the indicator's code.
COLUMNS = ("external_id", "service_id", "beneficiary_ref", "date", "start_time", "duration_minutes",
           "at_home", "location", "municipality", "operator", "activity_type", "funding_source", "funder",
           "cost_eur", "notes")
REQUIRED = ("external_id", "service_id", "beneficiary_ref", "date", "duration_minutes")
_REF = re.compile(r"^[A-Za-z0-9._/\-]{1,64}$")
_TIME = re.compile(r"^([01]?\d|2[0-3])[:.]([0-5]\d)$")
YES = {"1", "si", "sì", "s", "yes", "y", "true", "vero", "x"}
NO = {"0", "no", "n", "false", "falso", ""}


@dataclass
class Lookup:
    """What rows of one cooperative may refer to, loaded once."""

    cooperative: Cooperative
    services: dict[int, Service] = field(default_factory=dict)
    municipalities: dict[str, Municipality] = field(default_factory=dict)
    funders: dict[str, Funder] = field(default_factory=dict)
    indicators: dict[str, OutcomeIndicator] = field(default_factory=dict)
    service_indicators: dict[int, set[int]] = field(default_factory=dict)
    beneficiaries: dict[str, int] = field(default_factory=dict)
    # For imports: the cooperative's external ids, so a row is checked without a query and
    # records are written in batches at the next flush (None: ask the database each time).
    external_ids: set[str] | None = None

    @classmethod
    def load(cls, cooperative: Cooperative, external_ids: bool = False) -> "Lookup":
        lookup = cls(cooperative)
        if external_ids:
            lookup.external_ids = set(db.session.execute(
                select(DeliveryRecord.external_id).where(DeliveryRecord.cooperative_id == cooperative.id)).scalars())
        lookup.services = {s.id: s for s in db.session.execute(
            select(Service).where(Service.cooperative_id == cooperative.id)).scalars()}
        lookup.municipalities = {m.name.casefold(): m for m in db.session.execute(select(Municipality)).scalars()}
        for m in list(lookup.municipalities.values()):
            if m.istat_code:
                lookup.municipalities[m.istat_code] = m
        lookup.funders = {f.name.casefold(): f for f in db.session.execute(select(Funder)).scalars()}
        lookup.indicators = {i.code: i for i in db.session.execute(
            select(OutcomeIndicator).where(OutcomeIndicator.active.is_(True))).scalars()}
        for link in db.session.execute(select(ServiceIndicator).where(
                ServiceIndicator.service_id.in_(list(lookup.services) or [0]))).scalars():
            lookup.service_indicators.setdefault(link.service_id, set()).add(link.indicator_id)
        lookup.beneficiaries = dict(db.session.execute(
            select(Beneficiary.external_ref, Beneficiary.id).where(Beneficiary.cooperative_id == cooperative.id)).all())
        return lookup


@dataclass
class CleanRow:
    external_id: str
    service: Service
    beneficiary_ref: str
    delivered_on: dt.date
    starts_at: dt.datetime | None
    duration_minutes: int
    at_home: bool
    location: str
    municipality: Municipality | None
    operator: str
    activity_type: str
    funding_source: str
    funder: Funder | None
    cost_cents: int
    notes: str
    outcomes: dict[int, int]   # indicator id -> value


def _text(raw: dict, key: str) -> str:
    value = raw.get(key)
    return "" if value is None else str(value).strip()


def parse_date(text: str) -> dt.date | None:
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def validate(raw: dict, lookup: Lookup, today: dt.date | None = None) -> tuple[CleanRow | None, list[tuple[str, str]]]:
    """Check one row. Returns (clean row, []) or (None, [(column, localised reason), ...])."""
    today = today or dt.datetime.now(LOCAL_TZ).date()
    errors: list[tuple[str, str]] = []

    def err(column, message):
        errors.append((column, str(message)))

    for key in REQUIRED:
        if not _text(raw, key):
            err(key, _l("Required."))
    external_id = _text(raw, "external_id")
    if external_id and not _REF.match(external_id):
        err("external_id", _l("Use at most 64 letters, digits and . _ / - (no spaces)."))
    service = None
    service_text = _text(raw, "service_id")
    if service_text:
        service = lookup.services.get(parse_id(service_text))
        if service is None:
            err("service_id", _l("No service of this cooperative has this number."))
    ref = _text(raw, "beneficiary_ref")
    if ref and not _REF.match(ref):
        err("beneficiary_ref", _l("Use at most 64 letters, digits and . _ / - (no spaces)."))
    delivered_on = None
    date_text = _text(raw, "date")
    if date_text:
        delivered_on = parse_date(date_text)
        if delivered_on is None:
            err("date", _l("Write the date as 31/12/2026 or 2026-12-31."))
        elif delivered_on > today:
            err("date", _l("A delivery cannot be in the future."))
        elif delivered_on < today - dt.timedelta(days=366 * 5):
            err("date", _l("The date is more than five years ago."))
    starts_at = None
    time_text = _text(raw, "start_time")
    if time_text:
        match = _TIME.match(time_text)
        if match is None:
            err("start_time", _l("Write the time as 14:30."))
        elif delivered_on is not None:
            local = dt.datetime(delivered_on.year, delivered_on.month, delivered_on.day, int(match.group(1)),
                                int(match.group(2)), tzinfo=LOCAL_TZ)
            starts_at = local.astimezone(dt.timezone.utc)
    duration = None
    duration_text = _text(raw, "duration_minutes")
    if duration_text:
        duration = parse_int(duration_text, 1, MAX_MINUTES)
        if duration is None:
            err("duration_minutes", _l("Enter the minutes as a whole number from 1 to 1440."))
    at_home_text = _text(raw, "at_home").casefold()
    at_home = at_home_text in YES
    if at_home_text not in YES | NO:
        err("at_home", _l("Write yes or no."))
    municipality = None
    municipality_text = _text(raw, "municipality")
    if municipality_text:
        municipality = lookup.municipalities.get(municipality_text.casefold())
        if municipality is None:
            err("municipality", _l("This municipality is not in the territory's list."))
    elif at_home:
        err("municipality", _l("For a delivery at home, give the municipality."))
    source = _text(raw, "funding_source") or "citizen"
    if source not in FUNDING_SOURCES:
        err("funding_source", _l("Use one of: %(values)s.", values=", ".join(FUNDING_SOURCES)))
    funder = None
    funder_text = _text(raw, "funder")
    if funder_text:
        funder = lookup.funders.get(funder_text.casefold())
        if funder is None:
            err("funder", _l("No funder of the territory has this name."))
    cost = 0
    try:
        cost = euros_to_cents(_text(raw, "cost_eur"), negative_message=_l("A cost cannot be negative."),
                              format_message=_l("Enter an amount in euros, like 25,50.")) or 0
        if cost > 100_000_00:
            err("cost_eur", _l("Enter an amount up to 100.000 euros."))
    except ValueError as exc:
        err("cost_eur", exc.args[0])
    for key, limit in (("location", MAX_TEXT), ("operator", 120), ("activity_type", 80), ("notes", MAX_NOTES)):
        if len(_text(raw, key)) > limit:
            err(key, _l("At most %(n)d characters.", n=limit))
    outcomes: dict[int, int] = {}
    allowed = lookup.service_indicators.get(service.id, set()) if service is not None else set()
    for code, indicator in lookup.indicators.items():
        value = _text(raw, code)
        if not value or service is None:  # without a service its outcomes cannot be judged
            continue
        if indicator.id not in allowed:
            err(code, _l("This service does not record this outcome."))
            continue
        parsed = _outcome(indicator, value)
        if parsed is None:
            err(code, {OutcomeIndicator.SCALE: _l("Enter a score from 1 to 5."),
                       OutcomeIndicator.YES_NO: _l("Write yes or no.")}.get(
                indicator.kind, _l("Enter a whole number from 0 to 100000.")))
        else:
            outcomes[indicator.id] = parsed
    if errors:
        return None, errors
    return CleanRow(
        external_id=external_id, service=service, beneficiary_ref=ref, delivered_on=delivered_on,
        starts_at=starts_at, duration_minutes=duration, at_home=at_home, location=_text(raw, "location"),
        municipality=municipality, operator=_text(raw, "operator"), activity_type=_text(raw, "activity_type"),
        funding_source=source, funder=funder, cost_cents=cost, notes=_text(raw, "notes"), outcomes=outcomes,
    ), []


def _outcome(indicator: OutcomeIndicator, value: str) -> int | None:
    value = value.strip().casefold()
    if indicator.kind == OutcomeIndicator.YES_NO:
        return 1 if value in YES else (0 if value in NO else None)
    if indicator.kind == OutcomeIndicator.SCALE:
        return parse_int(value, 1, 5)
    return parse_int(value, 0, 100_000)


def save(row: CleanRow, lookup: Lookup, source: str, created_by=None, slot_id: int | None = None,
         ticket_id: int | None = None) -> tuple[DeliveryRecord, bool]:
    """Write a valid row as a delivery record; returns (record, created). A row whose
    external id this cooperative already has returns the existing record, unchanged (a
    re-import or a repeated API call). A new beneficiary reference registers a
    beneficiary without profile attributes. With a lookup loaded ``external_ids=True``
    (imports) the record is not flushed here: it goes to the database with its batch."""
    cooperative = lookup.cooperative
    known = lookup.external_ids
    existing = None
    if known is None or row.external_id in known:
        existing = db.session.execute(select(DeliveryRecord).where(
            DeliveryRecord.cooperative_id == cooperative.id, DeliveryRecord.external_id == row.external_id)
        ).scalar_one_or_none()
    if existing is not None:
        return existing, False
    beneficiary_id = lookup.beneficiaries.get(row.beneficiary_ref)
    if beneficiary_id is None:
        beneficiary = Beneficiary(territory_id=cooperative.territory_id, cooperative_id=cooperative.id,
                                  external_ref=row.beneficiary_ref)
        db.session.add(beneficiary)
        db.session.flush()
        beneficiary_id = lookup.beneficiaries[row.beneficiary_ref] = beneficiary.id
    record = DeliveryRecord(
        territory_id=cooperative.territory_id, cooperative_id=cooperative.id, service_id=row.service.id,
        beneficiary_id=beneficiary_id, slot_id=slot_id, ticket_id=ticket_id, external_id=row.external_id,
        delivered_on=row.delivered_on, starts_at=row.starts_at, duration_minutes=row.duration_minutes,
        at_home=row.at_home, location=row.location[:MAX_TEXT],
        municipality_id=row.municipality.id if row.municipality else None, operator=row.operator,
        activity_type=row.activity_type, funding_source=row.funding_source,
        funder_id=row.funder.id if row.funder else None, cost_cents=row.cost_cents, notes=row.notes, source=source,
        created_by_id=created_by.id if created_by is not None else None)
    for indicator_id, value in sorted(row.outcomes.items()):
        record.outcomes.append(OutcomeValue(territory_id=cooperative.territory_id, indicator_id=indicator_id,
                                            value=value))
    db.session.add(record)
    if known is None:
        db.session.flush()
    else:
        known.add(row.external_id)  # written with the batch at the next flush or commit
    return record, True


def new_external_id(prefix: str) -> str:
    """An external id for records made here (form, check-in), unique per cooperative."""
    return f"{prefix}-{secrets.token_hex(6)}"
