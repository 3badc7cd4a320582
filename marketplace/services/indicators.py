"""Outcome indicators the territory defines (coordinators) and which of them each service
records (cooperative staff). A code names the indicator's column in imports and the API, so
it is immutable, like the kind, once values have been recorded.

Runs inside a territory scope and the caller's transaction; the caller commits.
"""
from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.models import OutcomeIndicator, OutcomeValue, Service, ServiceIndicator
from marketplace.services import DomainError
from marketplace.services.deliveries import COLUMNS

CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
KIND_LABELS = {
    OutcomeIndicator.NUMBER: _l("Number"),
    OutcomeIndicator.SCALE: _l("Score from 1 to 5"),
    OutcomeIndicator.YES_NO: _l("Yes or no"),
}
# Also the import's own columns: an indicator's code is a column of the same file.
RESERVED = set(COLUMNS) | {"service", "beneficiary", "id"}


def all_indicators() -> list[OutcomeIndicator]:
    """The territory's indicators: active first, then by name."""
    return list(db.session.execute(select(OutcomeIndicator).order_by(
        OutcomeIndicator.active.desc(), OutcomeIndicator.name, OutcomeIndicator.id)).scalars())


def active_indicators() -> list[OutcomeIndicator]:
    return list(db.session.execute(select(OutcomeIndicator).where(OutcomeIndicator.active.is_(True))
                                   .order_by(OutcomeIndicator.name, OutcomeIndicator.id)).scalars())


def values_recorded(indicator_ids) -> dict[int, int]:
    """How many delivery outcomes each indicator has recorded."""
    ids = list(indicator_ids)
    if not ids:
        return {}
    return dict(db.session.execute(select(OutcomeValue.indicator_id, func.count(OutcomeValue.id))
                                   .where(OutcomeValue.indicator_id.in_(ids))
                                   .group_by(OutcomeValue.indicator_id)).all())


def services_using(indicator_ids) -> dict[int, int]:
    ids = list(indicator_ids)
    if not ids:
        return {}
    return dict(db.session.execute(select(ServiceIndicator.indicator_id, func.count(ServiceIndicator.id))
                                   .where(ServiceIndicator.indicator_id.in_(ids))
                                   .group_by(ServiceIndicator.indicator_id)).all())


def is_used(indicator: OutcomeIndicator) -> bool:
    return bool(values_recorded([indicator.id]))


def _clean(data: dict) -> dict:
    clean = {
        "code": (data.get("code") or "").strip(),
        "name": (data.get("name") or "").strip(),
        "kind": data.get("kind") or "",
        "unit": (data.get("unit") or "").strip(),
        "description": (data.get("description") or "").strip(),
    }
    if not clean["name"]:
        raise DomainError(_l("Enter the indicator's name."), field="name")
    if len(clean["name"]) > 120:
        raise DomainError(_l("At most %(n)d characters.", n=120), field="name")
    if clean["kind"] not in OutcomeIndicator.KINDS:
        raise DomainError(_l("Choose what kind of value the indicator records."), field="kind")
    if len(clean["unit"]) > 30:
        raise DomainError(_l("At most %(n)d characters.", n=30), field="unit")
    if len(clean["description"]) > 2000:
        raise DomainError(_l("At most %(n)d characters.", n=2000), field="description")
    return clean


def _check_code(code: str, indicator: OutcomeIndicator | None) -> None:
    if not CODE_RE.match(code):
        raise DomainError(_l("Use lowercase letters, digits and underscores, starting with a letter "
                             "(at most 40), like autonomy_score."), field="code")
    if code in RESERVED:
        raise DomainError(_l("This code is a column of the delivery file: choose another."), field="code")
    query = select(OutcomeIndicator.id).where(OutcomeIndicator.code == code)
    if indicator is not None:
        query = query.where(OutcomeIndicator.id != indicator.id)
    if db.session.execute(query).first() is not None:
        raise DomainError(_l("Another indicator of the territory has this code."), field="code")


def create(data: dict) -> OutcomeIndicator:
    """A new active indicator; raises DomainError naming the field."""
    clean = _clean(data)
    _check_code(clean["code"], None)
    indicator = OutcomeIndicator(active=True, **clean)
    db.session.add(indicator)
    db.session.flush()
    return indicator


def update(indicator: OutcomeIndicator, data: dict) -> None:
    """Change an indicator; its code and kind only while no value has been recorded."""
    clean = _clean(data)
    if is_used(indicator):
        if clean["code"] != indicator.code:
            raise DomainError(_l("Values have been recorded with this code: it cannot change."), field="code")
        if clean["kind"] != indicator.kind:
            raise DomainError(_l("Values have been recorded with this kind: it cannot change."), field="kind")
    elif clean["code"] != indicator.code:
        _check_code(clean["code"], indicator)
    for key, value in clean.items():
        setattr(indicator, key, value)
    db.session.flush()


def set_active(indicator: OutcomeIndicator, active: bool) -> None:
    """Deactivate (no longer offered to services or accepted in new records) or reactivate."""
    indicator.active = active
    db.session.flush()


def of_service(service: Service) -> list[OutcomeIndicator]:
    return list(db.session.execute(
        select(OutcomeIndicator).join(ServiceIndicator, ServiceIndicator.indicator_id == OutcomeIndicator.id)
        .where(ServiceIndicator.service_id == service.id)
        .order_by(OutcomeIndicator.name, OutcomeIndicator.id)).scalars())


def set_for_service(service: Service, indicator_ids) -> tuple[int, int]:
    """The service records exactly the chosen active indicators (links to inactive ones are
    kept). Returns (added, removed); an id that is not an active indicator raises DomainError."""
    active = {i.id for i in active_indicators()}
    chosen = set(indicator_ids)
    if not chosen <= active:
        raise DomainError(_l("Choose among the territory's active indicators."), field="indicators")
    links = {link.indicator_id: link for link in db.session.execute(
        select(ServiceIndicator).where(ServiceIndicator.service_id == service.id)).scalars()}
    added = removed = 0
    for indicator_id in sorted(chosen - set(links)):
        db.session.add(ServiceIndicator(territory_id=service.territory_id, service_id=service.id,
                                        indicator_id=indicator_id))
        added += 1
    for indicator_id, link in links.items():
        if indicator_id in active and indicator_id not in chosen:
            db.session.delete(link)
            removed += 1
    db.session.flush()
    return added, removed
