"""The Open Referral HSDS 3.0 export of a territory: every object it returns validates against
the official schemas (shared/standards/hsds-3.0, no network), and it exports only what the
public may see — published services of accredited cooperatives, in this territory."""
from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from marketplace.extensions import db as _db
from marketplace.models import Cooperative, Service
from marketplace.services import hsds
from tenants.scoping import territory_scope, unscoped
from tests import catalogue_world
from tests.catalogue_world import PUBLISHED, REVIEW_NOTE, STAFF_EMAIL, STAFF_NAME

# CI clones the repository next to shared/; a missing folder fails the tests (never skips).
HSDS_DIR = Path(__file__).resolve().parents[2] / "shared" / "standards" / "hsds-3.0"
BASE = "https://raw.githubusercontent.com/openreferral/specification/3.0/schema/"

# The schema of each nested record, by the key it appears under.
NESTED = {
    "organization": "organization.json", "organizations": "organization.json",
    "services": "service.json", "phones": "phone.json", "schedules": "schedule.json",
    "service_areas": "service_area.json", "service_at_locations": "service_at_location.json",
    "languages": "language.json", "cost_options": "cost_option.json",
    "required_documents": "required_document.json", "contacts": "contact.json",
    "location": "location.json", "locations": "location.json", "addresses": "address.json",
    "accessibility": "accessibility.json", "organization_identifiers": "organization_identifier.json",
}


def _uri(value: str) -> bool:
    parts = urlsplit(value)
    return bool(parts.scheme in ("http", "https") and parts.netloc)


def _date_time(value: str) -> bool:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return "T" in value and parsed.tzinfo is not None  # RFC 3339: a time and an offset


class Schemas:
    """The HSDS schemas from the local folder, resolved through a registry (no network)."""

    def __init__(self, folder: Path):
        assert folder.is_dir(), (
            f"HSDS 3.0 schemas not found at {folder}: the repository must sit next to shared/")
        resources = []
        for path in sorted(folder.glob("*.json")) + sorted(folder.glob("compiled/*.json")):
            uri = BASE + path.relative_to(folder).as_posix()
            resources.append((uri, Resource(json.loads(path.read_text()), specification=DRAFT202012)))
        assert len(resources) > 20, f"HSDS schemas incomplete in {folder}"
        self.registry = Registry().with_resources(resources)
        # jsonschema checks uuid and email itself; uri and date-time need extra packages.
        self.formats = FormatChecker()
        self.formats.checks("uri")(_uri)
        self.formats.checks("date-time")(_date_time)

    def contents(self, name: str) -> dict:
        return self.registry.contents(BASE + name)

    def validate(self, instance, name: str) -> None:
        """Validate against schema ``name`` (e.g. "compiled/service.json" or an openapi.json
        pointer), and allow no fields the schema does not define."""
        validator = Draft202012Validator({"$ref": BASE + name}, registry=self.registry,
                                         format_checker=self.formats)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        assert not errors, f"{name}: " + "; ".join(
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5])
        if "#" not in name:
            unknown = set(instance) - set(self.contents(name).get("properties", {}))
            assert not unknown, f"{name}: fields HSDS does not define: {unknown}"

    def validate_deep(self, instance: dict, name: str) -> int:
        """``instance`` against ``name``, then every nested record against its own schema;
        returns how many objects were validated."""
        self.validate(instance, name)
        count = 1
        for key, value in instance.items():
            if key not in NESTED:
                continue
            for item in value if isinstance(value, list) else [value]:
                count += self.validate_deep(item, NESTED[key])
        return count

    def validate_page(self, body: dict, path: str, item_schema: str) -> None:
        pointer = f"openapi.json#/paths/~1{path}/get/responses/200/content/application~1json/schema"
        self.validate(body, pointer)
        page_fields = set(self.contents("openapi.json")["components"]["schemas"]["Page"]["properties"])
        assert set(body) == page_fields | {"contents"}
        for item in body["contents"]:
            self.validate(item, item_schema)


@pytest.fixture(scope="session")
def schemas():
    return Schemas(HSDS_DIR)


@pytest.fixture
def world(db, make):
    return catalogue_world.build(make)


def _public_id(service_id: int) -> str:
    with unscoped():
        return _db.session.get(Service, service_id).public_id


def test_the_schemas_come_from_the_shared_folder(schemas):
    assert schemas.contents("compiled/service.json")["required"] == ["id", "name", "status"]
    # A record that breaks the schema is caught (the validation is not vacuous).
    with pytest.raises(AssertionError):
        schemas.validate({"id": "not-a-uuid", "name": "x", "status": "open"}, "compiled/service.json")
    with pytest.raises(AssertionError):
        schemas.validate({"id": str(uuid.uuid4()), "name": "x", "status": "active", "colour": "red"},
                         "compiled/service_list.json")


def test_services_are_paged_as_the_hsds_api_says(client, world, schemas):
    body = client.get("/t/cremona/hsds/services").get_json()
    schemas.validate_page(body, "services", "compiled/service_list.json")
    assert body["total_items"] == len(PUBLISHED) and body["size"] == len(PUBLISHED)
    assert sorted(s["id"] for s in body["contents"]) == \
        sorted(_public_id(world.services[k]) for k in PUBLISHED)
    assert (body["page_number"], body["total_pages"], body["first_page"], body["last_page"],
            body["empty"]) == (1, 1, True, True, False)
    for item in body["contents"]:
        assert item["status"] == "active"
        assert item["organization"]["id"] == item["organization_id"]
        schemas.validate(item["organization"], "compiled/organization_list.json")

    last = client.get("/t/cremona/hsds/services?per_page=2&page=3").get_json()
    schemas.validate_page(last, "services", "compiled/service_list.json")
    assert (last["size"], last["total_pages"], last["first_page"], last["last_page"]) == (1, 3, False, True)
    beyond = client.get("/t/cremona/hsds/services?per_page=2&page=9").get_json()
    schemas.validate_page(beyond, "services", "compiled/service_list.json")
    assert beyond["contents"] == [] and beyond["empty"] is True and beyond["total_items"] == 5


def test_every_service_in_full_validates(client, world, schemas):
    validated = 0
    for key in PUBLISHED:
        body = client.get(f"/t/cremona/hsds/services/{_public_id(world.services[key])}").get_json()
        validated += schemas.validate_deep(body, "compiled/service.json")
    assert validated > 40  # services, their organizations, places, addresses, costs, ...


def test_a_service_in_full_says_where_when_how_much_and_in_which_languages(client, world, schemas):
    sid = _public_id(world.services["nido"])
    body = client.get(f"/t/cremona/hsds/services/{sid}").get_json()
    assert body["id"] == sid and body["name"] == "Nido d'infanzia Il Girasole"
    assert body["organization"]["id"] == hsds.organization_id(world.territory, world.coop)
    assert (body["minimum_age"], body["maximum_age"]) == (0, 3)
    assert [(c["option"], c["amount"], c["currency"]) for c in body["cost_options"]] == \
        [("Fascia A", 150.0, "EUR"), (body["cost_options"][1]["option"], 450.5, "EUR")]
    assert body["schedules"][0]["description"] == "Dal lunedì al venerdì, 7:30-16:30"
    assert [l["code"] for l in body["languages"]] == ["it", "en", "ise"]  # LIS is "ise" in ISO 639-3
    assert [d["document"] for d in body["required_documents"]] == \
        ["ISEE in corso di validità", "Certificato vaccinale"]
    assert body["phones"][0]["number"] == "0372 654321"
    assert body["contacts"][0]["email"] == "nido@girasole.example.org"
    place = body["service_at_locations"][0]
    assert place["location_id"] == place["location"]["id"]
    address = place["location"]["addresses"][0]
    assert (address["address_1"], address["city"], address["state_province"], address["postal_code"],
            address["country"]) == ("Via Roma 1", "Cremona", "CR", "26100", "IT")
    assert body["url"] == f"http://localhost/t/cremona/services/{world.services['nido']}"

    sad = client.get(f"/t/cremona/hsds/services/{_public_id(world.services['sad'])}").get_json()
    assert [a["name"] for a in sad["service_areas"]] == ["Casalmaggiore", "Cremona"]
    assert [(c["amount"], c["currency"]) for c in sad["cost_options"]] == [(21.0, "EUR")]
    free = client.get(f"/t/cremona/hsds/services/{_public_id(world.services['sportello'])}").get_json()
    assert [c["amount"] for c in free["cost_options"]] == [0]
    assert free["service_at_locations"] == [] and free["schedules"] == []

    # Derived ids are stable from one export to the next.
    again = client.get(f"/t/cremona/hsds/services/{sid}").get_json()
    assert again == body


def test_organizations_list_and_full(client, world, schemas):
    body = client.get("/t/cremona/hsds/organizations").get_json()
    schemas.validate_page(body, "organizations", "compiled/organization_list.json")
    assert [o["name"] for o in body["contents"]] == ["Igea", "Il Girasole"]  # not the pending one
    for item in body["contents"]:
        full = client.get(f"/t/cremona/hsds/organizations/{item['id']}").get_json()
        schemas.validate_deep(full, "compiled/organization.json")
        for service in full["services"]:
            assert service["organization_id"] == item["id"]
    girasole = client.get(
        f"/t/cremona/hsds/organizations/{hsds.organization_id(world.territory, world.coop)}").get_json()
    assert girasole["name"] == "Il Girasole" and girasole["tax_id"] == "01234567890"
    assert sorted(s["name"] for s in girasole["services"]) == \
        ["Assistenza domiciliare anziani", "Nido d'infanzia Il Girasole"]
    assert girasole["locations"][0]["addresses"][0]["address_1"] == "Via Dante 12"
    igea = body["contents"][0]
    assert "website" not in igea  # "igea.example.org" is not a URI: left out, not invented


def test_only_published_services_and_accredited_organisations_of_this_territory(client, db, world):
    s = world.services
    for hidden in ("bozza", "revisione"):
        response = client.get(f"/t/cremona/hsds/services/{_public_id(s[hidden])}")
        assert response.status_code == 404 and response.is_json
    assert client.get(f"/t/cremona/hsds/services/{_public_id(s['milano'])}").status_code == 404
    assert client.get(f"/t/milano/hsds/services/{_public_id(s['nido'])}").status_code == 404
    assert client.get(f"/t/milano/hsds/services/{_public_id(s['milano'])}").status_code == 200
    assert client.get(f"/t/cremona/hsds/services/{uuid.uuid4()}").status_code == 404
    assert client.get("/t/cremona/hsds/services/not-a-uuid").status_code == 404
    pending = hsds.organization_id(world.territory, world.pending)
    assert client.get(f"/t/cremona/hsds/organizations/{pending}").status_code == 404
    # Milano's cooperative, asked for in Cremona (its id computed as if it were there).
    with unscoped():
        milano_coop = db.session.execute(
            db.select(Cooperative).where(Cooperative.territory_id == world.other.id)).scalar_one()
    for territory in (world.territory, world.other):
        as_if = hsds.organization_id(territory, milano_coop)
        assert client.get(f"/t/cremona/hsds/organizations/{as_if}").status_code == 404

    # A suspended cooperative's services leave the export with it.
    with territory_scope(world.territory.id):
        db.session.get(Cooperative, world.coop2.id).status = Cooperative.SUSPENDED
        db.session.commit()
    listed = client.get("/t/cremona/hsds/services").get_json()
    assert sorted(x["name"] for x in listed["contents"]) == \
        ["Assistenza domiciliare anziani", "Nido d'infanzia Il Girasole"]
    assert client.get(f"/t/cremona/hsds/services/{_public_id(s['estivo'])}").status_code == 404
    orgs = client.get("/t/cremona/hsds/organizations").get_json()
    assert [o["name"] for o in orgs["contents"]] == ["Il Girasole"]


def test_no_personal_or_internal_data_is_exported(client, world):
    urls = ["/t/cremona/hsds/services", "/t/cremona/hsds/organizations"]
    urls += [f"/t/cremona/hsds/services/{_public_id(world.services[k])}" for k in PUBLISHED]
    urls += [f"/t/cremona/hsds/organizations/{hsds.organization_id(world.territory, c)}"
             for c in (world.coop, world.coop2)]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        text = response.get_data(as_text=True)
        for secret in (STAFF_EMAIL, STAFF_NAME, REVIEW_NOTE, "review_comment", "in_review"):
            assert secret not in text, (url, secret)


@pytest.mark.parametrize("path", ["/t/nowhere/hsds/services", "/t/sondrio/hsds/services",
                                  "/t/sondrio/hsds/organizations"])
def test_unknown_and_suspended_territories_are_json_404s(client, world, path):
    response = client.get(path)
    assert response.status_code == 404 and response.is_json
    assert response.get_json()["status"] == 404


@pytest.mark.parametrize("query, fields", [
    ("page=abc", {"page"}), ("page=0", {"page"}), ("per_page=1000", {"per_page"}),
    ("per_page=-1&page=1.5", {"page", "per_page"}),
])
def test_bad_paging_is_422_naming_the_field(client, world, query, fields):
    for path in ("services", "organizations"):
        response = client.get(f"/t/cremona/hsds/{path}?{query}")
        assert response.status_code == 422 and response.is_json
        assert set(response.get_json()["errors"]["query"]) == fields


def test_meta_and_the_territorys_own_domain(client, make, world):
    meta = client.get("/t/cremona/hsds/").get_json()
    assert meta["version"] == "3.0" and meta["openapi_url"].endswith("/openapi.json")
    make.domain(world.territory, "welfare.cremona.example.it")
    on_domain = client.get("/hsds/services", headers={"Host": "welfare.cremona.example.it"})
    assert on_domain.status_code == 200
    by_path = client.get("/t/cremona/hsds/services").get_json()["contents"]
    assert [x["id"] for x in on_domain.get_json()["contents"]] == [x["id"] for x in by_path]
    # Links stay on the territory's own domain.
    assert all(x["url"].startswith("http://welfare.cremona.example.it/services/")
               for x in on_domain.get_json()["contents"])
