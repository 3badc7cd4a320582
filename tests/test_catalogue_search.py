"""Citizens find services by text and filters — the same answers on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from marketplace.models import Municipality, Service, User
from marketplace.services import catalogue
from marketplace.services.catalogue import SearchParams
from tenants.scoping import territory_scope


def _municipality(db, territory, name, lat, lon):
    with territory_scope(territory.id):
        m = Municipality(name=name, province="CR", latitude=lat, longitude=lon, territory_id=territory.id)
        db.session.add(m)
        db.session.commit()
        return m.id


def _publish(db, coop, coordinator, status="published", locations=(), home=(), bands=None, **data):
    base = {"title": "Servizio", "vertical": "other", "price_model": "free",
            "delivery_modes": "at_location" if locations else ("at_home" if home else "online"),
            "languages": "it"}
    base.update(data)
    with territory_scope(coop.territory_id):
        service = catalogue.create_service(
            coop, base, None,
            locations=[{"address": "Via Roma 1", "municipality_id": m} for m in locations],
            home_municipalities=list(home), bands=bands)
        if status in ("in_review", "published"):
            catalogue.change_status(service, "in_review", None, as_coordinator=False)
        if status == "published":
            user = db.session.get(User, coordinator.id)
            catalogue.change_status(service, "published", user, as_coordinator=True)
        db.session.commit()
        return service.id


@pytest.fixture
def catalogue_world(db, make):
    t = make.territory("cremona")
    other = make.territory("milano")
    coop = make.cooperative(t, name="Il Girasole")
    coop2 = make.cooperative(t, name="Igea")
    coop_other = make.cooperative(other)
    boss = make.coordinator(t)
    cremona = _municipality(db, t, "Cremona", 45.1333, 10.0227)
    crema = _municipality(db, t, "Crema", 45.3640, 9.6830)
    casal = _municipality(db, t, "Casalmaggiore", 44.9894, 10.4178)
    ids = {
        "nido": _publish(db, coop, boss, title="Nido d'infanzia Il Girasole", vertical="childcare",
                         summary="Asilo nido per bambini da 3 mesi a 3 anni", age_min=0, age_max=3,
                         price_model="income_based", locations=[cremona], accepts_voucher=True,
                         accepts_welfare_credit=True,
                         bands=[{"label": "A", "isee_max_cents": 1_000_000, "price_cents": 15000},
                                {"label": "B", "isee_max_cents": None, "price_cents": 45000}]),
        "estivo": _publish(db, coop2, boss, title="Centro estivo al parco", vertical="childcare",
                           summary="Giochi e laboratori per l'estate dei bambini", age_min=6, age_max=11,
                           price_model="per_session", price_cents=2500, locations=[crema],
                           languages="it,en", accepts_welfare_credit=True),
        "sad": _publish(db, coop, boss, title="Assistenza domiciliare anziani", vertical="elderly",
                        summary="Aiuto a casa per persone anziane", age_min=65,
                        price_model="per_hour", price_cents=2100, home=[cremona, casal],
                        accepts_voucher=True),
        "trasporto": _publish(db, coop2, boss, title="Trasporto disabili", vertical="disability",
                              summary="Accompagnamento con mezzi attrezzati", wheelchair_accessible=True,
                              price_model="fixed", price_cents=800, locations=[casal]),
        "sportello": _publish(db, coop2, boss, title="Sportello online per le famiglie", vertical="other",
                              summary="Consulenza a distanza", languages="it,ar"),
        "bozza": _publish(db, coop, boss, status="draft", title="Nido in bozza", vertical="childcare"),
        "revisione": _publish(db, coop, boss, status="in_review", title="Nido in revisione", vertical="childcare"),
    }
    _publish(db, coop_other, make.coordinator(other), title="Nido di Milano", vertical="childcare")
    return t, ids, {"cremona": cremona, "crema": crema, "casal": casal}


def _search(db, territory, **kw):
    with territory_scope(territory.id):
        result = catalogue.search(SearchParams(**kw))
        return [s.title for s in result.items], result


def test_text_search_stems_italian_words(db, catalogue_world):
    t, ids, _ = catalogue_world
    titles, _ = _search(db, t, q="nidi")
    assert titles == ["Nido d'infanzia Il Girasole"]  # drafts, reviews, other territories: never
    titles, _ = _search(db, t, q="bambino")
    assert set(titles) == {"Nido d'infanzia Il Girasole", "Centro estivo al parco"}
    titles, _ = _search(db, t, q="anziane assistenza")
    assert titles == ["Assistenza domiciliare anziani"]
    assert _search(db, t, q="piscina")[0] == []


def test_filters_combine(db, catalogue_world):
    t, ids, m = catalogue_world
    assert set(_search(db, t, vertical="childcare")[0]) == {"Nido d'infanzia Il Girasole", "Centro estivo al parco"}
    # Municipality: a location there, home visits there, or online.
    assert set(_search(db, t, municipality_id=m["casal"])[0]) == {
        "Assistenza domiciliare anziani", "Trasporto disabili", "Sportello online per le famiglie"}
    assert set(_search(db, t, age=2)[0]) == {"Nido d'infanzia Il Girasole", "Trasporto disabili",
                                             "Sportello online per le famiglie"}
    assert set(_search(db, t, free=True)[0]) == {"Sportello online per le famiglie"}
    assert set(_search(db, t, voucher=True)[0]) == {"Nido d'infanzia Il Girasole", "Assistenza domiciliare anziani"}
    assert set(_search(db, t, welfare=True, vertical="childcare", age=8)[0]) == {"Centro estivo al parco"}
    assert _search(db, t, accessible=True)[0] == ["Trasporto disabili"]
    assert _search(db, t, language="ar")[0] == ["Sportello online per le famiglie"]


def test_facet_counts_say_what_each_filter_would_give(db, catalogue_world):
    t, ids, m = catalogue_world
    _, result = _search(db, t, vertical="childcare")
    facets = result.facets
    # Other areas still show how many they would give.
    assert facets["vertical"] == {"childcare": 2, "elderly": 1, "disability": 1, "other": 1}
    assert facets["voucher"] == 1 and facets["welfare"] == 2
    assert facets["municipality"] == {m["cremona"]: 1, m["crema"]: 1}
    assert facets["language"] == {"it": 2, "en": 1}


def test_sorting_and_paging(db, catalogue_world):
    t, ids, m = catalogue_world
    by_price, _ = _search(db, t, sort="price")
    assert by_price[:3] == ["Sportello online per le famiglie", "Trasporto disabili", "Assistenza domiciliare anziani"]
    by_name, _ = _search(db, t, sort="name")
    assert by_name == sorted(by_name)
    nearest, _ = _search(db, t, sort="nearest", near_id=m["crema"], vertical="childcare")
    assert nearest == ["Centro estivo al parco", "Nido d'infanzia Il Girasole"]
    nearest, _ = _search(db, t, sort="nearest", near_id=m["casal"], vertical="childcare")
    assert nearest == ["Nido d'infanzia Il Girasole", "Centro estivo al parco"]
    page1, result = _search(db, t, sort="name", per_page=2, page=1)
    page3, _ = _search(db, t, sort="name", per_page=2, page=3)
    assert result.total == 5 and result.pages == 3 and len(page1) == 2 and len(page3) == 1


def test_catalogue_page_keeps_filters_in_the_address(client, catalogue_world):
    t, ids, m = catalogue_world
    page = client.get(f"/t/cremona/services?q=nido&vertical=childcare&municipality={m['cremona']}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Nido d&#39;infanzia Il Girasole" in body and "Centro estivo" not in body
    assert "1 servizio trovato" in body
    assert 'value="nido"' in body
    empty = client.get("/t/cremona/services?q=piscina&voucher=1").get_data(as_text=True)
    assert "Nessun servizio corrisponde" in empty and "Rimuovi i filtri" in empty


def test_bad_filters_get_a_message_and_a_400(client, catalogue_world):
    response = client.get("/t/cremona/services?age=abc&vertical=spaceships&page=-3")
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "Area sconosciuta" in body or "sconosciut" in body


def test_service_page_tells_a_family_what_it_needs(client, catalogue_world):
    t, ids, m = catalogue_world
    body = client.get(f"/t/cremona/services/{ids['nido']}").get_data(as_text=True)
    assert "Nido d&#39;infanzia Il Girasole" in body and "Il Girasole" in body
    assert "150,00" in body and "450,00" in body  # income bands, in euros
    ld = json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>', body, re.S).group(1))
    assert ld["@type"] == "Service" and ld["provider"]["name"] == "Il Girasole"
    assert ld["offers"]["price"] == "150.00" and ld["offers"]["priceCurrency"] == "EUR"
    for hidden in ("bozza", "revisione"):
        assert client.get(f"/t/cremona/services/{ids[hidden]}").status_code == 404
    assert client.get(f"/t/milano/services/{ids['nido']}").status_code == 404


def test_cooperative_page_lists_its_published_services(client, db, catalogue_world):
    t, ids, m = catalogue_world
    with territory_scope(t.id):
        coop_id = db.session.get(Service, ids["nido"]).cooperative_id
    body = client.get(f"/t/cremona/cooperatives/{coop_id}").get_data(as_text=True)
    assert "Nido d&#39;infanzia Il Girasole" in body and "Assistenza domiciliare anziani" in body
    assert "Nido in bozza" not in body and "Centro estivo" not in body


def test_description_markdown_is_sanitised(client, db, make):
    t = make.territory("cremona")
    coop = make.cooperative(t)
    boss = make.coordinator(t)
    sid = _publish(db, coop, boss, title="Laboratorio",
                   description="**Importante** <script>alert(1)</script> [x](javascript:alert(1))")
    body = client.get(f"/t/cremona/services/{sid}").get_data(as_text=True)
    assert "<strong>Importante</strong>" in body
    assert "<script>alert" not in body and "javascript:" not in body


def test_results_follow_edits_at_once(db, catalogue_world):
    """Search answers may be cached (with Redis); an edit must show up in the next search."""
    t, ids, m = catalogue_world
    assert _search(db, t, q="piscina")[0] == []
    with territory_scope(t.id):
        service = db.session.get(Service, ids["trasporto"])
        catalogue.update_service(service, {"summary": "Trasporto anche in piscina"}, None)
        db.session.commit()
    assert _search(db, t, q="piscina")[0] == ["Trasporto disabili"]
    with territory_scope(t.id):
        service = db.session.get(Service, ids["trasporto"])
        catalogue.change_status(service, "archived", None, as_coordinator=False)
        db.session.commit()
    assert _search(db, t, q="piscina")[0] == []


def test_services_of_a_suspended_cooperative_leave_the_catalogue(client, db, catalogue_world):
    t, ids, m = catalogue_world
    from marketplace.models import Cooperative

    with territory_scope(t.id):
        service = db.session.get(Service, ids["nido"])
        coop = db.session.get(Cooperative, service.cooperative_id)
        from marketplace.services import cooperatives

        cooperatives.change_status(coop, Cooperative.SUSPENDED)
        db.session.commit()
    assert "Nido d'infanzia Il Girasole" not in _search(db, t, q="nido")[0]
    assert client.get(f"/t/cremona/services/{ids['nido']}").status_code == 404
