"""A family looks for a service on a phone: search, filters, a service page — accessibly."""
from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture
def demo(app):
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output


def test_family_finds_a_guided_visit_and_a_nursery(page, a11y, demo):
    page.goto("/t/milano/")
    a11y.check(page)
    page.get_by_label("Cosa stai cercando?").fill("Chiaravalle")
    page.get_by_role("button", name="Cerca").click()
    page.wait_for_url(re.compile(r"/t/milano/services\?q=Chiaravalle"))
    a11y.check(page)
    page.get_by_role("link", name="Visite guidate all'Abbazia di Chiaravalle").first.click()
    a11y.check(page)
    assert page.get_by_role("heading", level=1).inner_text().startswith("Visite guidate all'Abbazia di Chiaravalle")
    assert "Sant'Arialdo" in page.content()

    # Filters, by keyboard-reachable controls: childcare accepting municipal vouchers.
    page.goto("/t/milano/services")
    page.get_by_text("Filtri", exact=True).click()
    page.get_by_label("Area").select_option("childcare")
    page.locator("label[for=voucher]").click()  # the label draws the box
    page.get_by_role("button", name="Applica i filtri").click()
    page.wait_for_url(re.compile(r"vertical=childcare.*voucher=1"))
    a11y.check(page)
    heading = page.get_by_role("heading", level=2).filter(has_text="trovat").first.inner_text()
    assert int(heading.split()[0]) > 0
    # The filters are in the address: the search can be shared as it is.
    shared = page.url
    page.goto(shared)
    assert page.get_by_label("Area").input_value() == "childcare"

    page.goto("/t/milano/services?q=zzzzzz")
    assert page.get_by_text("Nessun servizio corrisponde alla tua ricerca.").is_visible()
    a11y.check(page)
