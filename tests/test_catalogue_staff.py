"""Cooperative staff create, edit, preview, submit and archive their listings, through HTTP."""
from __future__ import annotations

import dataclasses
import io
import re

import pytest
from sqlalchemy import func, select

from marketplace.models import (
    ChangeRecord, Cooperative, Municipality, Service, ServiceImage, Territory, User,
)
from marketplace.services import catalogue
from tenants.scoping import territory_scope
from tests.conftest import csrf_token, login, post
from tests.factories import png_bytes


@dataclasses.dataclass
class Shop:
    territory: Territory
    coop: Cooperative
    staff: User
    coordinator: User
    cremona: Municipality
    crema: Municipality
    nido_id: int     # a childcare sub-category
    sad_id: int      # an elderly-care sub-category
    base: str        # /t/cremona/cooperative/<id>


@pytest.fixture
def shop(client, make) -> Shop:
    territory = make.territory("cremona")
    coop = make.cooperative(territory, name="Il Girasole")
    staff = make.staff(coop, locale="en")
    shop = Shop(
        territory=territory, coop=coop, staff=staff, coordinator=make.coordinator(territory),
        cremona=make.municipality(territory, "Cremona"), crema=make.municipality(territory, "Crema"),
        nido_id=make.category(territory, "childcare", "Nido").id,
        sad_id=make.category(territory, "elderly", "Assistenza domiciliare").id,
        base=f"/t/cremona/cooperative/{coop.id}",
    )
    login(client, staff.email)
    return shop


def _valid(shop: Shop, **overrides) -> dict:
    data = {
        "title": "Nido d'infanzia Il Girasole",
        "summary": "Asilo nido per bambini da 3 mesi a 3 anni",
        "description": "Un nido **accogliente**.\n\n- giardino\n- mensa interna",
        "vertical": "childcare",
        "category_id": str(shop.nido_id),
        "target_group": "Famiglie con bambini piccoli",
        "age_min": "0",
        "age_max": "3",
        "eligibility": "Residenti in provincia",
        "documents": "Certificato vaccinale",
        "delivery_modes": ["at_location", "at_home"],
        "loc1_name": "Sede centrale",
        "loc1_address": "Via Roma 1",
        "loc1_postal_code": "26100",
        "loc1_municipality": "cremona",          # any case
        "home_municipalities": [str(shop.crema.id)],
        "schedule_text": "Lunedì–venerdì 7:30–16:30",
        "languages": ["it", "en"],
        "accessibility": "Ingresso senza gradini",
        "wheelchair_accessible": "y",
        "price_model": "fixed",
        "price": "12,50",
        "accepts_card": "y",
        "accepts_voucher": "y",
        "contact_email": "nido@girasole.example",
        "contact_phone": "0372 123456",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _services(db, shop) -> list[Service]:
    db.session.expire_all()
    with territory_scope(shop.territory.id):
        return list(db.session.execute(select(Service).order_by(Service.id)).scalars())


def _count(db, shop, model) -> int:
    with territory_scope(shop.territory.id):
        return db.session.execute(select(func.count(model.id))).scalar_one()


def _create(client, shop, **overrides) -> int:
    new = f"{shop.base}/services/new"
    response = post(client, new, _valid(shop, **overrides), token_from=new)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    return int(response.headers["Location"].rstrip("/").split("/")[-1])


def _status(client, shop, service_id, status):
    preview = f"{shop.base}/services/{service_id}"
    return post(client, f"{preview}/status", {"status": status}, token_from=preview)


def _publish_as_coordinator(db, shop, service_id):
    with territory_scope(shop.territory.id):
        service = db.session.get(Service, service_id)
        coordinator = db.session.get(User, shop.coordinator.id)
        catalogue.change_status(service, "published", coordinator, as_coordinator=True)
        db.session.commit()


def test_staff_create_a_draft_with_places_and_a_price(client, db, shop):
    home = client.get(f"{shop.base}/").get_data(as_text=True)
    assert f'href="{shop.base}/services"' in home
    page = client.get(f"{shop.base}/services/new")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Markdown" in body and 'for="loc3_municipality"' in body and "Crema" in body
    checked = re.findall(r'<input checked[^>]*name="(delivery_modes|languages)"[^>]*value="(\w+)"', body)
    assert checked == [("delivery_modes", "at_location"), ("languages", "it")]  # the usual case, preset

    service_id = _create(client, shop)
    [service] = _services(db, shop)
    assert service.id == service_id and service.status == Service.DRAFT
    assert service.price_cents == 1250 and service.price_from_cents == 1250
    assert service.delivery_modes == "at_location,at_home" and service.languages == "it,en"
    assert service.category_id == shop.nido_id and (service.age_min, service.age_max) == (0, 3)
    assert service.wheelchair_accessible and service.accepts_voucher and not service.accepts_welfare_credit
    with territory_scope(shop.territory.id):
        service = db.session.get(Service, service_id)
        [place] = service.locations
        assert (place.name, place.address, place.postal_code, place.municipality.name) == (
            "Sede centrale", "Via Roma 1", "26100", "Cremona")
        assert [m.name for m in service.municipalities] == ["Crema"]

    preview = client.get(f"{shop.base}/services/{service_id}").get_data(as_text=True)
    assert "<strong>accogliente</strong>" in preview and "€12.50" in preview  # money, English locale
    assert "Send for review" in preview and "Publish" not in preview
    listing = client.get(f"{shop.base}/services").get_data(as_text=True)
    assert "Nido d&#39;infanzia Il Girasole" in listing and "status-draft" in listing
    history = client.get(f"{shop.base}/services/{service_id}/history").get_data(as_text=True)
    assert "Created" in history and shop.staff.display_name in history


def test_income_based_price_with_bands(client, db, shop):
    service_id = _create(client, shop, price_model="income_based", price="",
                         band1_label="Fascia A", band1_isee_max="10.000,00", band1_price="150",
                         band2_label="Oltre", band2_price="450.5")
    with territory_scope(shop.territory.id):
        service = db.session.get(Service, service_id)
        assert service.price_cents is None and service.price_from_cents == 15000
        assert [(b.label, b.isee_max_cents, b.price_cents) for b in service.price_bands] == [
            ("Fascia A", 1_000_000, 15000), ("Oltre", None, 45050)]
    preview = client.get(f"{shop.base}/services/{service_id}").get_data(as_text=True)
    assert "€150.00" in preview and "€450.50" in preview and "no limit" in preview


BAD_INPUTS = [
    ({"title": ""}, "title", "Enter a title."),
    ({"price": "-5"}, "price", "A price cannot be negative."),
    ({"price": "12,345"}, "price", "Enter an amount in euros, like 12,50."),
    ({"price": ""}, "price", "Enter the price."),
    ({"age_min": "10", "age_max": "3"}, "age_max", "The highest age cannot be lower than the lowest age."),
    ({"age_max": "200"}, "age_max", "Enter an age between 0 and 120."),
    ({"loc1_municipality": "Atlantide"}, "loc1_municipality",
     "Atlantide is not a municipality of this territory."),
    ({"loc1_municipality": ""}, "loc1_municipality", "Enter the municipality of this place."),
    ({"loc1_name": "", "loc1_address": "", "loc1_postal_code": "", "loc1_municipality": ""},
     "loc1_address", "Add the address where the service is given."),
    ({"home_municipalities": None}, "home_municipalities",
     "List the municipalities where home visits are made."),
    ({"delivery_modes": None}, "delivery_modes", "Choose where the service is given."),
    ({"category_id": "sad"}, "category_id", "Choose a sub-category of the chosen area."),
    ({"price_model": "income_based", "band1_label": "A"}, "band1_price", "Enter the price of this band."),
    ({"price_model": "income_based"}, "band1_price", "Add at least one income band."),
    ({"contact_email": "not-an-address"}, "contact_email", "Enter a valid e-mail address"),
]


@pytest.mark.parametrize("overrides,field,message", BAD_INPUTS,
                         ids=[f"{f}:{m[:30]}" for _, f, m in BAD_INPUTS])
def test_bad_input_is_refused_on_its_field_and_nothing_is_saved(client, db, shop, overrides, field, message):
    if overrides.get("category_id") == "sad":
        overrides = dict(overrides, category_id=str(shop.sad_id))  # elderly care, not childcare
    new = f"{shop.base}/services/new"
    response = post(client, new, _valid(shop, **overrides), token_from=new)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert 'id="error-summary"' in body and f'href="#{field}"' in body
    error = body.split(f'id="{field}-error"', 1)[1].split("</p>", 1)[0]
    assert message in error.replace("&#39;", "'")
    assert _count(db, shop, Service) == 0
    assert _count(db, shop, ChangeRecord) == 0


def test_a_municipality_of_another_territory_is_unknown_here(client, db, make, shop):
    milano = make.territory("milano")
    make.municipality(milano, "Milano")
    new = f"{shop.base}/services/new"
    response = post(client, new, _valid(shop, loc1_municipality="Milano"), token_from=new)
    assert response.status_code == 422
    assert "Milano is not a municipality of this territory." in response.get_data(as_text=True)
    assert _count(db, shop, Service) == 0


def test_every_error_is_reported_at_once(client, db, shop):
    new = f"{shop.base}/services/new"
    response = post(client, new, _valid(shop, title="", price="-1", loc2_address="Via Po 2",
                                        loc2_municipality="Atlantide"), token_from=new)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    for field in ("title", "price", "loc2_municipality"):
        assert f'href="#{field}"' in body and f'id="{field}-error"' in body
    assert 'list="municipality-names"' in body and '<option value="Crema">' in body
    assert _count(db, shop, Service) == 0


def test_bad_edit_leaves_the_listing_as_it_was(client, db, shop):
    service_id = _create(client, shop)
    edit = f"{shop.base}/services/{service_id}/edit"
    response = post(client, edit, _valid(shop, title="Cambiato", age_min="9", age_max="2",
                                         loc1_municipality="Cremona"), token_from=edit)
    assert response.status_code == 422
    [service] = _services(db, shop)
    assert service.title == "Nido d'infanzia Il Girasole" and service.age_max == 3
    with territory_scope(shop.territory.id):
        assert [r.action for r in catalogue.history(db.session.get(Service, service_id))] == ["created"]


def test_edit_shows_what_is_stored_and_records_history(client, db, shop):
    service_id = _create(client, shop, price_model="per_hour", price="21")
    edit = f"{shop.base}/services/{service_id}/edit"
    form = client.get(edit).get_data(as_text=True)
    assert 'value="21,00"' in form and 'value="Via Roma 1"' in form and 'value="Cremona"' in form
    [crema] = re.findall(r'<input[^>]*name="home_municipalities"[^>]*value="%d"[^>]*>' % shop.crema.id, form)
    assert " checked " in crema

    response = post(client, edit, _valid(shop, title="Nido Il Girasole", price_model="per_hour",
                                         price="22.50", loc1_postal_code="26010"), token_from=edit)
    assert response.status_code == 302
    [service] = _services(db, shop)
    assert service.title == "Nido Il Girasole" and service.price_cents == 2250
    with territory_scope(shop.territory.id):
        service = db.session.get(Service, service_id)
        assert service.locations[0].postal_code == "26010"  # a changed CAP alone is a change
        edited = catalogue.history(service)[0]
        assert edited.action == "edited" and edited.user_id == shop.staff.id
        assert {"title", "price_cents", "locations"} <= set(edited.changes)
    history = client.get(f"{shop.base}/services/{service_id}/history").get_data(as_text=True)
    assert "Edited" in history and "Title" in history and "Price in euros" in history and "Places" in history


def test_submit_for_review_archive_and_restore(client, db, shop):
    service_id = _create(client, shop)
    assert _status(client, shop, service_id, "in_review").status_code == 302
    assert _services(db, shop)[0].status == Service.IN_REVIEW

    # Staff never publish: there is no button, and asking anyway is refused.
    preview = client.get(f"{shop.base}/services/{service_id}").get_data(as_text=True)
    assert 'value="published"' not in preview and "Send for review" not in preview
    refused = _status(client, shop, service_id, "published")
    assert refused.status_code == 422
    assert "This change of status is not allowed." in refused.get_data(as_text=True)
    assert _services(db, shop)[0].status == Service.IN_REVIEW

    assert _status(client, shop, service_id, "archived").status_code == 302
    assert _services(db, shop)[0].status == Service.ARCHIVED
    assert _status(client, shop, service_id, "in_review").status_code == 422
    assert "Restore as a draft" in client.get(f"{shop.base}/services/{service_id}").get_data(as_text=True)
    assert _status(client, shop, service_id, "draft").status_code == 302
    assert _services(db, shop)[0].status == Service.DRAFT
    with territory_scope(shop.territory.id):
        actions = [r.action for r in catalogue.history(db.session.get(Service, service_id))]
    assert actions == ["restored", "archived", "submitted", "created"]


def test_refusal_is_in_italian_for_italian_staff(client, make, db, shop):
    italian = make.staff(shop.coop, locale="it")
    service_id = _create(client, shop)
    client.get("/account/login")
    login(client, italian.email)
    refused = _status(client, shop, service_id, "published")
    assert refused.status_code == 422
    assert "Questo cambio di stato non è consentito." in refused.get_data(as_text=True)


def test_staff_read_the_comment_of_a_service_sent_back(client, db, shop):
    service_id = _create(client, shop)
    _status(client, shop, service_id, "in_review")
    with territory_scope(shop.territory.id):
        service = db.session.get(Service, service_id)
        coordinator = db.session.get(User, shop.coordinator.id)
        catalogue.change_status(service, "draft", coordinator, as_coordinator=True,
                                comment="Indicate the opening hours in August.")
        db.session.commit()
    for url in (f"{shop.base}/services/{service_id}", f"{shop.base}/services/{service_id}/edit"):
        assert "Indicate the opening hours in August." in client.get(url).get_data(as_text=True)
    assert "The consortium asked for changes." in client.get(f"{shop.base}/services").get_data(as_text=True)
    history = client.get(f"{shop.base}/services/{service_id}/history").get_data(as_text=True)
    assert "Sent back for changes" in history and "Indicate the opening hours in August." in history


def test_editing_a_published_service_keeps_it_published(client, db, shop):
    service_id = _create(client, shop)
    _status(client, shop, service_id, "in_review")
    _publish_as_coordinator(db, shop, service_id)
    edit = f"{shop.base}/services/{service_id}/edit"
    assert "your changes go online" in client.get(edit).get_data(as_text=True)
    response = post(client, edit, _valid(shop, title="Nido Il Girasole, nuova sede"), token_from=edit)
    assert response.status_code == 302
    [service] = _services(db, shop)
    assert service.status == Service.PUBLISHED and service.title == "Nido Il Girasole, nuova sede"
    public = client.get(f"/t/cremona/services/{service_id}").get_data(as_text=True)
    assert "Nido Il Girasole, nuova sede" in public


def _upload(client, shop, service_id, data: bytes, filename="foto.png", alt="Bambini in giardino"):
    url = f"{shop.base}/services/{service_id}/images"
    return client.post(url, data={"csrf_token": csrf_token(client, url), "alt_text": alt,
                                  "image": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def test_image_upload_checks_the_file_and_serves_it(app, client, db, shop):
    service_id = _create(client, shop)
    response = _upload(client, shop, service_id, png_bytes(40, 30))
    assert response.status_code == 302
    with territory_scope(shop.territory.id):
        image = db.session.execute(select(ServiceImage)).scalar_one()
        assert (image.content_type, image.width, image.height, image.alt_text) == (
            "image/png", 40, 30, "Bambini in giardino")
    page = client.get(f"{shop.base}/services/{service_id}/images").get_data(as_text=True)
    src = f"/t/cremona/services/{service_id}/images/{image.id}"
    assert f'src="{src}"' in page and 'alt="Bambini in giardino"' in page

    # Staff see the draft's image; nobody else does until it is published.
    served = client.get(src)
    assert served.status_code == 200 and served.data == png_bytes(40, 30)
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["Cache-Control"] == "private, no-store"
    anonymous = app.test_client()
    assert anonymous.get(src).status_code == 404
    _status(client, shop, service_id, "in_review")
    _publish_as_coordinator(db, shop, service_id)
    public = anonymous.get(src)
    assert public.status_code == 200 and public.headers["Cache-Control"] == "public, max-age=3600"
    assert anonymous.get(src, headers={"If-None-Match": public.headers["ETag"]}).status_code == 304

    # A text file named .png, no description, more than 2 MB: refused, nothing stored.
    for data, alt, message in [
        (b"this is not an image, just text", "Testo", "This file is not an image (use JPEG, PNG or WebP)."),
        (png_bytes(), "", "Describe the image for people who cannot see it."),
        (png_bytes() + b"\0" * (2 * 1024 * 1024), "Grande", "The image is larger than 2 MB."),
    ]:
        refused = _upload(client, shop, service_id, data, alt=alt)
        assert refused.status_code == 422 and message in refused.get_data(as_text=True)
    # Beyond the request limit (3 MB) the server refuses the upload before reading it.
    assert _upload(client, shop, service_id, b"\0" * (3 * 1024 * 1024 + 1)).status_code == 413
    assert _count(db, shop, ServiceImage) == 1

    images = f"{shop.base}/services/{service_id}/images"
    removed = post(client, f"{images}/{image.id}/remove", {}, token_from=images)
    assert removed.status_code == 302
    assert _count(db, shop, ServiceImage) == 0
    assert client.get(src).status_code == 404
    with territory_scope(shop.territory.id):
        actions = [r.action for r in catalogue.history(db.session.get(Service, service_id))]
    assert actions[:2] == ["image_removed", "published"] and "image_added" in actions


def test_an_image_is_reached_only_through_its_own_service(client, db, make, shop):
    first, second = _create(client, shop), _create(client, shop, title="Altro servizio")
    with territory_scope(shop.territory.id):
        service = db.session.get(Service, second)
    image = make.service_image(service)
    assert client.get(f"/t/cremona/services/{second}/images/{image.id}").status_code == 200
    assert client.get(f"/t/cremona/services/{first}/images/{image.id}").status_code == 404
    images = f"{shop.base}/services/{first}/images"
    assert post(client, f"{images}/{image.id}/remove", {}, token_from=images).status_code == 404
    assert _count(db, shop, ServiceImage) == 1


def test_staff_of_another_cooperative_cannot_touch_the_listings(app, db, make, shop, client):
    service_id = _create(client, shop)
    with territory_scope(shop.territory.id):
        image = make.service_image(db.session.get(Service, service_id))
    other_coop = make.cooperative(shop.territory, name="Igea")
    intruder = app.test_client()
    login(intruder, make.staff(other_coop).email)
    own = f"/t/cremona/cooperative/{other_coop.id}"
    token = csrf_token(intruder, f"{own}/")
    suffixes = ["", "/edit", "/status", "/images", "/history", f"/images/{image.id}/remove"]
    data = dict(_valid(shop, title="Preso!"), status="archived", csrf_token=token)
    # Through the owner's cooperative: not theirs (403).
    for suffix in ["", "/new"]:
        assert intruder.get(f"{shop.base}/services{suffix}").status_code == 403
    assert intruder.post(f"{shop.base}/services/new", data=data).status_code == 403
    for suffix in suffixes:
        url = f"{shop.base}/services/{service_id}{suffix}"
        assert intruder.get(url).status_code in (403, 405)
        assert intruder.post(url, data=data).status_code in (403, 405)
    # Through their own cooperative: the listing is not there (404).
    for suffix in suffixes:
        url = f"{own}/services/{service_id}{suffix}"
        assert intruder.get(url).status_code in (404, 405)
        assert intruder.post(url, data=data).status_code in (404, 405)
    # Their own (empty) list does not show it, and the draft's image is not theirs to see.
    assert "Nido d&#39;infanzia" not in intruder.get(f"{own}/services").get_data(as_text=True)
    assert intruder.get(f"/t/cremona/services/{service_id}/images/{image.id}").status_code == 404
    [service] = _services(db, shop)
    assert service.title == "Nido d'infanzia Il Girasole" and service.status == Service.DRAFT
    assert _count(db, shop, ServiceImage) == 1
