"""Who pays an order: the citizen's vouchers and welfare credits, then the card.

Every function runs inside a territory scope and the caller's transaction; the caller
commits. Sources are used in a fixed, explained order: vouchers (soonest to expire first),
then welfare credits (soonest to expire first), then the card (or the desk) for the rest.
A voucher or credit part is first *reserved* (a PENDING payment, counted against the
balance only while the order holds its seats) and charged through the ledger in the same
transaction that makes the order paid.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import Employee, Voucher, WelfareCredit


def today() -> dt.date:
    return dt.date.today()


def vouchers_of(user) -> list[Voucher]:
    """The user's vouchers in this territory, newest first (any status)."""
    return list(db.session.execute(
        select(Voucher).where(Voucher.holder_id == user.id).order_by(Voucher.issued_at.desc(), Voucher.id.desc())
    ).scalars())


def credits_of(user) -> list[WelfareCredit]:
    """The user's welfare credits in this territory (through their employee records)."""
    return list(db.session.execute(
        select(WelfareCredit).join(Employee, Employee.id == WelfareCredit.employee_id)
        .where(Employee.user_id == user.id, Employee.status == Employee.ACTIVE)
        .order_by(WelfareCredit.expires_on, WelfareCredit.id)
    ).scalars())


def claim_voucher(code: str, user) -> Voucher:
    """Bind a printed (or bulk, e-mailed) voucher code to ``user``, who may then pay with it.

    A code already bound to this user is returned as is. Raises DomainError, with a clear
    message and nothing changed, for an unknown code (another territory's codes are unknown
    here), a code bound to someone else, a cancelled or expired voucher."""
    from flask_babel import lazy_gettext as _l

    from marketplace.models.base import utcnow
    from marketplace.services import DomainError

    code = "".join((code or "").split()).upper().replace("-", "")
    if not code or len(code) > 12:
        raise DomainError(_l("Enter the voucher code as printed."), field="code")
    voucher = db.session.execute(
        select(Voucher).where(Voucher.code == code).with_for_update()
    ).scalar_one_or_none()
    if voucher is None:
        raise DomainError(_l("There is no voucher with this code on this site."), field="code")
    if voucher.holder_id == user.id:
        return voucher
    if voucher.holder_id is not None or (
            voucher.holder_email and voucher.holder_email.lower() != (user.email or "").lower()):
        raise DomainError(_l("This voucher belongs to someone else."), field="code")
    if voucher.status != Voucher.ACTIVE:
        raise DomainError(_l("This voucher has been cancelled."), field="code")
    if voucher.valid_until < today():
        raise DomainError(_l("This voucher expired on %(date)s.", date=voucher.valid_until.strftime("%d/%m/%Y")),
                          field="code")
    voucher.holder_id = user.id
    voucher.claimed_at = utcnow()
    return voucher
