"""Coordinators review the catalogue and keep the territory's sub-categories and municipalities."""
from __future__ import annotations

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from marketplace.models import Category, ChangeRecord, Cooperative, Municipality, Service
from marketplace.services import catalogue
from tests.conftest import login, post
from tenants.scoping import territory_scope

BASE = "/t/cremona/coordinator"


@pytest.fixture
def cremona(make):
    territory = make.territory("cremona")
    coordinator = make.coordinator(territory, email="coord@example.org", locale="en",
                                   full_name="Chiara Coordinatrice")
    coop = make.cooperative(territory, name="Il Melograno")
    return territory, coordinator, coop


def _service(db, territory, service_id) -> Service:
    db.session.expire_all()
    with territory_scope(territory.id):
        return db.session.get(Service, service_id)


def _records(db, territory, entity="service", entity_id=None, action=None) -> list[ChangeRecord]:
    db.session.expire_all()
    with territory_scope(territory.id):
        query = select(ChangeRecord).where(ChangeRecord.entity == entity)
        if entity_id is not None:
            query = query.where(ChangeRecord.entity_id == entity_id)
        if action is not None:
            query = query.where(ChangeRecord.action == action)
        return list(db.session.execute(query.order_by(ChangeRecord.id)).scalars())


def _count(db, territory, model) -> int:
    db.session.expire_all()
    with territory_scope(territory.id):
        return db.session.execute(select(func.count(model.id))).scalar_one()


def _submitted(db, make, territory, coop, **kw) -> Service:
    """A listing made and submitted by the cooperative's staff through the catalogue service."""
    staff = make.staff(coop)
    with territory_scope(territory.id):
        from marketplace.models import User

        user = db.session.get(User, staff.id)
        cooperative = db.session.get(Cooperative, coop.id)
        data = {"title": "Nido Girotondo", "vertical": "childcare", "price_model": "fixed",
                "price_cents": 45000, "delivery_modes": "online", "summary": "Asilo nido per 0-3 anni"}
        data.update(kw)
        service = catalogue.create_service(cooperative, data, user)
        catalogue.change_status(service, Service.IN_REVIEW, user, as_coordinator=False)
        db.session.commit()
        service_id = service.id
        db.session.expunge_all()
    return _service(db, territory, service_id)


# ---------------------------------------------------------------------------- review

def test_coordinator_publishes_a_submitted_service(client, db, make, cremona):
    territory, coordinator, coop = cremona
    service = _submitted(db, make, territory, coop)
    login(client, coordinator.email)

    dashboard = client.get(f"{BASE}/").get_data(as_text=True)
    assert "1 service is waiting for review." in dashboard
    queue = client.get(f"{BASE}/services")
    body = queue.get_data(as_text=True)
    assert queue.status_code == 200
    assert "Nido Girotondo" in body and "Il Melograno" in body
    assert f'href="{BASE}/services/{service.id}"' in body

    page = client.get(f"{BASE}/services/{service.id}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Asilo nido per 0-3 anni" in text and "Submitted for review" in text  # fields and history
    assert text.count("<h1") == 1

    response = post(client, f"{BASE}/services/{service.id}/publish", {}, token_from=f"{BASE}/services/{service.id}")
    assert response.status_code == 302
    published = _service(db, territory, service.id)
    assert published.status == Service.PUBLISHED and published.published_at is not None
    (record,) = _records(db, territory, entity_id=service.id, action="published")
    assert record.user_id == coordinator.id and record.changes == {"status": ["in_review", "published"]}
    assert "No service is waiting for review." in client.get(f"{BASE}/").get_data(as_text=True)
    assert "Nido Girotondo" in client.get(f"{BASE}/services?status=published").get_data(as_text=True)
    assert "Nido Girotondo" not in client.get(f"{BASE}/services").get_data(as_text=True)

    # Publishing twice is refused with a message, not an error page.
    again = post(client, f"{BASE}/services/{service.id}/publish", {}, token_from=f"{BASE}/services/{service.id}")
    assert again.status_code == 422
    assert "This change of status is not allowed." in again.get_data(as_text=True)
    assert len(_records(db, territory, entity_id=service.id, action="published")) == 1


def test_send_back_needs_a_comment_which_the_cooperative_gets(client, db, make, cremona):
    territory, coordinator, coop = cremona
    service = _submitted(db, make, territory, coop)
    login(client, coordinator.email)
    url = f"{BASE}/services/{service.id}/send-back"

    refused = post(client, url, {"comment": "   "}, token_from=f"{BASE}/services/{service.id}")
    assert refused.status_code == 422
    assert "Explain to the cooperative what to change." in refused.get_data(as_text=True)
    assert _service(db, territory, service.id).status == Service.IN_REVIEW
    assert not _records(db, territory, entity_id=service.id, action="sent_back")

    response = post(client, url, {"comment": "Indicate gli orari di apertura."},
                    token_from=f"{BASE}/services/{service.id}")
    assert response.status_code == 302
    sent_back = _service(db, territory, service.id)
    assert sent_back.status == Service.DRAFT
    assert sent_back.review_comment == "Indicate gli orari di apertura."
    (record,) = _records(db, territory, entity_id=service.id, action="sent_back")
    assert record.comment == "Indicate gli orari di apertura." and record.user_id == coordinator.id
    assert "Indicate gli orari di apertura." in client.get(f"{BASE}/services/{service.id}").get_data(as_text=True)


def test_unpublish_needs_a_comment_and_a_published_service(client, db, make, cremona):
    territory, coordinator, coop = cremona
    online = make.service(coop, title="Centro diurno", status=Service.PUBLISHED)
    waiting = make.service(coop, title="Trasporto", status=Service.IN_REVIEW)
    login(client, coordinator.email)

    no_comment = post(client, f"{BASE}/services/{online.id}/unpublish", {}, token_from=f"{BASE}/services")
    assert no_comment.status_code == 422
    assert _service(db, territory, online.id).status == Service.PUBLISHED

    # "Unpublish" on a service in review would be a send-back in disguise: refused.
    wrong = post(client, f"{BASE}/services/{waiting.id}/unpublish", {"comment": "No"}, token_from=f"{BASE}/services")
    assert wrong.status_code == 422
    assert "This change of status is not allowed." in wrong.get_data(as_text=True)
    assert _service(db, territory, waiting.id).status == Service.IN_REVIEW

    response = post(client, f"{BASE}/services/{online.id}/unpublish",
                    {"comment": "Il servizio è sospeso per lavori."}, token_from=f"{BASE}/services")
    assert response.status_code == 302
    offline = _service(db, territory, online.id)
    assert offline.status == Service.DRAFT and offline.review_comment == "Il servizio è sospeso per lavori."
    (record,) = _records(db, territory, entity_id=online.id, action="unpublished")
    assert record.user_id == coordinator.id


@pytest.mark.parametrize("status", [Cooperative.PENDING, Cooperative.SUSPENDED])
def test_services_of_a_cooperative_not_accredited_cannot_be_published(client, db, make, cremona, status):
    territory, coordinator, _ = cremona
    coop = make.cooperative(territory, status=status, name="Coop Sospesa")
    service = make.service(coop, status=Service.IN_REVIEW)
    login(client, coordinator.email)
    page = client.get(f"{BASE}/services/{service.id}").get_data(as_text=True)
    assert "its services cannot be published" in page

    response = post(client, f"{BASE}/services/{service.id}/publish", {}, token_from=f"{BASE}/services")
    assert response.status_code == 422
    assert "Only accredited cooperatives can publish services." in response.get_data(as_text=True)
    unchanged = _service(db, territory, service.id)
    assert unchanged.status == Service.IN_REVIEW and unchanged.published_at is None
    assert not _records(db, territory, entity_id=service.id)


def test_review_page_shows_places_prices_and_images(client, db, make, cremona):
    territory, coordinator, coop = cremona
    crema = make.municipality(territory, name="Crema", province="CR")
    service = _submitted(db, make, territory, coop)
    with territory_scope(territory.id):
        from marketplace.models import User

        row = db.session.get(Service, service.id)
        catalogue.update_service(row, {"price_model": "income_based", "delivery_modes": "at_location"},
                                 db.session.get(User, coordinator.id),
                                 locations=[{"name": "Sede", "address": "Via Roma 1", "municipality_id": crema.id}],
                                 bands=[{"label": "Fascia A", "isee_max_cents": 1000000, "price_cents": 10000},
                                        {"label": "Fascia B", "isee_max_cents": None, "price_cents": 30000}])
        db.session.commit()
    image = make.service_image(_service(db, territory, service.id), alt_text="Il giardino del nido")
    login(client, coordinator.email)
    page = client.get(f"{BASE}/services/{service.id}").get_data(as_text=True)
    assert "Via Roma 1" in page and "Crema (CR)" in page
    assert "Fascia A" in page and "Fascia B" in page
    src = f"/t/cremona/services/{service.id}/images/{image.id}"
    assert f'src="{src}"' in page and 'alt="Il giardino del nido"' in page
    assert client.get(src).status_code == 200  # coordinators see images of services in review


def test_queue_tabs_and_unknown_status(client, make, cremona):
    territory, coordinator, coop = cremona
    make.service(coop, title="Bozza uno", status=Service.DRAFT)
    make.service(coop, title="Archiviato due", status=Service.ARCHIVED)
    login(client, coordinator.email)
    assert "Bozza uno" in client.get(f"{BASE}/services?status=draft").get_data(as_text=True)
    assert "Archiviato due" in client.get(f"{BASE}/services?status=archived").get_data(as_text=True)
    fallback = client.get(f"{BASE}/services?status=<script>&page=x")
    assert fallback.status_code == 200 and "<script>" not in fallback.get_data(as_text=True)


def test_staff_and_citizens_cannot_review_or_edit_reference_data(app, db, make, cremona):
    territory, _, coop = cremona
    service = make.service(coop, status=Service.IN_REVIEW)
    category = make.category(territory)
    municipality = make.municipality(territory, name="Cremona")
    staff = make.staff(coop)
    citizen = make.user()
    gets = [f"{BASE}/services", f"{BASE}/services/{service.id}", f"{BASE}/categories",
            f"{BASE}/categories/{category.id}", f"{BASE}/municipalities",
            f"{BASE}/municipalities/{municipality.id}"]
    posts = [f"{BASE}/services/{service.id}/publish", f"{BASE}/services/{service.id}/send-back",
             f"{BASE}/services/{service.id}/unpublish", f"{BASE}/categories",
             f"{BASE}/categories/{category.id}", f"{BASE}/categories/{category.id}/delete",
             f"{BASE}/municipalities", f"{BASE}/municipalities/{municipality.id}"]
    for person in (staff, citizen):
        client = app.test_client()
        login(client, person.email)
        for url in gets:
            assert client.get(url).status_code == 403, url
        for url in posts:
            response = post(client, url, {"comment": "x", "name": "Nuovo", "vertical": "elderly",
                                          "province": "CR"}, token_from="/t/cremona/")
            assert response.status_code == 403, url
    assert _service(db, territory, service.id).status == Service.IN_REVIEW
    assert _count(db, territory, Category) == 1 and _count(db, territory, Municipality) == 1


# ---------------------------------------------------------------------------- sub-categories

def test_coordinator_manages_sub_categories(client, db, make, cremona):
    territory, coordinator, coop = cremona
    login(client, coordinator.email)
    url = f"{BASE}/categories"

    assert post(client, url, {"vertical": "childcare", "name": " Asilo  nido ", "name_en": "Nursery",
                              "position": "1"}, token_from=url).status_code == 302
    with territory_scope(territory.id):
        nido = db.session.execute(select(Category)).scalar_one()
        assert (nido.vertical, nido.name, nido.name_en, nido.position) == ("childcare", "Asilo nido", "Nursery", 1)
    assert _records(db, territory, "category", nido.id, "created")[0].user_id == coordinator.id

    bad_inputs = [
        ({"vertical": "childcare", "name": "asilo NIDO"}, "There is already a sub-category called asilo NIDO"),
        ({"vertical": "", "name": "Ludoteca"}, "Choose an area."),
        ({"vertical": "spaceflight", "name": "Ludoteca"}, "Choose an area."),
        ({"vertical": "childcare", "name": "  "}, "Enter the Italian name."),
        ({"vertical": "childcare", "name": "x" * 101}, "Use at most 100 characters."),
        ({"vertical": "childcare", "name": "Ludoteca", "position": "primo"}, "Enter a whole number"),
        ({"vertical": "childcare", "name": "Ludoteca", "position": "-1"}, "Enter a number between 0 and 9999."),
    ]
    for data, message in bad_inputs:
        response = post(client, url, data, token_from=url)
        assert response.status_code == 422, data
        assert message in response.get_data(as_text=True), data
    assert _count(db, territory, Category) == 1

    # The same name is fine in another area.
    assert post(client, url, {"vertical": "disability", "name": "Asilo nido"}, token_from=url).status_code == 302
    assert _count(db, territory, Category) == 2

    # Rename; a rename onto an existing name is refused.
    edit = f"{BASE}/categories/{nido.id}"
    assert post(client, edit, {"vertical": "childcare", "name": "Nido d'infanzia", "name_en": "Nursery",
                               "position": "2"}, token_from=edit).status_code == 302
    make.category(territory, vertical="childcare", name="Ludoteca")
    clash = post(client, edit, {"vertical": "childcare", "name": "Ludoteca"}, token_from=edit)
    assert clash.status_code == 422
    db.session.expire_all()
    with territory_scope(territory.id):
        assert db.session.get(Category, nido.id).name == "Nido d'infanzia"
    (renamed,) = _records(db, territory, "category", nido.id, "edited")
    assert renamed.changes["name"] == ["Asilo nido", "Nido d'infanzia"]
    assert "Nido d&#39;infanzia" in client.get(url).get_data(as_text=True)


def test_deleting_a_used_sub_category_warns_and_detaches_its_services(client, db, make, cremona):
    territory, coordinator, coop = cremona
    category = make.category(territory, vertical="elderly", name="Centro diurno")
    other = make.category(territory, vertical="elderly", name="Assistenza domiciliare")
    first = make.service(coop, vertical="elderly", category_id=category.id, status=Service.PUBLISHED)
    second = make.service(coop, vertical="elderly", category_id=category.id)
    kept = make.service(coop, vertical="elderly", category_id=other.id)
    login(client, coordinator.email)

    edit = f"{BASE}/categories/{category.id}"
    page = client.get(edit).get_data(as_text=True)
    assert "2 services are filed under this sub-category" in page
    # Moving a used sub-category to another area would leave its services inconsistent.
    moved = post(client, edit, {"vertical": "childcare", "name": "Centro diurno"}, token_from=edit)
    assert moved.status_code == 422

    response = post(client, f"{edit}/delete", {}, token_from=edit)
    assert response.status_code == 302
    assert "2 services now have no sub-category" in client.get(response.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    with territory_scope(territory.id):
        assert db.session.get(Category, category.id) is None
        assert db.session.get(Service, first.id).category_id is None
        assert db.session.get(Service, second.id).category_id is None
        assert db.session.get(Service, kept.id).category_id == other.id
    assert _records(db, territory, "category", category.id, "deleted")[0].changes["services"] == 2


def test_renaming_a_sub_category_updates_the_search(client, db, make, cremona):
    territory, coordinator, coop = cremona
    category = make.category(territory, vertical="childcare", name="Ludoteca")
    service = _submitted(db, make, territory, coop, category_id=category.id)
    login(client, coordinator.email)
    edit = f"{BASE}/categories/{category.id}"
    assert post(client, edit, {"vertical": "childcare", "name": "Spazio gioco"}, token_from=edit).status_code == 302
    text = _service(db, territory, service.id).search_text
    assert "spaz" in text and "ludotec" not in text


# ---------------------------------------------------------------------------- municipalities

def test_coordinator_adds_and_edits_municipalities(client, db, make, cremona):
    territory, coordinator, _ = cremona
    login(client, coordinator.email)
    url = f"{BASE}/municipalities"
    response = post(client, url, {"name": "Crema", "province": "cr", "istat_code": "019035",
                                  "latitude": "45,3621", "longitude": "9.6853", "population": "34.000"},
                    token_from=url)
    assert response.status_code == 302
    with territory_scope(territory.id):
        crema = db.session.execute(select(Municipality)).scalar_one()
        assert (crema.name, crema.province, crema.istat_code, crema.latitude, crema.longitude,
                crema.population) == ("Crema", "CR", "019035", 45.3621, 9.6853, 34000)
    (created,) = _records(db, territory, "municipality", crema.id, "created")
    assert created.user_id == coordinator.id and created.changes["name"] == "Crema"

    edit = f"{BASE}/municipalities/{crema.id}"
    assert client.get(edit).status_code == 200
    assert post(client, edit, {"name": "Crema", "province": "CR", "istat_code": "019035",
                               "population": "34500"}, token_from=edit).status_code == 302
    (edited,) = _records(db, territory, "municipality", crema.id, "edited")
    assert edited.changes["population"] == [34000, 34500]
    assert edited.changes["latitude"] == [45.3621, None]
    assert "Crema" in client.get(url).get_data(as_text=True)


@pytest.mark.parametrize("data,message", [
    ({"name": "", "province": "CR"}, "Enter the municipality's name."),
    ({"name": "Soresina", "province": "C"}, "Enter the province as two letters"),
    ({"name": "Soresina", "province": "CRE"}, "Enter the province as two letters"),
    ({"name": "Soresina", "province": "12"}, "Enter the province as two letters"),
    ({"name": "Soresina", "province": "CR", "istat_code": "19097"}, "The ISTAT code has 6 digits"),
    ({"name": "Soresina", "province": "CR", "istat_code": "01909A"}, "The ISTAT code has 6 digits"),
    ({"name": "Soresina", "province": "CR", "latitude": "91", "longitude": "9"}, "between -90 and 90"),
    ({"name": "Soresina", "province": "CR", "latitude": "45", "longitude": "-181"}, "between -180 and 180"),
    ({"name": "Soresina", "province": "CR", "latitude": "nan", "longitude": "9"}, "between -90 and 90"),
    ({"name": "Soresina", "province": "CR", "latitude": "45"}, "Enter both latitude and longitude"),
    ({"name": "Soresina", "province": "CR", "latitude": "nord", "longitude": "9"}, "Enter a number"),
    ({"name": "Soresina", "province": "CR", "population": "-5"}, "The population cannot be negative."),
    ({"name": "Soresina", "province": "CR", "population": "molti"}, "Enter a whole number"),
    ({"name": "cremona", "province": "CR"}, "There is already a municipality called cremona."),
])
def test_bad_municipality_is_refused_and_nothing_saved(client, db, make, cremona, data, message):
    territory, coordinator, _ = cremona
    existing = make.municipality(territory, name="Cremona", province="CR")
    login(client, coordinator.email)
    url = f"{BASE}/municipalities"
    response = post(client, url, data, token_from=url)
    assert response.status_code == 422
    assert escape(message) in response.get_data(as_text=True)  # the page writes "'" as &#39;
    assert _count(db, territory, Municipality) == 1
    assert not _records(db, territory, "municipality")

    # The same rules apply when editing (except the name clash with itself).
    if data["name"].lower() != "cremona":
        other = make.municipality(territory, name="Soresina", province="CR")
        edit = f"{BASE}/municipalities/{other.id}"
        refused = post(client, edit, dict(data, name=data["name"] or ""), token_from=edit)
        assert refused.status_code == 422
        db.session.expire_all()
        with territory_scope(territory.id):
            assert db.session.get(Municipality, other.id).province == "CR"
            assert db.session.get(Municipality, existing.id).name == "Cremona"


def test_renaming_a_municipality_onto_another_is_refused(client, db, make, cremona):
    territory, coordinator, _ = cremona
    make.municipality(territory, name="Cremona")
    crema = make.municipality(territory, name="Crema")
    login(client, coordinator.email)
    edit = f"{BASE}/municipalities/{crema.id}"
    response = post(client, edit, {"name": "CREMONA", "province": "CR"}, token_from=edit)
    assert response.status_code == 422
    assert "There is already a municipality called CREMONA." in response.get_data(as_text=True)
    db.session.expire_all()
    with territory_scope(territory.id):
        assert db.session.get(Municipality, crema.id).name == "Crema"


def test_pages_have_one_heading_captioned_tables_and_no_inline_script(client, db, make, cremona):
    import re

    territory, coordinator, coop = cremona
    category = make.category(territory, name="Nido")
    municipality = make.municipality(territory, name="Cremona")
    waiting = make.service(coop, status=Service.IN_REVIEW, category_id=category.id)
    online = make.service(coop, status=Service.PUBLISHED)
    login(client, coordinator.email)
    for locale in ("it", "en"):
        post(client, "/account/language", {"lang": locale, "next": "/"})
        for url in (f"{BASE}/", f"{BASE}/services", f"{BASE}/services?status=published",
                    f"{BASE}/services/{waiting.id}", f"{BASE}/services/{online.id}", f"{BASE}/categories",
                    f"{BASE}/categories/{category.id}", f"{BASE}/municipalities",
                    f"{BASE}/municipalities/{municipality.id}"):
            response = client.get(url)
            html = response.get_data(as_text=True)
            assert response.status_code == 200, url
            assert html.count("<h1") == 1, url
            assert not re.search(r"<script(?![^>]*\bsrc=)", html), url
            assert html.count("<table") == html.count("<caption>"), url
            assert 'scope="col"' in html or "<table" not in html, url
            ids = re.findall(r'\bid="([^"]+)"', html)
            assert len(ids) == len(set(ids)), (url, sorted(i for i in ids if ids.count(i) > 1))
    # Every page is linked from the dashboard.
    dashboard = client.get(f"{BASE}/").get_data(as_text=True)
    for path in ("/services", "/categories", "/municipalities"):
        assert f'href="{BASE}{path}"' in dashboard


def test_published_services_of_a_suspended_cooperative_leave_the_catalogue(app, client, db, make, cremona):
    territory, coordinator, coop = cremona
    service = make.service(coop, title="Doposcuola Arcobaleno", status=Service.PUBLISHED)
    with app.test_request_context(), territory_scope(territory.id):
        assert [s.id for s in catalogue.search(catalogue.SearchParams()).items] == [service.id]
    login(client, coordinator.email)
    post(client, f"{BASE}/cooperatives/{coop.id}/status", {"status": "suspended"}, token_from=f"{BASE}/")
    with app.test_request_context(), territory_scope(territory.id):
        assert catalogue.search(catalogue.SearchParams()).items == []
    # Its listing is kept as it was: re-accrediting the cooperative brings it back.
    assert _service(db, territory, service.id).status == Service.PUBLISHED
