"""The pages issue 5 added, in a phone-sized browser with axe: a full date's waiting list,
the printable tickets page with QR codes, a request for a home service (form, errors,
confirmation) and a help-desk operator finding a citizen."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from marketplace.extensions import db
from marketplace.models import Membership, ServiceArea
from marketplace.services import booking
from tenants.scoping import territory_scope
from tests.booking_helpers import make_slot

pytestmark = pytest.mark.e2e


def _login(page, email, password):
    page.goto("/t/milano/account/login")
    page.get_by_label("Indirizzo e-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Accedi").click()
    page.wait_for_url(re.compile(r"/t/milano/"))


def test_waiting_list_then_tickets_page(page, a11y, app, make):
    territory = make.territory("milano", name="Welfare Milano")
    _, full_slot, (full_type,) = make_slot(app, make, capacity=1, types=(("Gratuito", 0, None),),
                                           territory=territory)
    _, open_slot, (open_type,) = make_slot(app, make, capacity=5, types=(("Gratuito", 0, None),),
                                           territory=territory, starts_in_days=9)
    with app.app_context(), territory_scope(territory.id):
        booking.confirm_free(booking.hold(full_slot, {full_type: 1}, email="altro@example.org"))
        db.session.commit()
    make.user(email="famiglia@example.org", password="password-famiglia")
    _login(page, "famiglia@example.org", "password-famiglia")

    page.goto(f"/t/milano/book/{full_slot}")
    expect(page.get_by_role("heading", name=re.compile("lista d’attesa"))).to_be_visible()
    a11y.check(page)
    page.get_by_label("Posti che ti servono").fill("1")
    page.get_by_role("button", name="Iscriviti alla lista d’attesa").click()
    expect(page.get_by_text("Sei al numero 1 della lista d’attesa.").first).to_be_visible()
    a11y.check(page)

    page.goto(f"/t/milano/book/{open_slot}")
    page.get_by_label(re.compile("^Gratuito")).fill("2")
    page.get_by_role("button", name="Continua").click()
    page.wait_for_url(re.compile(r"/t/milano/bookings/[A-Z0-9]+$"))
    page.get_by_role("link", name="Stampa o mostra i biglietti").click()
    page.wait_for_url(re.compile(r"/tickets$"))
    expect(page.locator("svg[role=img]")).to_have_count(2)
    a11y.check(page)
    page.goto("/t/milano/bookings")
    expect(page.get_by_role("heading", name="Liste d’attesa")).to_be_visible()
    a11y.check(page)


def test_request_a_home_service_with_errors_then_sent(page, a11y, app, make):
    territory = make.territory("milano", name="Welfare Milano")
    coop = make.cooperative(territory)
    rho = make.municipality(territory, name="Rho")
    service = make.service(coop, status="published", title="Assistenza domiciliare anziani",
                           booking_mode="request", delivery_modes="at_home")
    make._save(ServiceArea(territory_id=territory.id, service_id=service.id, municipality_id=rho.id))
    make.user(email="figlia@example.org", password="password-figlia")
    _login(page, "figlia@example.org", "password-figlia")

    page.goto(f"/t/milano/services/{service.id}")
    page.get_by_role("link", name="Richiedi questo servizio").click()
    a11y.check(page)
    page.get_by_role("button", name="Invia la richiesta").click()  # nothing filled in
    expect(page.locator(".error-summary, [role=alert]").first).to_be_visible()
    a11y.check(page)
    assert page.url.endswith("/request")


def test_help_desk_finds_a_citizen(page, a11y, app, make):
    territory = make.territory("milano", name="Welfare Milano")
    operator = make.user(email="sportello@example.org", password="password-sportello")
    make.membership(territory, operator, Membership.HELP_DESK)
    anna = make.user(email="anna.bianchi@example.org", full_name="Anna Bianchi")
    make.beneficiary(make.cooperative(territory), user_id=anna.id)  # known in Milano: the desk may find her
    _login(page, "sportello@example.org", "password-sportello")
    page.goto("/t/milano/helpdesk/")
    a11y.check(page)
    page.get_by_label("E-mail o numero di telefono").fill("Anna.Bianchi@example.org")
    page.get_by_role("button", name="Cerca").click()
    expect(page.get_by_role("link", name=re.compile("Anna Bianchi"))).to_be_visible()
    a11y.check(page)
