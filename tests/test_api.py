"""The public JSON API (/api/v1): the catalogue's answers, only published services, one
territory at a time, clear 404/422 errors, and a usable OpenAPI document."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from marketplace.services import catalogue
from marketplace.services.catalogue import SearchParams
from tenants.scoping import territory_scope
from tests import catalogue_world
from tests.catalogue_world import PUBLISHED, REVIEW_NOTE, STAFF_EMAIL, STAFF_NAME

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def world(db, make):
    return catalogue_world.build(make)


def _ids(body: dict) -> list[int]:
    return [item["id"] for item in body["items"]]


def _expected(world, **params) -> catalogue.SearchResult:
    with territory_scope(world.territory.id):
        return catalogue.search(SearchParams(**params))


def test_territories_lists_the_active_ones_with_links(client, world):
    response = client.get("/api/v1/territories")
    assert response.status_code == 200 and response.is_json
    items = response.get_json()["items"]
    assert [t["slug"] for t in items] == ["cremona", "milano"]  # not the suspended sondrio
    cremona = items[0]
    assert set(cremona) == {"slug", "name", "default_language", "links"}
    assert cremona["default_language"] == "it"
    assert cremona["links"]["services"].endswith("/api/v1/territories/cremona/services")
    assert cremona["links"]["hsds"].endswith("/t/cremona/hsds/")
    assert cremona["links"]["html"].endswith("/t/cremona/")
    assert client.get(cremona["links"]["self"]).get_json()["slug"] == "cremona"


@pytest.mark.parametrize("query, params", [
    ("", {}),
    ("q=nido", {"q": "nido"}),
    ("q=bambini&sort=name", {"q": "bambini", "sort": "name"}),
    ("vertical=childcare", {"vertical": "childcare"}),
    ("age=5", {"age": 5}),
    ("age=70&voucher=1", {"age": 70, "voucher": True}),
    ("free=true", {"free": True}),
    ("free=false&sort=price", {"free": False, "sort": "price"}),
    ("welfare=true&accessible=true", {"welfare": True, "accessible": True}),
    ("language=en", {"language": "en"}),
    ("per_page=2&page=2", {"per_page": 2, "page": 2}),
])
def test_search_gives_what_the_catalogue_gives(client, world, query, params):
    body = client.get(f"/api/v1/territories/cremona/services?{query}").get_json()
    expected = _expected(world, **params)
    assert _ids(body) == [s.id for s in expected.items]
    assert (body["total"], body["page"], body["pages"], body["per_page"]) == \
        (expected.total, expected.page, expected.pages, expected.per_page)
    facets = expected.facets
    assert body["facets"]["vertical"] == facets["vertical"]
    assert body["facets"]["category"] == {str(k): v for k, v in facets["category"].items()}
    assert body["facets"]["municipality"] == {str(k): v for k, v in facets["municipality"].items()}
    assert body["facets"]["free"] == {"true": facets["free"][True], "false": facets["free"][False]}
    assert body["facets"]["language"] == facets["language"]
    for flag in ("voucher", "welfare", "accessible"):
        assert body["facets"][flag] == facets[flag]


def test_filters_by_id_and_nearest_sort(client, world):
    m, s = world.municipalities, world.services
    body = client.get(f"/api/v1/territories/cremona/services?municipality={m['casal']}").get_json()
    assert set(_ids(body)) == {s["sad"], s["trasporto"], s["sportello"]}  # at home, there, online
    body = client.get(f"/api/v1/territories/cremona/services?category={world.category_id}").get_json()
    assert _ids(body) == [s["nido"]]
    body = client.get(f"/api/v1/territories/cremona/services?cooperative={world.coop.id}").get_json()
    assert set(_ids(body)) == {s["nido"], s["sad"]}
    # sort=nearest without near sorts from the chosen municipality, as the catalogue page does.
    body = client.get(f"/api/v1/territories/cremona/services?sort=nearest&municipality={m['crema']}"
                      ).get_json()
    expected = _expected(world, sort="nearest", municipality_id=m["crema"], near_id=m["crema"])
    assert _ids(body) == [x.id for x in expected.items]
    body = client.get(f"/api/v1/territories/cremona/services?sort=nearest&near={m['casal']}").get_json()
    assert set(_ids(body)[:2]) == {s["trasporto"], s["sad"]}  # given there / home visits there


def test_pagination_walks_every_published_service_once(client, world):
    seen, page = [], 1
    while True:
        body = client.get(f"/api/v1/territories/cremona/services?per_page=2&page={page}&sort=name"
                          ).get_json()
        assert body["pages"] == 3 and body["total"] == len(PUBLISHED)
        seen += _ids(body)
        if page == body["pages"]:
            break
        page += 1
    assert sorted(seen) == sorted(world.services[k] for k in PUBLISHED)
    beyond = client.get("/api/v1/territories/cremona/services?per_page=2&page=4").get_json()
    assert beyond["items"] == [] and beyond["total"] == len(PUBLISHED)


def test_only_published_services_of_this_territory_are_visible(client, world):
    s = world.services
    listed = _ids(client.get("/api/v1/territories/cremona/services?per_page=100").get_json())
    assert sorted(listed) == sorted(s[k] for k in PUBLISHED)
    for hidden in ("bozza", "revisione"):
        response = client.get(f"/api/v1/territories/cremona/services/{s[hidden]}")
        assert response.status_code == 404 and response.is_json
        assert response.get_json()["status"] == 404
    # Another territory's service, through this territory's URL (and the other way round).
    assert client.get(f"/api/v1/territories/cremona/services/{s['milano']}").status_code == 404
    assert client.get(f"/api/v1/territories/milano/services/{s['nido']}").status_code == 404
    assert client.get(f"/api/v1/territories/milano/services/{s['milano']}").status_code == 200
    assert _ids(client.get("/api/v1/territories/milano/services").get_json()) == [s["milano"]]


@pytest.mark.parametrize("path", [
    "/api/v1/territories/nowhere", "/api/v1/territories/nowhere/services",
    "/api/v1/territories/sondrio/services", "/api/v1/territories/sondrio/organizations",
    "/api/v1/territories/Cremona/services", "/api/v1/territories/cremona/services/0",
    "/api/v1/territories/cremona/services/99999999999999999999", "/api/v1/nothing-here",
])
def test_unknown_or_suspended_territories_and_ids_are_json_404s(client, world, path):
    if path.endswith("sondrio/services"):
        sid = world.services["sondrio"]
        assert client.get(f"/api/v1/territories/sondrio/services/{sid}").status_code == 404
    response = client.get(path)
    assert response.status_code == 404 and response.is_json
    assert response.get_json()["status"] == 404 and response.get_json()["error"]


def test_a_service_in_full_with_prices_in_cents_and_words(client, world):
    body = client.get(f"/api/v1/territories/cremona/services/{world.services['nido']}").get_json()
    assert body["title"] == "Nido d'infanzia Il Girasole" and body["vertical"] == "childcare"
    assert body["category"] == {"id": world.category_id, "vertical": "childcare", "name": "Nido",
                                "name_en": "Nursery"}
    assert body["cooperative"] == {"id": world.coop.id, "name": "Il Girasole"}
    assert body["languages"] == ["it", "en", "lis"] and body["delivery_modes"] == ["at_location"]
    price = body["price"]
    assert price["model"] == "income_based" and price["from_cents"] == 15000
    assert price["from_formatted"].replace("\xa0", " ") == "150,00 €"
    assert [(b["isee_max_cents"], b["price_cents"]) for b in price["bands"]] == \
        [(1_000_000, 15000), (None, 45050)]
    assert price["bands"][1]["price_formatted"].replace("\xa0", " ") == "450,50 €"
    assert price["bands"][1]["isee_max_formatted"] is None
    assert price["accepts_voucher"] and price["accepts_welfare_credit"]
    location = body["locations"][0]
    assert location["municipality"]["name"] == "Cremona" and location["address"] == "Via Roma 1"
    assert body["documents"].startswith("- ISEE") and body["schedule_text"].startswith("Dal lunedì")
    assert body["links"]["self"].endswith(f"/api/v1/territories/cremona/services/{body['id']}")

    sad = client.get(f"/api/v1/territories/cremona/services/{world.services['sad']}").get_json()
    assert sad["price"]["price_cents"] == 2100
    assert sad["price"]["price_formatted"].replace("\xa0", " ") == "21,00 €"
    assert [m["name"] for m in sad["home_municipalities"]] == ["Casalmaggiore", "Cremona"]
    free = client.get(f"/api/v1/territories/cremona/services/{world.services['sportello']}").get_json()
    assert free["price"]["price_cents"] is None and free["price"]["from_cents"] == 0


def test_public_answers_carry_no_personal_or_internal_data(client, world):
    pages = ["/api/v1/territories", "/api/v1/territories/cremona/services?per_page=100",
             "/api/v1/territories/cremona/organizations"]
    pages += [f"/api/v1/territories/cremona/services/{world.services[k]}" for k in PUBLISHED]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        text = response.get_data(as_text=True)
        for secret in (STAFF_EMAIL, STAFF_NAME, REVIEW_NOTE, "review_comment", "fiscal_code",
                       "memberships", "search_text", "in_review", "draft"):
            assert secret not in text, (url, secret)


def test_organizations_are_the_accredited_cooperatives(client, world):
    body = client.get("/api/v1/territories/cremona/organizations").get_json()
    assert [o["name"] for o in body["items"]] == ["Igea", "Il Girasole"]  # not the pending one
    assert body["total"] == 2 and body["pages"] == 1
    girasole = body["items"][1]
    assert girasole["vat_number"] == "01234567890" and girasole["phone"] == "0372 123456"
    services = client.get(girasole["links"]["services"]).get_json()
    assert set(_ids(services)) == {world.services["nido"], world.services["sad"]}
    assert client.get("/api/v1/territories/cremona/organizations?per_page=1&page=2"
                      ).get_json()["items"][0]["name"] == "Il Girasole"
    milano = client.get("/api/v1/territories/milano/organizations").get_json()
    assert [o["name"] for o in milano["items"]] == ["Cooperativa Milanese"]


@pytest.mark.parametrize("query, field", [
    ("page=abc", "page"), ("page=0", "page"), ("age=-1", "age"), ("age=121", "age"),
    ("vertical=xyz", "vertical"), ("per_page=1000", "per_page"), ("per_page=0", "per_page"),
    ("free=maybe", "free"), ("voucher=2", "voucher"), ("sort=random", "sort"),
    ("language=klingon", "language"), ("category=0", "category"),
    ("municipality=99999999999999999999", "municipality"), ("near=-4", "near"),
    ("q=" + "x" * 201, "q"), ("page=1.5", "page"),  # NUL: 400 at the edge (test_bad_input)
])
def test_bad_parameters_are_422_naming_the_field(client, world, query, field):
    response = client.get(f"/api/v1/territories/cremona/services?{query}")
    assert response.status_code == 422 and response.is_json
    body = response.get_json()
    assert body["status"] == 422 and body["error"]
    assert list(body["errors"]["query"]) == [field]
    assert all(isinstance(m, str) and m for m in body["errors"]["query"][field])


def test_bad_paging_of_organizations_is_422_too(client, world):
    response = client.get("/api/v1/territories/cremona/organizations?per_page=abc&page=-1")
    assert response.status_code == 422
    assert set(response.get_json()["errors"]["query"]) == {"per_page", "page"}


def test_the_api_is_read_only(client, world):
    response = client.post("/api/v1/territories/cremona/services")
    assert response.status_code == 405 and response.is_json


def test_openapi_document_describes_every_path(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = json.loads(response.get_data(as_text=True))
    assert document["openapi"] == "3.0.3" and document["info"]["version"] == "v1"
    assert set(document["paths"]) == {
        "/api/v1/territories",
        "/api/v1/territories/{slug}",
        "/api/v1/territories/{slug}/services",
        "/api/v1/territories/{slug}/services/{service_id}",
        "/api/v1/territories/{slug}/organizations",
        "/api/v1/territories/{slug}/deliveries",  # POST, with a cooperative's token
    }
    search = document["paths"]["/api/v1/territories/{slug}/services"]["get"]
    names = {p["name"] for p in search["parameters"]}
    assert {"q", "vertical", "category", "municipality", "age", "free", "voucher", "welfare",
            "accessible", "language", "sort", "near", "page", "per_page"} <= names
    assert "422" in search["responses"] and "404" in search["responses"]
    schemas = document["components"]["schemas"]
    assert "review_comment" not in json.dumps(schemas)
    assert {"status", "error"} <= set(schemas["Error"]["properties"])


def test_docs_page_uses_the_vendored_redoc_only(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'src="/static/vendor/redoc/redoc.standalone.js"' in html
    assert "http://" not in html and "https://" not in html  # no CDN: the CSP would block it
    assert '<html lang="en">' in html and "<main>" in html
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and csp.endswith("worker-src 'self' blob:")  # ReDoc's search
    assert "worker-src" not in client.get("/api/v1/territories").headers["Content-Security-Policy"]
    assert (ROOT / "static/vendor/redoc/redoc.standalone.js").stat().st_size > 100_000
    assert "2.5.4" in (ROOT / "static/vendor/redoc/VERSION.md").read_text()
    assert client.get("/static/vendor/redoc/redoc.standalone.js").status_code == 200


def test_html_pages_keep_their_own_error_pages(client, world):
    response = client.get("/t/nowhere/")
    assert response.status_code == 404 and response.mimetype == "text/html"
