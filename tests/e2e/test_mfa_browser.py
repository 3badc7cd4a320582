"""Two-step verification in a real browser, with the keyboard: a platform operator who must
have it sets it up at first login, logs in again with a recovery code and logs out
everywhere. Every page is scanned with axe."""
from __future__ import annotations

import re

import pyotp
import pytest

pytestmark = pytest.mark.e2e


def test_operator_sets_up_two_step_verification_with_the_keyboard(page, a11y, make, app, monkeypatch):
    monkeypatch.setitem(app.config, "MFA_REQUIRED", True)
    make.user(email="ops@example.org", password="password-operatore", is_platform_admin=True)
    page.goto("/account/login")
    page.get_by_label("Indirizzo e-mail").fill("ops@example.org")
    page.get_by_label("Password").fill("password-operatore")
    page.keyboard.press("Enter")

    # Sent to the set-up page; nothing else answers until it is done.
    page.wait_for_url(re.compile(r"/account/mfa$"))
    a11y.check(page)
    assert page.get_by_role("img", name=re.compile("Codice QR")).is_visible()
    page.goto("/admin/")
    page.wait_for_url(re.compile(r"/account/mfa$"))
    secret = page.locator("#mfa-secret").inner_text().replace(" ", "")
    code = page.get_by_label("Codice di verifica")
    assert code.get_attribute("autocomplete") == "one-time-code"
    assert code.get_attribute("inputmode") == "numeric"
    code.fill(pyotp.TOTP(secret).now())
    page.keyboard.press("Enter")

    page.get_by_role("heading", name="I tuoi codici di recupero").wait_for()
    a11y.check(page)
    recovery = page.locator("#recovery-codes code").all_inner_texts()
    assert len(recovery) == 10
    page.get_by_role("link", name="Li ho conservati: vai al mio account").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/account/$"))
    a11y.check(page)
    assert page.get_by_role("button", name="Esci da tutti i dispositivi").is_visible()

    # Next login: the password, then a recovery code (the phone is not at hand).
    page.get_by_role("button", name="Esci").first.click()
    page.goto("/account/login")
    page.get_by_label("Indirizzo e-mail").fill("ops@example.org")
    page.get_by_label("Password").fill("password-operatore")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/account/login/code$"))
    a11y.check(page)
    page.get_by_text("Non hai il telefono con te? Usa un codice di recupero").focus()
    page.keyboard.press("Enter")  # opens the disclosure
    page.get_by_label("Codice di recupero").fill(recovery[0])
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/$"))

    page.goto("/account/mfa")
    a11y.check(page)
    assert page.get_by_text("9 codici di recupero rimasti.").is_visible()

    page.goto("/account/")
    page.get_by_role("button", name="Esci da tutti i dispositivi").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/account/login$"))
    assert page.get_by_text("Sei uscito da tutti i dispositivi").is_visible()
    page.goto("/admin/")
    page.wait_for_url(re.compile(r"/account/login"))
