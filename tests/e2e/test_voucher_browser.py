"""Apply -> approve -> book with the voucher, in the browser, with axe on every page.

A parent applies to the municipality's voucher programme on a phone (uploads the ISEE
certificate, ticks the declaration, sends it); the municipality's officer opens the queue,
reads the document and approves; the parent sees the voucher in the wallet, books a week
of summer camp, sees the split (voucher first, card for the rest), pays the rest by card in
localstripe's stand-in Stripe.js, and the booking shows who paid what. The ledger agrees."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import Application, LedgerEntry, Order, Slot, TicketType, Voucher
from marketplace.models.base import utcnow
from payments import ledger
from tenants.scoping import territory_scope, unscoped
from tests.e2e.test_card_payment_browser import OK_CARD, _type_card

pytestmark = pytest.mark.e2e

PASSWORD = "password-per-la-prova"


def _world(app, make):
    territory = make.territory("cremona", name="Welfare Cremona")
    coop = make.cooperative(territory, name="Cooperativa Il Girasole")
    service = make.service(coop, status="published", title="Centro estivo Sole e Avventura",
                           vertical="childcare", accepts_voucher=True)
    with app.app_context(), unscoped():
        start = (utcnow() + dt.timedelta(days=12)).replace(microsecond=0, second=0)
        slot = Slot(territory_id=territory.id, service_id=service.id, starts_at=start,
                    ends_at=start + dt.timedelta(hours=8), capacity=10)
        slot.ticket_types.append(TicketType(territory_id=territory.id, name="Settimana", price_cents=9_500))
        db.session.add(slot)
        db.session.commit()
    comune = make.funder(territory, name="Comune di Cremona")
    make.funder_officer(comune, email="ufficio@comune.example", password=PASSWORD, locale="en",
                        full_name="Ufficio Servizi Sociali")
    programme = make.programme(comune, title="Buoni estate 2026", value_cents=6_000, eligible_verticals=["childcare"],
                               declarations=["I live in Cremona with the child."], documents=["ISEE certificate"])
    make.user(email="genitore@example.org", password=PASSWORD, locale="en", full_name="Marta Bianchi")
    return territory, programme


def _login(page, email):
    page.goto("/t/cremona/account/login")
    page.get_by_role("link", name="English").click()  # before logging in the site speaks Italian
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def _pdf() -> bytes:
    from marketplace.demo_funding import demo_pdf

    return demo_pdf("Attestazione ISEE 2026 - Bianchi")


def test_apply_approve_then_book_with_the_voucher(browser, live_server, app, make, a11y):
    territory, programme = _world(app, make)
    context = browser.new_context(base_url=live_server, viewport={"width": 390, "height": 844})
    parent = context.new_page()
    parent.set_default_timeout(10_000)
    _login(parent, "genitore@example.org")

    # The parent finds the programme and applies.
    parent.goto("/t/cremona/programmes")
    a11y.check(parent)
    parent.get_by_role("link", name="Buoni estate 2026").click()
    a11y.check(parent)
    parent.get_by_role("button", name="Apply").click()
    parent.wait_for_url(re.compile(r"/t/cremona/applications/[A-Z0-9]+$"))
    a11y.check(parent)
    parent.get_by_label("File for “ISEE certificate”").set_input_files(
        files=[{"name": "isee.pdf", "mimeType": "application/pdf", "buffer": _pdf()}])
    parent.get_by_role("button", name="Upload ISEE certificate").click()
    parent.get_by_role("link", name="isee.pdf").wait_for()
    parent.get_by_label("Name and surname of the beneficiary").fill("Luca Bianchi")
    parent.locator("label", has_text="I live in Cremona with the child.").click()  # the styled box is the label
    assert parent.get_by_label("I live in Cremona with the child.").is_checked()
    parent.get_by_role("button", name="Send the application").click()
    parent.get_by_text("Your application is sent.", exact=False).first.wait_for()
    a11y.check(parent)

    # The officer reviews it: queue, application, document, approval.
    officer_context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    officer = officer_context.new_page()
    officer.set_default_timeout(10_000)
    _login(officer, "ufficio@comune.example")
    officer.goto("/t/cremona/funders/")
    a11y.check(officer)
    officer.get_by_role("link", name="Comune di Cremona").first.click()
    a11y.check(officer)
    officer.get_by_role("link", name="Buoni estate 2026").first.click()
    a11y.check(officer)
    officer.get_by_role("link", name="Review the applications").click()
    a11y.check(officer)
    officer.get_by_role("link", name=re.compile("Luca Bianchi|Marta Bianchi")).first.click()
    a11y.check(officer)
    with officer.expect_download() as download:
        officer.get_by_role("link", name="isee.pdf").click()
    assert download.value.suggested_filename == "isee.pdf"
    officer.get_by_role("button", name="Approve and issue the voucher").click()
    officer.wait_for_load_state()
    a11y.check(officer)
    with app.app_context(), territory_scope(territory.id):
        application = db.session.execute(select(Application)).scalar_one()
        assert application.status == Application.APPROVED
        voucher = db.session.execute(select(Voucher)).scalar_one()
        assert (voucher.amount_cents, voucher.balance_cents) == (6_000, 6_000)
    officer_context.close()

    # The parent sees the voucher, books a week of camp and pays: voucher first, card the rest.
    parent.goto("/t/cremona/wallet")
    assert parent.get_by_text(voucher.code).first.is_visible()
    a11y.check(parent)
    parent.goto("/t/cremona/services")
    parent.get_by_role("link", name="Centro estivo Sole e Avventura").first.click()
    parent.get_by_role("link", name=re.compile("^Book")).first.click()
    parent.get_by_label(re.compile("^Settimana")).fill("1")
    parent.get_by_role("button", name="Continue").click()
    parent.wait_for_url(re.compile(r"/bookings/[A-Z0-9]+/checkout$"))
    code = re.search(r"/bookings/([A-Z0-9]+)/checkout", parent.url).group(1)
    split = parent.get_by_role("table", name=re.compile("Split of the"))
    assert "60.00" in split.inner_text().replace(",", ".") and "35.00" in split.inner_text().replace(",", ".")
    a11y.check(parent)
    parent.get_by_role("button", name="Continue").click()
    parent.locator("#card-element input[placeholder=number]").wait_for()
    assert parent.get_by_role("button", name=re.compile("^Pay .*35")).is_visible()
    a11y.check(parent)
    _type_card(parent, OK_CARD)
    parent.get_by_role("button", name=re.compile("^Pay")).click()
    parent.wait_for_url(re.compile(rf"/t/cremona/bookings/{code}$"))
    parent.get_by_role("heading", name="How you paid").wait_for()
    a11y.check(parent)

    with app.app_context(), territory_scope(territory.id):
        order = db.session.execute(select(Order).where(Order.code == code)).scalar_one()
        assert order.status == Order.PAID and ledger.balance(order) == 9_500
        entries = sorted((e.provider, e.kind, e.amount_cents) for e in order.ledger)
        assert entries == [("stripe", LedgerEntry.CHARGE, 3_500), ("voucher", LedgerEntry.CHARGE, 6_000)]
        assert db.session.get(Voucher, voucher.id).balance_cents == 0
    context.close()
