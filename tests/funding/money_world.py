"""A small, fully known world of funders' money, shared by the reports and statements tests.

Territory "valle": two cooperatives, Aurora (a childcare service) and Betulla (an elderly
day centre); a municipality with two programmes; an employer with welfare credits. Orders are
held through ``booking.hold``, paid through ``payments.ledger.record`` and then dated in 2025
(the ledger rows' ``created_at`` is moved back, so the figures do not depend on today).

Hand-computed figures are in the tests that use it.
"""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import Application, LedgerEntry, Order, Payment, Slot, Ticket, TicketType, Voucher
from marketplace.services import booking
from payments import ledger
from tenants.scoping import territory_scope

UTC = dt.timezone.utc


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def ticket_type_id(slot_id: int) -> int:
    return db.session.execute(select(TicketType.id).where(TicketType.slot_id == slot_id)).scalar_one()


def pay(territory, slot, user, quantity: int, sources, when: dt.datetime, key: str) -> Order:
    """Hold ``quantity`` seats for ``user`` and pay them with ``sources``: a list of
    (voucher / credit / None for the card, cents). Every ledger row is dated ``when``."""
    with territory_scope(territory.id):
        order = booking.hold(slot.id, {ticket_type_id(slot.id): quantity}, user=user, email=user.email)
        for n, (source, cents) in enumerate(sources):
            payment = Payment(territory_id=territory.id, order_id=order.id, amount_cents=cents, status="created",
                              provider="test")
            if isinstance(source, Voucher):
                payment.provider, payment.voucher_id = "voucher", source.id
            elif source is not None:
                payment.provider, payment.credit_id = "welfare_credit", source.id
            db.session.add(payment)
            db.session.flush()
            entry = ledger.record(payment, LedgerEntry.CHARGE, cents, f"{key}:charge:{n}")
            entry.created_at = when
        booking.transition(order, Order.PAID)
        order.paid_at = when
        db.session.commit()
        db.session.refresh(order)
        db.session.expunge(order)
    return order


def refund(territory, order, cents: int, when: dt.datetime, key: str, cancel_tickets: int = 0,
           cancel_order: bool = False) -> None:
    """Give ``cents`` back to the order's first voucher / credit payment."""
    with territory_scope(territory.id):
        payment = db.session.execute(
            select(Payment).where(Payment.order_id == order.id, Payment.provider != "test").order_by(Payment.id)
        ).scalars().first()
        payment = ledger.lock_payment(payment.id)
        entry = ledger.record(payment, LedgerEntry.REFUND, cents, key)
        entry.created_at = when
        tickets = db.session.execute(select(Ticket).where(Ticket.order_id == order.id).order_by(Ticket.id)).scalars()
        for ticket in list(tickets)[:cancel_tickets]:
            ticket.status = Ticket.CANCELLED
        if cancel_order:
            booking.transition(db.session.get(Order, order.id), Order.CANCELLED)
        db.session.commit()


def build(app, make) -> SimpleNamespace:
    w = SimpleNamespace()
    w.territory = make.territory("valle")
    w.aurora = make.cooperative(w.territory, name="Cooperativa Aurora")
    w.betulla = make.cooperative(w.territory, name="Cooperativa Betulla")
    w.doposcuola = make.service(w.aurora, status="published", title="Doposcuola Arcobaleno", vertical="childcare")
    w.centro = make.service(w.betulla, status="published", title="Centro diurno Glicine", vertical="elderly")
    w.slot_a = make.slot(w.doposcuola, capacity=20, types=(("Intero", 5000, None),))
    w.slot_b = make.slot(w.centro, capacity=20, types=(("Intero", 3000, None),))
    w.slot_a_later = make.slot(w.doposcuola, capacity=20, starts_in=dt.timedelta(days=20),
                               types=(("Intero", 5000, None),))

    w.comune = make.funder(w.territory, kind="municipality", name="Comune di Valle Serena")
    w.azienda = make.funder(w.territory, kind="employer", name="Azienda Alfa S.p.A.")
    year = dict(starts_on=dt.date(2025, 1, 1), ends_on=dt.date(2025, 12, 31),
                applications_open_on=dt.date(2025, 1, 1), applications_close_on=dt.date(2025, 6, 30))
    w.infanzia = make.programme(w.comune, title="Buoni infanzia 2025", budget_cents=100_000, value_cents=20_000,
                                **year)
    w.anziani = make.programme(w.comune, title="Buoni anziani 2025", budget_cents=50_000, value_cents=10_000,
                               **year)
    w.people = [make.user(email=f"cittadino{n}@example.org", full_name=f"Cittadino {n}", locale="en")
                for n in range(1, 7)]
    c1, c2, c3, c4, c5, c6 = w.people
    issued = dict(issued_at=at(2025, 2, 1, 9))
    w.v1, w.v2, w.v3, w.v4 = (make.voucher(w.infanzia, holder, **issued) for holder in (c1, c2, c3, c4))
    w.v5 = make.voucher(w.infanzia, None, status=Voucher.CANCELLED, **issued)   # not committed
    w.v6 = make.voucher(w.anziani, c5, **issued)
    for n, status in enumerate(["approved"] * 5 + ["rejected"] * 2):
        make._save(Application(territory_id=w.territory.id, programme_id=w.infanzia.id, user_id=w.people[n % 6].id,
                               status=status, submitted_at=at(2025, 1, 20 + n)))

    w.employee = make.employee(w.azienda, c6)
    w.credit = make.welfare_credit(w.employee, 20_000, expires_on=dt.date(2099, 12, 31))
    w.old_credit = make.welfare_credit(w.employee, 4_000, expires_on=dt.date(2025, 1, 31))
    with app.app_context(), territory_scope(w.territory.id):
        old = db.session.get(type(w.old_credit), w.old_credit.id)
        ledger.record_credit(old, LedgerEntry.CREDIT_RELEASE, 4_000, "test-release-old")
        old.status = "released"
        for entry in db.session.execute(select(LedgerEntry).where(LedgerEntry.credit_id.is_not(None))).scalars():
            entry.created_at = at(2025, 2, 1, 3) if entry.kind == LedgerEntry.CREDIT_RELEASE else at(2025, 1, 15, 8)
        db.session.commit()

    with app.app_context():
        t = w.territory
        w.o1 = pay(t, w.slot_a, c1, 2, [(w.v1, 10_000)], at(2025, 3, 10, 10), "o1")
        w.o2 = pay(t, w.slot_a, c2, 1, [(w.v2, 5_000)], at(2025, 3, 20, 10), "o2")
        w.o3 = pay(t, w.slot_b, c3, 2, [(w.v3, 6_000)], at(2025, 4, 5, 10), "o3")
        refund(t, w.o3, 3_000, at(2025, 4, 6, 10), "o3:refund", cancel_tickets=1)
        w.o4 = pay(t, w.slot_b, c5, 1, [(w.v6, 3_000)], at(2025, 4, 10, 10), "o4")
        w.o5 = pay(t, w.slot_a, c6, 1, [(w.credit, 5_000)], at(2025, 4, 12, 10), "o5")
        w.o6 = pay(t, w.slot_a_later, c4, 1, [(w.v4, 2_000), (None, 3_000)], at(2025, 5, 2, 10), "o6")
        w.o7 = pay(t, w.slot_a, c1, 1, [(w.v1, 5_000)], at(2024, 12, 15, 10), "o7")   # before the period
        w.o8 = pay(t, w.slot_b, c2, 1, [(w.v2, 3_000)], at(2025, 4, 15, 10), "o8")
        refund(t, w.o8, 3_000, at(2025, 4, 16, 10), "o8:refund", cancel_tickets=1, cancel_order=True)

        # The services took place: the childcare one in March 2025, the day centre in April;
        # the later date has not happened yet.
        with territory_scope(t.id):
            for slot, start in ((w.slot_a, at(2025, 3, 28, 10)), (w.slot_b, at(2025, 4, 20, 9))):
                row = db.session.get(Slot, slot.id)
                row.starts_at, row.ends_at = start, start + dt.timedelta(hours=2)
            db.session.commit()
    return w
