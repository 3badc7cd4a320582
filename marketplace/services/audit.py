"""The audit log: who viewed, edited or exported personal data (beneficiaries, application
documents, citizen look-ups), who decided an application and who changed a funder's
delegation; when, and why.

``log`` adds an entry to the caller's transaction (the caller commits). Coordinators of the
territory read the entries, newest first, except those about a funder's applications
unless that funder delegated its review to them (``authz.review_delegated_funder_ids``);
a funder's officers read the entries about their funder.
"""
from __future__ import annotations

import math

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
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
    "looked_up": _l("Looked up a citizen"),
    "downloaded": _l("Downloaded"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected"),
    "needs_info": _l("Asked for more information"),
    "delegated": _l("Delegated"),
    "delegation_revoked": _l("Revoked a delegation"),
}
# Entries about the coordinators' own access: they always see them, delegated or not.
DELEGATION_ACTIONS = ("delegated", "delegation_revoked")
DELEGATION_LEVEL_LABELS = {"read": _l("read aggregates"), "review": _l("also review applications")}


def log(user, action: str, subject: str, cooperative_id: int | None = None, funder_id: int | None = None,
        reason: str = "", detail: str = "") -> AuditEntry:
    """Record that ``user`` did ``action`` on ``subject`` (of ``funder_id``'s data, if any),
    with the ``reason`` they gave and a short ``detail`` (e.g. what a look-up found). Runs
    in the caller's transaction and territory scope (the entry takes the territory in scope).
    Never put personal data in clear in ``subject`` or ``detail``: ids, masked or hashed values."""
    entry = AuditEntry(user_id=getattr(user, "id", None), action=action[:40], subject=subject[:200],
                       cooperative_id=cooperative_id, funder_id=funder_id, reason=(reason or "")[:4000],
                       detail=(detail or "")[:255])
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
    if kind == "application":
        return str(_l("Application %(id)s", id=rest))
    if kind == "document":
        document, _sep, application = rest.partition(":application:")
        return str(_l("Document %(document)s of application %(application)s", document=document,
                      application=application))
    if kind == "citizen-lookup":
        return str(_l("Citizen look-up: %(searched)s", searched=rest))
    if kind == "delegation":
        return str(_l("Delegation to the coordinators: %(level)s",
                      level=DELEGATION_LEVEL_LABELS.get(rest, rest)))
    return subject


def entries(page: int = 1, per_page: int = PAGE_SIZE, funder_id: int | None = None,
            funder_ids: set[int] | None = None) -> tuple[list[AuditEntry], int, int]:
    """A page of the territory's audit log, newest first: (entries, page, pages).

    ``funder_id``: only the entries about that funder (its officers' page). Otherwise the
    coordinators' page: entries about no funder, every delegation change, and the entries
    about the funders in ``funder_ids`` (those whose applications they may see)."""
    if funder_id is not None:
        where = AuditEntry.funder_id == funder_id
    else:
        where = or_(AuditEntry.funder_id.is_(None), AuditEntry.action.in_(DELEGATION_ACTIONS),
                    AuditEntry.funder_id.in_(sorted(funder_ids or ())))
    total = db.session.execute(select(func.count(AuditEntry.id)).where(where)).scalar_one()
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    rows = db.session.execute(
        select(AuditEntry).where(where).options(selectinload(AuditEntry.user))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(per_page).offset((page - 1) * per_page)).scalars().all()
    return list(rows), page, pages


def funder_names(rows: list[AuditEntry]) -> dict[int, str]:
    from marketplace.models import Funder

    ids = {r.funder_id for r in rows if r.funder_id}
    if not ids:
        return {}
    return dict(db.session.execute(select(Funder.id, Funder.name).where(Funder.id.in_(ids))).all())


def cooperative_names(rows: list[AuditEntry]) -> dict[int, str]:
    ids = {r.cooperative_id for r in rows if r.cooperative_id}
    if not ids:
        return {}
    return dict(db.session.execute(select(Cooperative.id, Cooperative.name).where(Cooperative.id.in_(ids))).all())
