"""The API reference (/api/v1/docs) in a real browser: ReDoc from our own origin, working
under the platform's CSP, nothing fetched from elsewhere."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_api_reference_renders_and_searches_offline(page, a11y, live_server):
    errors, outside, failed = [], [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: None if r.url.startswith((live_server, "blob:", "data:"))
            else outside.append(r.url))
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    page.set_viewport_size({"width": 1280, "height": 900})

    page.goto("/api/v1/docs")
    page.get_by_role("heading", name="Search the published services").wait_for()
    a11y.check(page)
    page.get_by_placeholder("Search...").fill("organizations")
    # ReDoc's search runs in a worker (allowed on this page only: worker-src blob:).
    page.locator("[data-role='search:results']").get_by_role(
        "menuitem", name="Accredited cooperatives").wait_for()

    # ReDoc's footer shows its vendor's logo from a CDN: the CSP stops the request in the
    # browser and ReDoc hides the image. Nothing else may be refused or fetched elsewhere.
    assert [u for u in outside if "cdn.redoc.ly/redoc/logo-mini.svg" not in u] == []
    assert [e for e in errors if "cdn.redoc.ly" not in e and "404" not in e] == []
    assert [u for u in failed if not u.endswith("/favicon.ico")] == []
