"""Cooperative staff write a listing in a real browser; axe scans every page they see."""
from __future__ import annotations

import re

import pytest

from tests.factories import png_bytes

pytestmark = pytest.mark.e2e


def test_staff_write_preview_illustrate_and_submit_a_listing(page, a11y, make, live_server, tmp_path):
    territory = make.territory("cremona", name="Welfare Cremona")
    coop = make.cooperative(territory, name="Il Girasole")
    make.municipality(territory, "Cremona")
    make.municipality(territory, "Crema")
    make.category(territory, "childcare", "Nido")
    staff = make.staff(coop, locale="en")

    page.goto("/account/login")
    page.get_by_label("Indirizzo e-mail").fill(staff.email)
    page.get_by_label("Password").fill("a-strong-password-1")
    page.get_by_role("button", name="Accedi").click()
    page.wait_for_load_state()
    page.goto(f"/t/cremona/cooperative/{coop.id}/")  # staff of one cooperative: their page, in English
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_role("link", name="Manage the services").click()
    a11y.check(page)
    page.get_by_role("link", name="New service").click()
    a11y.check(page)

    # A municipality the territory does not have: the form says so, on that field.
    page.get_by_label("Title").fill("Nido Il Girasole")
    page.get_by_label("Area").select_option("childcare")
    page.get_by_label("Address of place 1").fill("Via Roma 1")
    page.get_by_label("Municipality of place 1").fill("Atlantide")
    page.get_by_text("Per session", exact=True).click()  # Bootstrap Italia draws the radio in the label
    page.get_by_label("Price in euros", exact=True).fill("12,50")
    page.get_by_role("button", name="Save").click()
    assert page.get_by_role("alert").is_visible()
    a11y.check(page)
    assert "Atlantide is not a municipality of this territory." in page.locator("#loc1_municipality-error").inner_text()

    page.get_by_label("Municipality of place 1").fill("Cremona")
    page.get_by_label("Description", exact=True).fill("Un nido **accogliente**.\n\n- giardino\n- mensa")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/services/\d+$"))
    a11y.check(page)
    assert page.locator("strong", has_text="accogliente").is_visible()

    page.get_by_role("link", name="Images").click()
    a11y.check(page)
    image = tmp_path / "nido.png"
    image.write_bytes(png_bytes(60, 40))
    page.get_by_label("Image", exact=True).set_input_files(str(image))
    page.get_by_label("Description of the image").fill("Il giardino del nido")
    page.get_by_role("button", name="Upload").click()
    a11y.check(page)
    assert page.get_by_alt_text("Il giardino del nido").is_visible()

    page.get_by_role("link", name="Nido Il Girasole").click()
    page.get_by_role("button", name="Send for review").click()
    a11y.check(page)
    assert page.get_by_text("In review").first.is_visible()
    page.get_by_role("link", name="History").click()
    a11y.check(page)
    assert page.get_by_role("cell", name="Sent for review").is_visible()
    page.goto(f"/t/cremona/cooperative/{coop.id}/services")
    a11y.check(page)
    assert page.get_by_role("link", name="Edit Nido Il Girasole").is_visible()  # names say which service
