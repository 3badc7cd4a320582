"""Staff cancel a date: every booking is cancelled, paid ones are refunded in full whatever
the policy (by a job, after commit), everyone gets an e-mail with the reason, and a Stripe
failure leaves that refund owed and retryable — through HTTP, with localstripe as Stripe."""
from __future__ import annotations

import datetime as dt

import stripe
from sqlalchemy import select

from marketplace.jobs import refund_cancelled_slot
from marketplace.models import LedgerEntry, Order, OutboxMessage, Slot, Ticket, TicketType, User, WaitlistEntry
from marketplace.services import booking, checkout
from payments import ledger
from payments.providers import ProviderError
from payments.providers import stripe as stripe_provider
from tenants.scoping import territory_scope
from tests.conftest import login, post
from tests.payments.test_card_payments import _browser_pays

OK_CARD = "4242424242424242"
REASON = "La guida è malata"


def _world(app, db, make, client):
    territory = make.territory("cremona")
    coop = make.cooperative(territory)
    staff = make.staff(coop, locale="en")
    # A strict policy: it must not matter when the cooperative cancels.
    service = make.service(coop, status="published", title="Visita al castello", free_cancel_hours=0,
                           late_refund_percent=0)
    slot = make.slot(service, starts_in=dt.timedelta(days=3), types=(("Intero", 1500, None), ("Bambini", 0, None)))
    with territory_scope(territory.id):
        full, free = db.session.execute(
            select(TicketType.id).where(TicketType.slot_id == slot.id).order_by(TicketType.position)).scalars()
    login(client, staff.email)
    base = f"/t/{territory.slug}/cooperative/{coop.id}/services/{service.id}/slots/{slot.id}"
    return territory, slot.id, full, free, base


def _paid(db, make, territory, slot_id, type_id, email, seats=1):
    citizen = make.user(email=email, locale="en")
    with territory_scope(territory.id):
        order = booking.hold(slot_id, {type_id: seats}, user=db.session.get(User, citizen.id))
        db.session.commit()
        payment, _ = checkout.start_card_payment(order)
        db.session.commit()
        payment_id, intent_id, code = payment.id, payment.provider_ref, order.code
    _browser_pays(intent_id, OK_CARD)
    with territory_scope(territory.id):
        assert checkout.confirm_from_provider(payment_id=payment_id).status == "paid"
        db.session.commit()
    return code, intent_id


def _free(db, make, territory, slot_id, type_id, email):
    citizen = make.user(email=email, locale="en")
    with territory_scope(territory.id):
        order = booking.hold(slot_id, {type_id: 2}, user=db.session.get(User, citizen.id))
        booking.confirm_free(order)
        db.session.commit()
        return order.code


def _refunded_at_stripe(intent_id) -> int:
    return sum(r.amount for r in stripe.Refund.list(payment_intent=intent_id).data)


def _refunds(db, territory):
    with territory_scope(territory.id):
        db.session.expire_all()
        return sorted(-e.amount_cents for e in db.session.execute(
            select(LedgerEntry).where(LedgerEntry.kind == LedgerEntry.REFUND)).scalars())


def test_staff_cancel_a_date_everyone_is_cancelled_refunded_in_full_and_told(app, db, make, client, run_jobs):
    territory, slot_id, full, free, base = _world(app, db, make, client)
    anna, anna_intent = _paid(db, make, territory, slot_id, full, "anna@example.org", seats=2)
    luca, luca_intent = _paid(db, make, territory, slot_id, full, "luca@example.org")
    gratis = _free(db, make, territory, slot_id, free, "gratis@example.org")
    waiting = make.user(email="attesa@example.org")
    with territory_scope(territory.id):
        db.session.add(WaitlistEntry(territory_id=territory.id, slot_id=slot_id, user_id=waiting.id,
                                     email=waiting.email))
        db.session.commit()

    page = client.get(base).get_data(as_text=True)
    assert "5 people have paid for this date." in page and "refunded in full" in page
    assert "not sent automatically" not in page
    no_reason = post(client, base + "/cancel", {"confirm": "y", "reason": " "}, token_from=base)
    assert no_reason.status_code == 422 and "why the date is cancelled" in no_reason.get_data(as_text=True)
    with territory_scope(territory.id):
        assert db.session.get(Slot, slot_id).status == Slot.OPEN

    response = post(client, base + "/cancel", {"confirm": "y", "reason": REASON}, token_from=base)
    assert response.status_code == 302
    run_jobs()

    with territory_scope(territory.id):
        db.session.expire_all()
        slot = db.session.get(Slot, slot_id)
        assert slot.status == Slot.CANCELLED and slot.cancel_reason == REASON and slot.cancelled_at is not None
        orders = db.session.execute(select(Order)).scalars().all()
        assert {o.status for o in orders} == {Order.CANCELLED} and {o.cancel_reason for o in orders} == {REASON}
        assert {t.status for t in db.session.execute(select(Ticket)).scalars()} == {Ticket.CANCELLED}
        assert all(ledger.balance(o) == 0 for o in orders)
        assert db.session.execute(select(WaitlistEntry.status)).scalar_one() == WaitlistEntry.LEFT
        mails = {m.to_email: m for m in db.session.execute(select(OutboxMessage)).scalars()
                 if m.subject.startswith("Date cancelled")}
    assert _refunds(db, territory) == [1500, 3000]
    assert _refunded_at_stripe(anna_intent) == 3000 and _refunded_at_stripe(luca_intent) == 1500
    assert set(mails) == {"anna@example.org", "luca@example.org", "gratis@example.org"}
    assert REASON in mails["anna@example.org"].body_text and "€30.00" in mails["anna@example.org"].body_text
    assert "card you paid with" in mails["anna@example.org"].body_text
    assert f"/t/cremona/bookings/{anna}" in mails["anna@example.org"].body_text
    assert "nothing to refund" in mails["gratis@example.org"].body_text

    page = client.get(base).get_data(as_text=True)
    assert REASON in page and page.count("Done") == 2 and "Nothing to refund" in page
    assert "Retry the refunds" not in page

    # The job again (a retry, a second worker): nothing more is refunded or sent.
    refund_cancelled_slot(territory.id, slot_id)
    assert _refunds(db, territory) == [1500, 3000]
    assert _refunded_at_stripe(anna_intent) == 3000
    with territory_scope(territory.id):
        assert len([m for m in db.session.execute(select(OutboxMessage)).scalars()
                    if m.subject.startswith("Date cancelled")]) == 3

    # The citizen sees why, and the refund.
    login(client, "anna@example.org")
    booking_page = client.get(f"/t/cremona/bookings/{anna}").get_data(as_text=True)
    assert "Cancelled on" in booking_page and REASON in booking_page and "€30.00 refunded on" in booking_page
    assert "to your card" in booking_page
    assert REASON in client.get("/t/cremona/bookings").get_data(as_text=True)

    # The seats cannot be booked any more.
    book_url = f"/t/cremona/book/{slot_id}"
    again = post(client, book_url, {f"qty-{full}": "1"}, token_from=book_url)
    assert again.status_code == 422 and "can no longer be booked" in again.get_data(as_text=True)
    with territory_scope(territory.id):
        assert db.session.execute(select(Order).where(Order.status != Order.CANCELLED)).first() is None


def test_a_stripe_failure_leaves_that_refund_owed_and_staff_retry_it(app, db, make, client, run_jobs, monkeypatch):
    territory, slot_id, full, free, base = _world(app, db, make, client)
    anna, anna_intent = _paid(db, make, territory, slot_id, full, "anna@example.org")
    luca, luca_intent = _paid(db, make, territory, slot_id, full, "luca@example.org")
    real_refund = stripe_provider.StripeProvider.refund

    def refund_failing_for_anna(self, payment, amount_cents, idempotency_key):
        if payment.provider_ref == anna_intent:
            raise ProviderError("Stripe is down")
        return real_refund(self, payment, amount_cents, idempotency_key)

    monkeypatch.setattr(stripe_provider.StripeProvider, "refund", refund_failing_for_anna)
    assert post(client, base + "/cancel", {"confirm": "y", "reason": REASON}, token_from=base).status_code == 302
    run_jobs()
    assert _refunds(db, territory) == [1500]  # Luca's went through all the same
    assert _refunded_at_stripe(luca_intent) == 1500 and _refunded_at_stripe(anna_intent) == 0
    page = client.get(base).get_data(as_text=True).replace("\xa0", " ")
    assert "Still owed: €15.00" in page and "Retry the refunds" in page
    with territory_scope(territory.id):
        told = [m.to_email for m in db.session.execute(select(OutboxMessage)).scalars()
                if m.subject.startswith("Date cancelled")]
    assert told == ["luca@example.org"]  # Anna hears when her money is back

    monkeypatch.setattr(stripe_provider.StripeProvider, "refund", real_refund)
    retried = post(client, base + "/refunds", {}, token_from=base)
    assert retried.status_code == 302
    run_jobs()
    assert _refunds(db, territory) == [1500, 1500]
    assert _refunded_at_stripe(anna_intent) == 1500
    page = client.get(base).get_data(as_text=True)
    assert "Still owed" not in page and "Retry the refunds" not in page
    with territory_scope(territory.id):
        told = sorted(m.to_email for m in db.session.execute(select(OutboxMessage)).scalars()
                      if m.subject.startswith("Date cancelled"))
    assert told == ["anna@example.org", "luca@example.org"]


def test_a_booking_being_paid_is_cancelled_and_its_intent_stopped(app, db, make, client, run_jobs):
    territory, slot_id, full, free, base = _world(app, db, make, client)
    citizen = make.user(email="lenta@example.org", locale="en")
    with territory_scope(territory.id):
        order = booking.hold(slot_id, {full: 1}, user=db.session.get(User, citizen.id))
        db.session.commit()
        payment, _ = checkout.start_card_payment(order)
        db.session.commit()
        intent_id = payment.provider_ref
    assert post(client, base + "/cancel", {"confirm": "y", "reason": REASON}, token_from=base).status_code == 302
    run_jobs()
    assert stripe.PaymentIntent.retrieve(intent_id).status == "canceled"
    with territory_scope(territory.id):
        db.session.expire_all()
        assert db.session.execute(select(Order.status)).scalar_one() == Order.CANCELLED
    assert _refunds(db, territory) == []
