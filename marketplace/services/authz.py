"""Who may do what in the current territory."""
from __future__ import annotations

from flask import g, has_request_context
from flask_login import current_user
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import Membership
from tenants.scoping import current_territory_id


def memberships_here(user=None) -> list[Membership]:
    """The user's memberships in the territory in scope (empty outside a territory)."""
    user = user or (current_user if has_request_context() else None)
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    if current_territory_id() is None:
        return []
    cache_key = f"_memberships_{user.id}"
    if has_request_context() and cache_key in g:
        return g.get(cache_key)
    rows = list(
        db.session.execute(select(Membership).where(Membership.user_id == user.id)).scalars()
    )
    if has_request_context():
        setattr(g, cache_key, rows)
    return rows


def roles_here(user=None) -> set[str]:
    return {m.role for m in memberships_here(user)}


def is_coordinator(user=None) -> bool:
    return Membership.COORDINATOR in roles_here(user)


def staff_cooperative_ids(user=None) -> set[int]:
    return {
        m.cooperative_id
        for m in memberships_here(user)
        if m.role == Membership.STAFF and m.cooperative_id is not None
    }


def is_help_desk(user=None) -> bool:
    """May book on citizens' behalf at the territory's help desk (operators and coordinators)."""
    return bool({Membership.HELP_DESK, Membership.COORDINATOR} & roles_here(user))


def funder_ids_here(user=None) -> set[int]:
    """The funders (municipality, employer...) the user is an officer of in this territory."""
    return {
        m.funder_id
        for m in memberships_here(user)
        if m.role == Membership.FUNDER and m.funder_id is not None
    }


def may_manage_funder(funder_id: int, user=None) -> bool:
    """Coordinators manage every funder of their territory; officers only their own."""
    return is_coordinator(user) or funder_id in funder_ids_here(user)
