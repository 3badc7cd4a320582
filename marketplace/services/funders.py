"""Funders of a territory: municipalities, districts, employers, foundations, and their officers.

Functions run inside the territory's scope and the caller's transaction; the caller commits.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.models import Funder, Invitation, Membership, Territory, User
from marketplace.services import DomainError
from marketplace.validation import normalise_fiscal_code, normalise_vat

FUNDER_KIND_LABELS = {
    Funder.MUNICIPALITY: _l("Municipality"),
    Funder.DISTRICT: _l("Social district"),
    Funder.EMPLOYER: _l("Employer"),
    Funder.FOUNDATION: _l("Foundation"),
}

MAX_NAME = 160


def create_funder(territory: Territory, *, name: str, kind: str, email: str = "", vat_number: str = "",
                  fiscal_code: str = "") -> Funder:
    """A new funder of ``territory``. The VAT number is required for employers (and checked
    whenever given); the fiscal code is optional (16 characters, or 11 digits for bodies).
    Raises DomainError (with the field) for bad input or a name already used here."""
    name = " ".join((name or "").split())
    if not name:
        raise DomainError(_l("Enter the funder's name."), field="name")
    if len(name) > MAX_NAME:
        raise DomainError(_l("The name can be at most %(n)d characters long.", n=MAX_NAME), field="name")
    if kind not in Funder.KINDS:
        raise DomainError(_l("Choose the kind of funder."), field="kind")
    vat_number = (vat_number or "").strip()
    if vat_number:
        try:
            vat_number = normalise_vat(vat_number)
        except ValueError:
            raise DomainError(_l("This is not a valid Italian VAT number (partita IVA, 11 digits)."),
                              field="vat_number") from None
    elif kind == Funder.EMPLOYER:
        raise DomainError(_l("Enter the employer's VAT number (partita IVA)."), field="vat_number")
    fiscal_code = (fiscal_code or "").strip()
    if fiscal_code:
        try:
            fiscal_code = normalise_fiscal_code(fiscal_code)
        except ValueError:
            raise DomainError(_l("This is not a valid Italian fiscal code (codice fiscale)."),
                              field="fiscal_code") from None
    taken = db.session.execute(
        select(Funder.id).where(func.lower(Funder.name) == name.lower())).first()
    if taken:
        raise DomainError(_l("There is already a funder called %(name)s here.", name=name), field="name")
    funder = Funder(territory_id=territory.id, name=name, kind=kind, email=(email or "").strip().lower(),
                    vat_number=vat_number, fiscal_code=fiscal_code)
    db.session.add(funder)
    db.session.flush()
    return funder


def officers(funder: Funder) -> list[User]:
    """The people holding the funder role for ``funder``, by name."""
    return list(db.session.execute(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.role == Membership.FUNDER, Membership.funder_id == funder.id,
               User.deleted_at.is_(None))
        .order_by(User.full_name, User.email)
    ).scalars())


def pending_invitations(funder: Funder) -> list[Invitation]:
    return list(db.session.execute(
        select(Invitation).where(Invitation.funder_id == funder.id, Invitation.accepted_at.is_(None),
                                 Invitation.revoked_at.is_(None))
        .order_by(Invitation.created_at)
    ).scalars())


def invite_officer(territory: Territory, funder: Funder, email: str, invited_by: User | None) -> Invitation:
    """E-mail an invitation to become an officer of ``funder``; accepting it gives the
    FUNDER role for that funder. Raises DomainError as ``invitations.invite`` does."""
    from marketplace.services import invitations

    return invitations.invite(territory, email, Membership.FUNDER, invited_by, funder=funder)
