"""A citizen finds a paid guided visit, books two tickets, pays by card in the card form on
the checkout page, gets the tickets, then cancels in time and is refunded — on a phone, with
axe on every page. The card form is localstripe's stand-in Stripe.js (the e2e app points
Stripe at this session's localstripe), so the browser really types the card and the money
really moves through our server, Stripe's API and the ledger."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import LedgerEntry, Order, Payment
from payments import ledger
from tenants.scoping import territory_scope
from tests.booking_helpers import make_slot

pytestmark = pytest.mark.e2e

OK_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000341"  # localstripe: the card is accepted, the charge declined


def _paid_visit(app, make, capacity=5):
    territory = make.territory("milano", name="Welfare Milano")
    territory, slot_id, (adult,) = make_slot(app, make, capacity=capacity, territory=territory,
                                             types=(("Intero", 1500, None),))
    make.user(email="famiglia@example.org", password="password-famiglia")
    return territory, slot_id


def _login(page):
    page.goto("/t/milano/account/login")
    page.get_by_label("Indirizzo e-mail").fill("famiglia@example.org")
    page.get_by_label("Password").fill("password-famiglia")
    page.get_by_role("button", name="Accedi").click()


def _book_two_tickets(page, a11y):
    """Search, open the service, book 2 full-price tickets: ends on the checkout page."""
    page.goto("/t/milano/services")
    page.get_by_label("Cosa stai cercando?").fill("Visita guidata")
    page.get_by_role("button", name="Cerca").click()
    page.wait_for_url(re.compile(r"/t/milano/services\?q="))
    page.get_by_role("link", name="Visita guidata").first.click()
    assert page.get_by_text("5 posti disponibili").is_visible()
    page.get_by_role("link", name=re.compile("^Prenota")).first.click()
    a11y.check(page)
    page.get_by_label(re.compile("^Intero")).fill("2")
    page.get_by_role("button", name="Continua").click()
    page.wait_for_url(re.compile(r"/t/milano/bookings/[A-Z0-9]+/checkout$"))
    assert page.get_by_text("30,00").first.is_visible()
    # The hold counts down live (15 minutes in tests too).
    countdown = page.locator("#hold-countdown .countdown-visual")
    expect(countdown).to_have_text(re.compile(r"^Tempo rimasto per completare la prenotazione: 1[45]:\d\d$"))
    first = countdown.inner_text()
    expect(countdown).not_to_have_text(first, timeout=3000)
    # The stand-in Stripe.js has mounted its card fields in our form.
    page.locator("#card-element input[placeholder=number]").wait_for()
    a11y.check(page)
    return re.search(r"/bookings/([A-Z0-9]+)/checkout", page.url).group(1)


def _type_card(page, number):
    """Type a card as a person would, field by field, in the card form (the stand-in's
    fields: number, month, two-digit year, CVC, postcode)."""
    element = page.locator("#card-element")
    element.locator("input[placeholder=number]").fill(number)
    element.locator("input[placeholder=exp_month]").fill("12")
    element.locator("input[placeholder=exp_year]").fill("34")
    element.locator("input[placeholder=cvc]").fill("123")
    element.locator("input[placeholder=postal_code]").fill("20100")


def _order_state(app, territory, code):
    with app.app_context(), territory_scope(territory.id):
        order = db.session.execute(select(Order).where(Order.code == code)).scalar_one()
        entries = db.session.execute(
            select(LedgerEntry).where(LedgerEntry.order_id == order.id)).scalars().all()
        return (order.status, [p.status for p in order.payments],
                sorted((e.kind, e.amount_cents) for e in entries), ledger.balance(order),
                [t.code for t in order.tickets])


def test_pay_two_tickets_by_card_then_cancel_and_see_the_refund(page, a11y, app, make):
    territory, slot_id = _paid_visit(app, make)
    _login(page)
    code = _book_two_tickets(page, a11y)

    _type_card(page, OK_CARD)
    page.get_by_role("button", name=re.compile("^Paga")).click()
    page.wait_for_url(re.compile(rf"/t/milano/bookings/{code}$"))
    a11y.check(page)
    assert page.get_by_text("La tua prenotazione è pagata.").is_visible()
    assert page.get_by_text("Confermata").first.is_visible()
    status, payments, entries, balance, ticket_codes = _order_state(app, territory, code)
    assert (status, payments, balance) == (Order.PAID, [Payment.CONFIRMED], 3000)
    assert entries == [(LedgerEntry.CHARGE, 3000)]
    assert len(ticket_codes) == 2
    for ticket_code in ticket_codes:  # the codes to show at the entrance are on the page
        assert page.get_by_role("cell", name=ticket_code, exact=True).is_visible()

    # The date is a week away: well within the cancellation period.
    page.get_by_role("button", name="Annulla la prenotazione").click()
    page.wait_for_url(re.compile(rf"/t/milano/bookings/{code}$"))
    assert page.get_by_text("Annullata").first.is_visible()
    assert page.get_by_text("Ti vengono rimborsati 30,00 €").is_visible()
    a11y.check(page)
    status, payments, entries, balance, _ = _order_state(app, territory, code)
    assert (status, payments, balance) == (Order.CANCELLED, [Payment.REFUNDED], 0)
    assert entries == [(LedgerEntry.CHARGE, 3000), (LedgerEntry.REFUND, -3000)]


def test_a_declined_card_says_so_and_the_seats_stay_held(page, a11y, app, make):
    territory, slot_id = _paid_visit(app, make)
    _login(page)
    code = _book_two_tickets(page, a11y)

    _type_card(page, DECLINED_CARD)
    # Back on the checkout page (a new load of it), with the reason and a fresh card form.
    with page.expect_navigation(url=re.compile(rf"/t/milano/bookings/{code}/checkout$")):
        page.get_by_role("button", name=re.compile("^Paga")).click()
    page.locator("#card-element input[placeholder=number]").wait_for()
    message = page.get_by_role("status").locator(".alert-danger")
    assert message.is_visible()
    # Our words, with the bank's reason as Stripe gives it.
    assert message.inner_text() == ("Il pagamento non è andato a buon fine (Your card was declined.). "
                                    "I tuoi posti sono ancora riservati: puoi riprovare con un'altra carta.")
    a11y.check(page)
    status, payments, entries, balance, ticket_codes = _order_state(app, territory, code)
    # The failed attempt is closed; the page has started a new one for the same held seats.
    assert status == Order.AWAITING_PAYMENT and sorted(payments) == sorted([Payment.FAILED, Payment.PENDING])
    assert entries == [] and balance == 0 and len(ticket_codes) == 2

    # The seats are still held: only 3 of 5 are on sale to others.
    page.goto(f"/t/milano/book/{slot_id}")
    assert page.get_by_text("3 posti disponibili").first.is_visible()

    # Another card on the same booking goes through.
    page.goto(f"/t/milano/bookings/{code}/checkout")
    page.locator("#card-element input[placeholder=number]").wait_for()
    _type_card(page, OK_CARD)
    page.get_by_role("button", name=re.compile("^Paga")).click()
    page.wait_for_url(re.compile(rf"/t/milano/bookings/{code}$"))
    assert page.get_by_text("La tua prenotazione è pagata.").is_visible()
    status, payments, entries, balance, _ = _order_state(app, territory, code)
    assert (status, sorted(payments), balance) == (Order.PAID, sorted([Payment.FAILED, Payment.CONFIRMED]), 3000)


def test_a_card_that_needs_3d_secure_is_authenticated_then_paid(page, a11y, app, make):
    """The bank asks for 3-D Secure: Stripe.js shows its check (the stand-in's dialog),
    the citizen completes it and the booking is paid."""
    territory, slot_id = _paid_visit(app, make)
    _login(page)
    code = _book_two_tickets(page, a11y)
    _type_card(page, "4000002500003155")
    page.get_by_role("button", name=re.compile("^Paga")).click()
    page.get_by_role("button", name="Complete authentication").click()
    page.wait_for_url(re.compile(rf"/t/milano/bookings/{code}$"))
    assert page.get_by_text("La tua prenotazione è pagata.").is_visible()
    status, payments, entries, balance, _ = _order_state(app, territory, code)
    assert (status, payments, entries) == (Order.PAID, [Payment.CONFIRMED], [(LedgerEntry.CHARGE, 3000)])
