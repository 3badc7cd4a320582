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
