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


# What a user may do with one funder, weakest first. Officers act as their funder; the
# territory's coordination (coordinators, and platform operators on coordination pages)
# only as far as the funder delegated to it explicitly, except while the funder is being
# set up (no officer yet: nobody else could act for it).
FUNDER_SETUP = "setup"      # see the funder in the list and its card, invite its first officers
FUNDER_READ = "read"        # + aggregates: dashboard, statements, exports of counts
FUNDER_REVIEW = "review"    # + review queue, documents, decisions, programmes, vouchers, employees
FUNDER_OFFICER = "officer"  # + the funder's own settings: delegations, its audit log
FUNDER_LEVELS = (FUNDER_SETUP, FUNDER_READ, FUNDER_REVIEW, FUNDER_OFFICER)


def acts_for_coordination(user=None) -> bool:
    """Coordinators of the territory in scope, and platform operators (who may act on any
    territory's coordination pages)."""
    user = user or (current_user if has_request_context() else None)
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return is_coordinator(user) or bool(getattr(user, "is_platform_admin", False))


def funder_has_officers(funder_id: int) -> bool:
    return db.session.execute(select(Membership.id).where(
        Membership.funder_id == funder_id, Membership.role == Membership.FUNDER).limit(1)).first() is not None


def live_delegation(funder_id: int):
    """The funder's live delegation to the coordination (a FunderDelegation), or None."""
    from marketplace.models import FunderDelegation

    return db.session.execute(select(FunderDelegation).where(
        FunderDelegation.funder_id == funder_id, FunderDelegation.revoked_at.is_(None))
        .order_by(FunderDelegation.granted_at.desc(), FunderDelegation.id.desc()).limit(1)).scalar_one_or_none()


def funder_access(funder_id: int, user=None) -> str | None:
    """The strongest of FUNDER_LEVELS ``user`` holds on this funder of the territory in
    scope, or None. Cached per request."""
    user = user or (current_user if has_request_context() else None)
    if user is None or not getattr(user, "is_authenticated", False) or current_territory_id() is None:
        return None
    cache_key = f"_funder_access_{user.id}_{funder_id}"
    if has_request_context() and cache_key in g:
        return g.get(cache_key)
    if funder_id in funder_ids_here(user):
        level = FUNDER_OFFICER
    elif not acts_for_coordination(user):
        level = None
    elif not funder_has_officers(funder_id):
        level = FUNDER_REVIEW
    else:
        delegation = live_delegation(funder_id)
        level = delegation.level if delegation is not None and delegation.level in FUNDER_LEVELS else FUNDER_SETUP
    if has_request_context():
        setattr(g, cache_key, level)
    return level


def may_manage_funder(funder_id: int, user=None, level: str = FUNDER_REVIEW) -> bool:
    """Whether ``user`` holds at least ``level`` on the funder: officers always; coordinators
    as far as the funder delegated (see ``funder_access``)."""
    held = funder_access(funder_id, user)
    return held is not None and FUNDER_LEVELS.index(held) >= FUNDER_LEVELS.index(level)


def review_delegated_funder_ids(user=None) -> set[int]:
    """Funders of this territory whose applications the user may see as coordination: those
    that delegated "review", and those with no officer yet."""
    from marketplace.models import Funder, FunderDelegation

    if not acts_for_coordination(user):
        return set()
    delegated = set(db.session.execute(select(FunderDelegation.funder_id).where(
        FunderDelegation.revoked_at.is_(None), FunderDelegation.level == FunderDelegation.REVIEW)).scalars())
    with_officers = set(db.session.execute(select(Membership.funder_id).where(
        Membership.role == Membership.FUNDER, Membership.funder_id.is_not(None))).scalars())
    every = set(db.session.execute(select(Funder.id)).scalars())
    return delegated | (every - with_officers)
