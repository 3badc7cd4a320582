"""Cooperatives in a territory: invitation, accreditation life cycle, profile."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from marketplace import page_cache
from marketplace.extensions import db
from marketplace.models import Cooperative, Membership, Territory, User
from marketplace.models.base import utcnow
from marketplace.services import DomainError
from marketplace.services import invitations

PROFILE_FIELDS = (
    "name", "legal_name", "fiscal_code", "vat_number", "address", "postal_code",
    "municipality", "province", "email", "phone", "website", "description", "logo_text",
)


def invite_cooperative(territory: Territory, name: str, staff_email: str,
                       invited_by: User | None) -> Cooperative:
    """A pending cooperative and an invitation for its first staff member. In scope."""
    cooperative = Cooperative(territory_id=territory.id, name=name.strip(), email=staff_email.strip().lower())
    db.session.add(cooperative)
    db.session.flush()
    invitations.invite(territory, staff_email, Membership.STAFF, invited_by, cooperative)
    return cooperative


def change_status(cooperative: Cooperative, status: str) -> None:
    """Move along pending -> accredited -> suspended (and back to accredited)."""
    if status not in Cooperative.STATUSES:
        raise DomainError(_l("Unknown status."))
    if status == cooperative.status:
        return
    if not cooperative.can_become(status):
        raise DomainError(_l("This change of status is not allowed."))
    cooperative.status = status
    cooperative.status_changed_at = utcnow()
    page_cache.invalidate(cooperative.territory_id)


def update_profile(cooperative: Cooperative, data: dict) -> None:
    page_cache.invalidate(cooperative.territory_id)
    for field in PROFILE_FIELDS:
        if field in data and data[field] is not None:
            setattr(cooperative, field, data[field].strip() if isinstance(data[field], str) else data[field])
