"""A citizen books a free guided visit on a phone, sees the tickets and cancels — with axe
on every page. (Card payment is tested over HTTP against localstripe in tests/payments.)"""
from __future__ import annotations

import re

import pytest

from tests.booking_helpers import make_slot

pytestmark = pytest.mark.e2e


def test_book_a_free_visit_then_cancel(page, a11y, app, make):
    territory, slot_id, (free,) = make_slot(app, make, capacity=4, types=(("Gratuito", 0, None),),
                                            territory=make.territory("milano", name="Welfare Milano"))
    make.user(email="famiglia@example.org", password="password-famiglia")
    page.goto("/t/milano/account/login")
    page.get_by_label("Indirizzo e-mail").fill("famiglia@example.org")
    page.get_by_label("Password").fill("password-famiglia")
    page.get_by_role("button", name="Accedi").click()
    page.goto("/t/milano/services")
    page.get_by_role("link", name="Visita guidata").first.click()
    a11y.check(page)
    assert page.get_by_text("4 posti disponibili").is_visible()
    page.get_by_role("link", name=re.compile("^Prenota")).first.click()
    a11y.check(page)
    page.get_by_label(re.compile("^Gratuito")).fill("2")
    page.get_by_label("Partecipante 1").fill("Anna")
    page.get_by_role("button", name="Continua").click()
    page.wait_for_url(re.compile(r"/t/milano/bookings/[A-Z0-9]+$"))
    a11y.check(page)
    assert page.get_by_text("Confermata").first.is_visible()
    assert page.get_by_role("cell", name="Anna").is_visible()
    page.get_by_role("link", name="Le mie prenotazioni").first.click()
    a11y.check(page)
    page.get_by_role("link", name="Visita guidata").first.click()
    page.get_by_role("button", name="Annulla la prenotazione").click()
    assert page.get_by_text("Annullata").first.is_visible()
    a11y.check(page)
