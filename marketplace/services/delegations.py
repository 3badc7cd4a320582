"""A funder's delegation to its territory's coordinators: granted and revoked by the funder's
own officers, at one of two levels (``FunderDelegation.READ``: aggregates; ``REVIEW``: also the
applications). Every change is written to the audit log. Runs in the territory scope and the
caller's transaction; the caller commits."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import Funder, FunderDelegation, User
from marketplace.models.base import utcnow
from marketplace.services import DomainError, audit
from marketplace.services.authz import live_delegation

LEVEL_LABELS = {
    FunderDelegation.READ: _l("Read aggregates: dashboard, statements, exports of counts"),
    FunderDelegation.REVIEW: _l("Also review applications: the queue, the documents, the decisions"),
}


def history(funder: Funder) -> list[FunderDelegation]:
    """Every delegation of the funder, the newest first (the live one, if any, on top)."""
    return list(db.session.execute(select(FunderDelegation).where(FunderDelegation.funder_id == funder.id)
                                   .order_by(FunderDelegation.granted_at.desc(), FunderDelegation.id.desc()))
                .scalars())


def grant(funder: Funder, level: str, officer: User) -> FunderDelegation:
    """Delegate ``level`` to the coordinators, replacing the live delegation if there is one.
    Raises DomainError for an unknown level or when that level is already delegated."""
    if level not in FunderDelegation.LEVELS:
        raise DomainError(_l("Choose what the coordinators may do."), field="level")
    current = live_delegation(funder.id)
    if current is not None and current.level == level:
        raise DomainError(_l("The coordinators already have this delegation."), field="level")
    now = utcnow()
    if current is not None:
        current.revoked_at = now
        current.revoked_by_id = officer.id
    delegation = FunderDelegation(funder_id=funder.id, level=level, granted_by_id=officer.id, granted_at=now)
    db.session.add(delegation)
    db.session.flush()
    audit.log(officer, "delegated", f"delegation:{level}", funder_id=funder.id,
              detail=f"replaces {current.level}" if current is not None else "")
    return delegation


def revoke(funder: Funder, officer: User) -> FunderDelegation:
    """End the live delegation: coordinators keep seeing the funder in the list, nothing else.
    Raises DomainError when there is none."""
    current = live_delegation(funder.id)
    if current is None:
        raise DomainError(_l("The coordinators have no delegation to revoke."))
    current.revoked_at = utcnow()
    current.revoked_by_id = officer.id
    db.session.flush()
    audit.log(officer, "delegation_revoked", f"delegation:{current.level}", funder_id=funder.id)
    return current
