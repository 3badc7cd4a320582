"""The audit log: who viewed, edited or exported beneficiary-level data, and when.

``log`` adds an entry to the caller's transaction (the caller commits); coordinators of the
territory read the entries, newest first.
"""
from __future__ import annotations

import math

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from marketplace.extensions import db
from marketplace.models import AuditEntry, Cooperative

PAGE_SIZE = 50
ACTION_LABELS = {
    "viewed": _l("Viewed"),
    "edited": _l("Edited"),
    "created": _l("Created"),
    "exported": _l("Exported"),
    "imported": _l("Imported"),
}


def log(user, action: str, subject: str, cooperative_id: int | None = None) -> AuditEntry:
    """Record that ``user`` did ``action`` on ``subject``; runs in the caller's transaction
    and territory scope (the entry takes the territory in scope)."""
    entry = AuditEntry(user_id=getattr(user, "id", None), action=action[:40], subject=subject[:200],
                       cooperative_id=cooperative_id)
    db.session.add(entry)
    db.session.flush()
    return entry


def describe(subject: str) -> str:
    """A readable, localised subject for the subjects this module writes; others as written."""
    kind, _, rest = subject.partition(":")
    if kind == "beneficiaries" and not rest:
        return str(_l("List of beneficiaries"))
    if kind == "beneficiary":
        return str(_l("Beneficiary %(pseudonym)s", pseudonym=rest))
    if kind == "deliveries":
        return str(_l("Delivery records of %(month)s", month=rest))
    return subject


def entries(page: int = 1, per_page: int = PAGE_SIZE) -> tuple[list[AuditEntry], int, int]:
    """A page of the territory's audit log, newest first: (entries, page, pages)."""
    total = db.session.execute(select(func.count(AuditEntry.id))).scalar_one()
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    rows = db.session.execute(
        select(AuditEntry).options(selectinload(AuditEntry.user))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(per_page).offset((page - 1) * per_page)).scalars().all()
    return list(rows), page, pages


def cooperative_names(rows: list[AuditEntry]) -> dict[int, str]:
    ids = {r.cooperative_id for r in rows if r.cooperative_id}
    if not ids:
        return {}
    return dict(db.session.execute(select(Cooperative.id, Cooperative.name).where(Cooperative.id.in_(ids))).all())
