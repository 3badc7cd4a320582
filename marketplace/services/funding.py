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
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.models import Employee, LedgerEntry, Order, Payment, Voucher, WelfareCredit
from marketplace.models.base import utcnow
from marketplace.services import DomainError

LOCAL_TZ = ZoneInfo("Europe/Rome")
# Test-only switch: the race test's negative control reads vouchers without their row lock
# to show that the test can fail. Never change it elsewhere.
LOCKING = True
VOUCHER = "voucher"
CREDIT = "welfare_credit"
FUND_PROVIDERS = (VOUCHER, CREDIT)


def today() -> dt.date:
    """Today's date in Italy: validity and expiry dates are calendar days there."""
    return dt.datetime.now(LOCAL_TZ).date()


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
    if voucher.holder_email and not user.is_confirmed:
        # Else anyone could sign up with a beneficiary's address and take the voucher.
        raise DomainError(_l("Confirm your e-mail address first: this voucher was sent to it."), field="code")
    if voucher.status != Voucher.ACTIVE:
        raise DomainError(_l("This voucher has been cancelled."), field="code")
    if voucher.valid_until < today():
        raise DomainError(_l("This voucher expired on %(date)s.", date=voucher.valid_until.strftime("%d/%m/%Y")),
                          field="code")
    voucher.holder_id = user.id
    voucher.claimed_at = utcnow()
    return voucher


# --- what may pay an order --------------------------------------------------------------

@dataclass
class Part:
    """One source's share of an order: ``kind`` is voucher, welfare_credit or card."""

    kind: str
    amount_cents: int
    voucher: Voucher | None = None
    credit: WelfareCredit | None = None

    @property
    def source_id(self) -> int | None:
        return self.voucher.id if self.voucher is not None else (self.credit.id if self.credit is not None else None)


@dataclass
class Plan:
    """Who pays what of ``total_cents``, in the order the parts are used."""

    total_cents: int
    parts: list[Part] = field(default_factory=list)

    @property
    def card_cents(self) -> int:
        return sum(p.amount_cents for p in self.parts if p.kind == "card")

    @property
    def funded_cents(self) -> int:
        return self.total_cents - self.card_cents


def order_service(order: Order):
    return order.tickets[0].slot.service if order.tickets else None


def voucher_refusal(voucher: Voucher, order: Order, user, day: dt.date | None = None):
    """Why ``voucher`` cannot pay ``order`` for ``user`` (a localised message), or None."""
    day = day or today()
    service = order_service(order)
    programme = voucher.programme
    if voucher.holder_id != user.id:
        return _l("This voucher belongs to someone else.")
    if voucher.status != Voucher.ACTIVE:
        return _l("This voucher has been cancelled.")
    if day > voucher.valid_until:
        return _l("This voucher expired on %(date)s.", date=voucher.valid_until.strftime("%d/%m/%Y"))
    if day < voucher.valid_from:
        return _l("This voucher can be used from %(date)s.", date=voucher.valid_from.strftime("%d/%m/%Y"))
    if service is None or not service.accepts_voucher:
        return _l("This service does not accept vouchers.")
    if programme.eligible_verticals and service.vertical not in programme.eligible_verticals:
        return _l("This voucher does not pay for this kind of service.")
    if programme.eligible_service_ids and service.id not in programme.eligible_service_ids:
        return _l("This voucher does not pay for this service.")
    if programme.eligible_cooperative_ids and service.cooperative_id not in programme.eligible_cooperative_ids:
        return _l("This voucher does not pay for services of this cooperative.")
    return None


def credit_refusal(credit: WelfareCredit, order: Order, user, day: dt.date | None = None):
    """Why ``credit`` cannot pay ``order`` for ``user`` (a localised message), or None."""
    day = day or today()
    service = order_service(order)
    employee = credit.employee
    if employee.user_id != user.id:
        return _l("This welfare credit belongs to someone else.")
    if employee.status != Employee.ACTIVE:
        return _l("Your employer no longer lists you: this credit cannot be used.")
    if credit.status != WelfareCredit.ACTIVE or day > credit.expires_on:
        return _l("This welfare credit expired on %(date)s.", date=credit.expires_on.strftime("%d/%m/%Y"))
    if service is None or not service.accepts_welfare_credit:
        return _l("This service does not accept welfare credit.")
    verticals = credit.funder.eligible_verticals or []
    if verticals and service.vertical not in verticals:
        return _l("Your employer's credit does not pay for this kind of service.")
    return None


def _reserved_elsewhere(column, source_id: int, order_id: int, now: dt.datetime) -> int:
    """What other orders that still hold their seats have reserved of this source."""
    from marketplace.services.booking import holding_condition

    return int(db.session.execute(
        select(func.coalesce(func.sum(Payment.amount_cents), 0))
        .join(Order, Order.id == Payment.order_id)
        .where(column == source_id, Payment.status == Payment.PENDING, Payment.order_id != order_id,
               holding_condition(now))
    ).scalar_one())


def available_cents(source, order: Order, now: dt.datetime | None = None) -> int:
    """The balance of a voucher or credit less what other live orders have reserved."""
    now = now or utcnow()
    column = Payment.voucher_id if isinstance(source, Voucher) else Payment.credit_id
    return max(0, source.balance_cents - _reserved_elsewhere(column, source.id, order.id, now))


def usable_sources(order: Order, user) -> tuple[list[Voucher], list[WelfareCredit]]:
    """The user's vouchers and credits that may pay this order now, in the order they are
    used: vouchers first, then credits, each soonest to expire first."""
    if user is None or order.total_cents <= 0:
        return [], []
    vouchers = [v for v in vouchers_of(user)
                if v.balance_cents > 0 and voucher_refusal(v, order, user) is None]
    vouchers.sort(key=lambda v: (v.valid_until, v.id))
    credits = [c for c in credits_of(user)
               if c.balance_cents > 0 and credit_refusal(c, order, user) is None]
    credits.sort(key=lambda c: (c.expires_on, c.id))
    return vouchers, credits


def plan(order: Order, vouchers: list[Voucher], credits: list[WelfareCredit],
         now: dt.datetime | None = None) -> Plan:
    """Split the order's total: each voucher (a percent voucher pays its share of the total),
    then each credit, up to what it has available, and the card for the rest. Pure: reads
    balances, reserves nothing."""
    now = now or utcnow()
    result = Plan(order.total_cents)
    left = order.total_cents
    for voucher in vouchers:
        if left <= 0:
            break
        cap = available_cents(voucher, order, now)
        if voucher.percent:
            cap = min(cap, order.total_cents * int(voucher.percent) // 100)
        amount = min(cap, left)
        if amount > 0:
            result.parts.append(Part(VOUCHER, amount, voucher=voucher))
            left -= amount
    for credit in credits:
        if left <= 0:
            break
        amount = min(available_cents(credit, order, now), left)
        if amount > 0:
            result.parts.append(Part(CREDIT, amount, credit=credit))
            left -= amount
    if left > 0:
        result.parts.append(Part("card", left))
    return result


def reservations(order: Order) -> list[Payment]:
    """The order's voucher and credit payments that are reserved or charged."""
    return [p for p in order.payments if p.provider in FUND_PROVIDERS
            and p.status in (Payment.PENDING, Payment.CONFIRMED)]


def funded_cents(order: Order) -> int:
    """What vouchers and credits pay (reserved or charged) of the order."""
    return sum(p.amount_cents for p in reservations(order))


def card_due(order: Order) -> int:
    """What is left for the card (or the desk) once vouchers and credits are counted."""
    return order.total_cents - funded_cents(order)


def release(order: Order) -> int:
    """Give back the order's reservations (PENDING voucher/credit payments fail); charged
    ones are untouched. Returns how many were released."""
    from payments import ledger

    released = 0
    for payment in order.payments:
        if payment.provider in FUND_PROVIDERS and payment.status == Payment.PENDING:
            ledger.transition_payment(payment, Payment.FAILED)
            released += 1
    return released


def reserve(order: Order, user, voucher_ids: list[int], use_credit: bool, notify: bool = True) -> Plan:
    """Reserve the chosen vouchers and (if ``use_credit``) the user's welfare credits for the
    order, replacing any earlier choice; a card payment started for another amount is given
    up. Locks the order, then each source row in a fixed order (vouchers, credits, by id),
    and counts what is available inside the locks. When vouchers and credits cover the whole
    total the order is paid at once (``settle``). Raises DomainError (nothing changed) if
    the order cannot be paid now or a chosen voucher cannot pay it."""
    from marketplace.services import booking
    from payments import ledger
    from payments.providers import get_provider

    order = booking.lock_order(order)
    if order.user_id != user.id:
        raise DomainError(_l("Booking not found."))
    if order.status not in (Order.PENDING, Order.AWAITING_PAYMENT):
        raise DomainError(_l("This booking can no longer be paid."))
    if order.hold_expires_at is not None and order.hold_expires_at <= utcnow():
        raise DomainError(_l("Your reservation expired. Please choose your seats again."))
    if order.total_cents <= 0:
        raise DomainError(_l("This booking has nothing to pay."))
    wanted = sorted({int(v) for v in voucher_ids})
    vouchers = []
    for voucher_id in wanted:
        # Locked, then what other live orders reserved is counted inside the lock.
        voucher = ledger.lock_voucher(voucher_id) if LOCKING else db.session.get(Voucher, voucher_id)
        # (scoped: another territory's id is None)
        if voucher is None:
            raise DomainError(_l("There is no voucher with this code on this site."), field="vouchers")
        refusal = voucher_refusal(voucher, order, user)
        if refusal is not None:
            raise DomainError(refusal, field="vouchers")
        vouchers.append(voucher)
    credits = []
    if use_credit:
        for credit in sorted(credits_of(user), key=lambda c: c.id):
            credit = ledger.lock_credit(credit.id) if LOCKING else credit
            if credit.balance_cents > 0 and credit_refusal(credit, order, user) is None:
                credits.append(credit)
    vouchers.sort(key=lambda v: (v.valid_until, v.id))
    credits.sort(key=lambda c: (c.expires_on, c.id))
    # A new choice replaces the old one: reservations and a started card payment go.
    release(order)
    for payment in order.payments:
        if payment.provider == "stripe" and payment.status in (Payment.CREATED, Payment.PENDING):
            ledger.transition_payment(payment, Payment.FAILED)
            if payment.provider_ref:
                from functools import partial

                from marketplace.extensions import after_commit

                after_commit(partial(get_provider("stripe").cancel_quietly, payment.provider_ref))
    if order.status == Order.AWAITING_PAYMENT:
        booking.transition(order, Order.PENDING)
    result = plan(order, vouchers, credits)
    if wanted and not any(p.kind == VOUCHER for p in result.parts):
        raise DomainError(_l("This voucher has nothing left to pay with."), field="vouchers")
    for part in result.parts:
        if part.kind == "card":
            continue
        payment = Payment(territory_id=order.territory_id, order_id=order.id, order=order, provider=part.kind,
                          amount_cents=part.amount_cents, status=Payment.CREATED,
                          voucher_id=part.voucher.id if part.voucher else None,
                          credit_id=part.credit.id if part.credit else None)
        db.session.add(payment)
        db.session.flush()
        payment.provider_ref = get_provider(part.kind).start(payment)["provider_ref"]
        ledger.transition_payment(payment, Payment.PENDING)
    db.session.flush()
    if result.card_cents == 0:
        settle(order)
        booking.transition(order, Order.PAID)
        if notify:  # assisted bookings send their own confirmation
            from marketplace.services.tickets import send_confirmation

            send_confirmation(order)
    return result


def settle(order: Order) -> int:
    """Charge every reservation of the order through the ledger (in the transaction that
    makes it paid). Every source is locked and checked first: if one expired, was cancelled
    or lacks the balance since, DomainError is raised before anything is charged (the caller
    rolls back, or refunds the card part). Returns the cents charged."""
    from payments import ledger

    pending = sorted((p for p in order.payments if p.provider in FUND_PROVIDERS and p.status == Payment.PENDING),
                     key=lambda p: (p.voucher_id is None, p.voucher_id or 0, p.credit_id or 0))
    day = today()
    locked = []
    for payment in pending:
        payment = ledger.lock_payment(payment.id)
        if payment.voucher_id is not None:
            source = ledger.lock_voucher(payment.voucher_id)
            usable = source.status == Voucher.ACTIVE and source.valid_from <= day <= source.valid_until
        else:
            source = ledger.lock_credit(payment.credit_id)
            usable = source.status == WelfareCredit.ACTIVE and day <= source.expires_on \
                and source.employee.status == Employee.ACTIVE
        if payment.status != Payment.PENDING or not usable or source.balance_cents < payment.amount_cents:
            raise DomainError(_l("A voucher or credit chosen for this booking can no longer pay it. "
                                 "Please choose how to pay again."))
        locked.append(payment)
    for payment in locked:
        ledger.record(payment, LedgerEntry.CHARGE, payment.amount_cents,
                      idempotency_key=f"{payment.provider}:{payment.provider_ref}:charge",
                      provider_ref=payment.provider_ref)
    return sum(p.amount_cents for p in locked)


def order_status_changed(order: Order) -> None:
    """Hook of ``booking.transition``: an order that expires or is cancelled unpaid gives
    its reservations back at once (they stopped counting when its hold ended anyway)."""
    if order.status in (Order.EXPIRED, Order.CANCELLED):
        release(order)


def split_refund(order: Order, refund_cents: int) -> list[tuple[Payment, int]]:
    """How ``refund_cents`` goes back to the order's sources: in proportion to what each
    confirmed payment still holds, rounded down, the cents left over going to the sources
    with the largest remainders (ties: the later source in the paying order, so the card
    before credits before vouchers). Every source gets at most what it still holds."""
    held = [(p, p.amount_cents - p.refunded_cents) for p in sorted(order.payments, key=lambda p: p.id)
            if p.status == Payment.CONFIRMED and p.amount_cents - p.refunded_cents > 0]
    total = sum(h for _p, h in held)
    refund_cents = min(refund_cents, total)
    if refund_cents <= 0 or total <= 0:
        return []
    shares = []
    for index, (payment, amount) in enumerate(held):
        exact = refund_cents * amount
        shares.append([payment, exact // total, exact % total, index, amount])
    left = refund_cents - sum(s[1] for s in shares)
    for share in sorted(shares, key=lambda s: (-s[2], -s[3])):
        if left <= 0:
            break
        if share[1] < share[4]:
            share[1] += 1
            left -= 1
    return [(s[0], s[1]) for s in shares if s[1] > 0]
