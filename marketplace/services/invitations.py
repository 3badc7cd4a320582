"""Invitations to a role in a territory; accepting one creates the membership."""
from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.models import Cooperative, Invitation, Membership, Territory, User
from marketplace.models.base import utcnow
from marketplace.services import DomainError
from marketplace.services.mail import external_url, send_mail
from marketplace.services.tokens import expiry, hash_token, new_token
from tenants.scoping import territory_scope


def invite(territory: Territory, email: str, role: str, invited_by: User | None = None,
           cooperative: Cooperative | None = None, funder=None) -> Invitation:
    """Create an invitation and e-mail its link. Must run in ``territory``'s scope.
    Funder officers (role FUNDER) are invited to one ``funder`` of the territory."""
    email = (email or "").strip().lower()
    if role not in Membership.ROLES:
        raise DomainError(_l("Unknown role."), field="role")
    if role == Membership.STAFF and cooperative is None:
        raise DomainError(_l("Staff must belong to a cooperative."), field="cooperative")
    if cooperative is not None and cooperative.territory_id != territory.id:
        raise DomainError(_l("Unknown cooperative."), field="cooperative")
    if role == Membership.FUNDER and (funder is None or funder.territory_id != territory.id):
        raise DomainError(_l("Funder officers must belong to a funder of this territory."), field="funder")
    existing_user = db.session.execute(
        select(User).where(func.lower(User.email) == email)
    ).scalar_one_or_none()
    if existing_user is not None:
        already = db.session.execute(
            select(Membership.id).where(
                Membership.user_id == existing_user.id,
                Membership.role == role,
                Membership.cooperative_id == cooperative.id
                if cooperative is not None
                else Membership.cooperative_id.is_(None),
                Membership.funder_id == funder.id if funder is not None else Membership.funder_id.is_(None),
            )
        ).first()
        if already:
            raise DomainError(_l("This person already has this role."), field="email")
    raw, digest = new_token()
    invitation = Invitation(
        territory_id=territory.id,
        email=email,
        role=role,
        cooperative_id=cooperative.id if cooperative else None,
        funder_id=funder.id if funder is not None else None,
        token_hash=digest,
        invited_by_id=invited_by.id if invited_by else None,
        expires_at=expiry(current_app.config["INVITATION_TTL"]),
    )
    db.session.add(invitation)
    db.session.flush()
    send_mail(
        email,
        "invitation",
        locale=territory.default_language,
        territory=territory,
        invitation=invitation,
        inviter=invited_by,
        cooperative=cooperative,
        funder=funder,
        link=external_url("account.accept_invitation", territory=territory.slug, token=raw),
    )
    return invitation


def find_open_invitation(raw: str) -> Invitation:
    """The open invitation for this token in the territory in scope, or DomainError."""
    invitation = db.session.execute(
        select(Invitation).where(Invitation.token_hash == hash_token(raw or ""))
    ).scalar_one_or_none()
    if invitation is None or invitation.accepted_at or invitation.revoked_at:
        raise DomainError(_l("This invitation is not valid or has already been used."))
    if invitation.expires_at <= utcnow():
        raise DomainError(_l("This invitation has expired. Ask for a new one."))
    return invitation


def accept(invitation: Invitation, user: User) -> Membership:
    """Give ``user`` the invited role. Single use. Caller commits."""
    if invitation.email.lower() != user.email.lower():
        raise DomainError(_l("This invitation was sent to another e-mail address. "
                             "Log in with that address to accept it."))
    with territory_scope(invitation.territory_id):
        membership = db.session.execute(
            select(Membership).where(
                Membership.user_id == user.id,
                Membership.role == invitation.role,
                Membership.cooperative_id.is_(None)
                if invitation.cooperative_id is None
                else Membership.cooperative_id == invitation.cooperative_id,
                Membership.funder_id.is_(None)
                if invitation.funder_id is None
                else Membership.funder_id == invitation.funder_id,
            )
        ).scalar_one_or_none()
        if membership is None:
            membership = Membership(
                territory_id=invitation.territory_id,
                user_id=user.id,
                role=invitation.role,
                cooperative_id=invitation.cooperative_id,
                funder_id=invitation.funder_id,
            )
            db.session.add(membership)
        invitation.accepted_at = utcnow()
        invitation.accepted_by_id = user.id
        # The link proved the mailbox.
        if user.email_confirmed_at is None:
            user.email_confirmed_at = utcnow()
        db.session.flush()
    return membership


def revoke(invitation: Invitation) -> None:
    if invitation.accepted_at is None:
        invitation.revoked_at = utcnow()
