"""Browser tests: the app served on a free local port, Debian's Chromium driven by Playwright,
every visited page scanned with axe-core (no serious or critical violation allowed)."""
from __future__ import annotations

import os
import threading

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.payments.conftest import localstripe  # noqa: F401 - a fixture: localstripe for the browser tests


class QuietHandler(WSGIRequestHandler):
    def log(self, *args, **kwargs):  # the browser's requests would drown the test output
        pass

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def app(app, localstripe, database_uri):
    """The served app has card payments on, against this session's localstripe; pages load
    localstripe's stand-in Stripe.js. The parent ``app`` fixture made the schema."""
    from tests.conftest import make_app
    from tests.payments.conftest import stripe_settings

    return make_app(database_uri, **stripe_settings(localstripe),
                    STRIPE_JS_URL=f"{localstripe}/js.stripe.com/v3/")


@pytest.fixture(scope="session")
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright gives each launch a fresh, empty profile directory.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS,
                                             headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server, viewport={"width": 390, "height": 844},
                                  locale="it-IT")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


class A11y:
    """Runs axe-core on the current page; collects serious and critical violations."""

    def __init__(self):
        from axe_playwright_python.sync_playwright import Axe

        self.axe = Axe()
        self.visited: list[str] = []

    def check(self, page) -> None:
        results = self.axe.run(page)
        bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
        self.visited.append(page.url)
        details = "\n".join(
            f"- {v['id']} ({v['impact']}): {v['help']} -> "
            + "; ".join(n["target"][0] if n.get("target") else "?" for n in v["nodes"][:5])
            for v in bad
        )
        assert not bad, f"axe found problems on {page.url}:\n{details}"


@pytest.fixture
def a11y():
    return A11y()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, keep a screenshot and the HTML of the page in test-artifacts/."""
    outcome = yield
    report = outcome.get_result()
    page = item.funcargs.get("page") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and page is not None:
        folder = os.path.join(os.path.dirname(__file__), "..", "..", "test-artifacts")
        os.makedirs(folder, exist_ok=True)
        name = item.name.replace("/", "_")[:100]
        try:
            page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)
            with open(os.path.join(folder, f"{name}.html"), "w") as handle:
                handle.write(page.content())
        except Exception:  # noqa: BLE001 - best effort
            pass
