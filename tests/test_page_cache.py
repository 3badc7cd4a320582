"""Anonymous public pages are served from a shared cache and go stale on every change."""
from __future__ import annotations

import pytest

from tests.conftest import login, make_app, post


@pytest.fixture
def cached_app(database_uri):
    return make_app(database_uri, PAGE_CACHE_SECONDS=60)


def _publish(make, territory, **kw):
    coop = make.cooperative(territory)
    return coop, make.service(coop, status="published", **kw)


def test_anonymous_catalogue_is_served_from_the_cache_until_a_change(cached_app, make, db):
    territory = make.territory("cremona")
    coop, _ = _publish(make, territory, title="Nido Arcobaleno", vertical="childcare")
    client = cached_app.test_client()
    first = client.get("/t/cremona/services?q=nido")
    second = client.get("/t/cremona/services?q=nido")
    assert first.headers["X-Cache"] == "miss" and second.headers["X-Cache"] == "hit"
    assert first.get_data() == second.get_data()
    assert "Set-Cookie" not in second.headers  # nothing personal in a shared page

    # A coordinator suspends the cooperative: the next anonymous visit sees it gone.
    coordinator = make.coordinator(territory)
    staff_client = cached_app.test_client()
    login(staff_client, coordinator.email)
    post(staff_client, f"/t/cremona/coordinator/cooperatives/{coop.id}/status",
         {"status": "suspended"}, token_from="/t/cremona/coordinator/")
    third = client.get("/t/cremona/services?q=nido")
    assert third.headers["X-Cache"] == "miss"
    assert "Nido Arcobaleno" not in third.get_data(as_text=True)


def test_logged_in_visitors_and_other_territories_never_share_a_page(cached_app, make):
    cremona, milano = make.territory("cremona"), make.territory("milano")
    _publish(make, cremona, title="Servizio di Cremona")
    _publish(make, milano, title="Servizio di Milano")
    anonymous = cached_app.test_client()
    anonymous.get("/t/cremona/services")
    milan_page = anonymous.get("/t/milano/services")
    assert milan_page.headers["X-Cache"] == "miss"
    assert "Servizio di Cremona" not in milan_page.get_data(as_text=True)
    user = cached_app.test_client()
    login(user, make.user(full_name="Giulia Rossi").email)
    page = user.get("/t/cremona/services")
    assert "X-Cache" not in page.headers
    assert "Esci" in page.get_data(as_text=True) or "Log out" in page.get_data(as_text=True)


def test_language_is_part_of_the_key(cached_app, make):
    territory = make.territory("cremona")
    _publish(make, territory, title="Centro diurno")
    client = cached_app.test_client()
    italian = client.get("/t/cremona/services").get_data(as_text=True)
    client.get("/t/cremona/account/language?lang=en&next=/t/cremona/services")
    english = client.get("/t/cremona/services").get_data(as_text=True)
    assert 'lang="it"' in italian and 'lang="en"' in english


def test_api_answers_are_cached_and_refreshed_too(cached_app, make, db):
    from marketplace.models import Service
    from marketplace.services import catalogue
    from tenants.scoping import territory_scope

    territory = make.territory("cremona")
    _, service = _publish(make, territory, title="Trasporto sociale", vertical="disability")
    client = cached_app.test_client()
    url = "/api/v1/territories/cremona/services"
    assert client.get(url).headers["X-Cache"] == "miss"
    assert client.get(url).headers["X-Cache"] == "hit"
    with cached_app.app_context(), territory_scope(territory.id):
        row = db.session.get(Service, service.id)
        catalogue.update_service(row, {"title": "Trasporto sociale attrezzato"}, None)
        db.session.commit()
    fresh = client.get(url)
    assert fresh.headers["X-Cache"] == "miss"
    assert "Trasporto sociale attrezzato" in fresh.get_data(as_text=True)


def test_cookieless_visitors_are_answered_before_flask_with_the_same_headers(cached_app, make, monkeypatch):
    territory = make.territory("cremona")
    _publish(make, territory, title="Babysitting serale")
    first = cached_app.test_client().get("/t/cremona/services?vertical=childcare")
    assert first.headers["X-Cache"] == "miss"
    # A new visitor (no cookie): Flask's views do not run at all.
    monkeypatch.setitem(cached_app.view_functions, "public.catalogue_page",
                        lambda *a, **k: (_ for _ in ()).throw(AssertionError("view ran")))
    again = cached_app.test_client().get("/t/cremona/services?vertical=childcare")
    assert again.status_code == 200 and again.headers["X-Cache"] == "hit"
    assert again.get_data() == first.get_data()
    assert again.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in again.headers["Content-Security-Policy"]
    # After a change (and for a suspended territory) the middleware steps aside.
    admin = cached_app.test_client()
    login(admin, make.user(is_platform_admin=True).email)
    post(admin, f"/admin/territories/{territory.id}/status", {"action": "suspend"}, token_from="/admin/")
    monkeypatch.undo()
    assert cached_app.test_client().get("/t/cremona/services?vertical=childcare").status_code == 404
