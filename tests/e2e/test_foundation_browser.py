"""A citizen and a platform operator, in a real browser, on a phone-sized screen."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from marketplace.models import OutboxMessage

pytestmark = pytest.mark.e2e


def _outbox_link(db, to: str, live_server: str) -> str:
    db.session.expire_all()
    message = db.session.execute(select(OutboxMessage).where(OutboxMessage.to_email == to)
                                 .order_by(OutboxMessage.id.desc())).scalars().first()
    assert message is not None, f"no e-mail to {to}"
    url = re.search(r"https?://\S+", message.body_text).group(0)
    return live_server + "/" + url.split("/", 3)[3]


def test_citizen_registers_confirms_logs_in_and_switches_to_english(page, a11y, make, db, live_server):
    make.territory("cremona", name="Welfare Cremona")
    page.goto("/t/cremona/")
    a11y.check(page)
    page.get_by_role("link", name="Registrati").first.click()
    a11y.check(page)

    # A mistake first: the form explains it, in Italian, and keeps what was typed.
    page.get_by_label("Nome e cognome").fill("Maria Bianchi")
    page.get_by_label("Indirizzo e-mail").fill("maria@example.org")
    page.get_by_label("Password", exact=True).fill("corta")
    page.get_by_label("Ripeti la password").fill("corta")
    page.get_by_text("Ho letto l'informativa sulla privacy").click()  # the label draws the box
    page.get_by_role("button", name="Registrati").click()
    assert page.get_by_role("alert").is_visible()
    a11y.check(page)
    assert page.get_by_label("Indirizzo e-mail").input_value() == "maria@example.org"

    page.get_by_label("Password", exact=True).fill("una-password-lunga")
    page.get_by_label("Ripeti la password").fill("una-password-lunga")
    assert page.get_by_label("Ho letto l'informativa sulla privacy").is_checked()
    page.get_by_role("button", name="Registrati").click()
    page.wait_for_url(re.compile(r"/check-email"))
    a11y.check(page)

    page.goto(_outbox_link(db, "maria@example.org", live_server))
    a11y.check(page)
    assert page.get_by_text("Il tuo indirizzo e-mail è confermato").is_visible()

    # Registering never logs in (it must not tell a new address from a taken one): the
    # confirmation leads to the login page.
    page.wait_for_url(re.compile(r"/t/cremona/account/login"))
    page.get_by_label("Indirizzo e-mail").fill("maria@example.org")
    page.get_by_label("Password").fill("una-password-lunga")
    page.get_by_role("button", name="Accedi").click()
    page.wait_for_url(re.compile(r"/t/cremona/$"))
    a11y.check(page)

    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("link", name="My account").is_visible()
    a11y.check(page)
    page.get_by_role("link", name="My account").click()
    a11y.check(page)


def test_operator_creates_a_territory_and_its_home_answers(page, a11y, make, live_server):
    make.user(email="ops@example.org", password="password-operatore", is_platform_admin=True)
    page.goto("/account/login")
    a11y.check(page)
    page.get_by_label("Indirizzo e-mail").fill("ops@example.org")
    page.get_by_label("Password").fill("password-operatore")
    page.get_by_role("button", name="Accedi").click()
    page.get_by_role("link", name="Amministrazione della piattaforma").first.click()
    a11y.check(page)
    page.get_by_role("link", name="Nuovo territorio").click()
    a11y.check(page)
    page.get_by_label("Nome", exact=True).fill("Welfare Biella")
    page.get_by_label("Indirizzo (slug)").fill("biella")
    page.get_by_label("E-mail di contatto").fill("info@biella.example")
    page.get_by_role("button", name="Crea il territorio").click()
    page.wait_for_url(re.compile(r"/admin/territories/\d+$"))
    a11y.check(page)

    page.goto("/t/biella/")
    assert page.get_by_role("heading", level=1).inner_text().strip() != ""
    assert page.get_by_text("Welfare Biella").first.is_visible()
    a11y.check(page)
