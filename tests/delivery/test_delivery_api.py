"""A cooperative's own software pushes delivery records with an API token its staff made:
the same checks and idempotency as the import, all or nothing per request; tokens are
shown once, stored hashed, revocable, and work only in their own territory."""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re

import pytest
from sqlalchemy import func, select

from marketplace.models import ApiToken, Cooperative, DeliveryRecord, OutcomeValue, Territory, User
from tenants.scoping import territory_scope
from tests.conftest import csrf_token, login, post

DAY = (dt.date.today() - dt.timedelta(days=3)).isoformat()
TOKEN_RE = re.compile(r'id="new-token" type="text" value="([^"]+)"')


@dataclasses.dataclass
class World:
    territory: Territory
    coop: Cooperative
    staff: User
    service_id: int
    tokens_url: str
    push_url: str


@pytest.fixture
def world(client, make) -> World:
    territory = make.territory("cremona")
    coop = make.cooperative(territory, name="Il Girasole")
    staff = make.staff(coop, locale="en")
    service = make.service(coop, status="published")
    make.municipality(territory, name="Crema")
    autonomy = make.indicator(territory, "autonomy", kind="scale_1_5")
    make.service_indicator(service, autonomy)
    login(client, staff.email)
    return World(territory, coop, staff, service.id, f"/t/cremona/cooperative/{coop.id}/api-tokens",
                 "/api/v1/territories/cremona/deliveries")


def _make_token(client, world: World, name: str = "Gestionale") -> str:
    response = post(client, world.tokens_url, {"name": name}, token_from=world.tokens_url)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return TOKEN_RE.search(response.get_data(as_text=True)).group(1)


def _record(world: World, n: int, **change) -> dict:
    record = {"external_id": f"SW-{n}", "service_id": world.service_id, "beneficiary_ref": f"PZ-{n}",
              "date": DAY, "start_time": "10:00", "duration_minutes": 45, "at_home": True,
              "municipality": "Crema", "cost_eur": 18.5, "autonomy": 3}
    record.update(change)
    return record


def _push(app, world: World, token: str | None, body=None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return app.test_client().post(world.push_url, json=body, headers=headers, **kwargs)


def _count(db, world: World, model=DeliveryRecord) -> int:
    with territory_scope(world.territory.id):
        return db.session.execute(select(func.count(model.id))).scalar_one()


# ---------------------------------------------------------------------------- tokens

def test_a_token_is_shown_once_and_stored_only_as_its_hash(client, db, world):
    page = client.get(world.tokens_url)
    assert page.status_code == 200 and "No token yet." in page.get_data(as_text=True)
    response = post(client, world.tokens_url, {"name": "  Gestionale   ADI "}, token_from=world.tokens_url)
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    raw = TOKEN_RE.search(html).group(1)
    assert len(raw) >= 43 and "it is shown only this once" in html
    with territory_scope(world.territory.id):
        token = db.session.execute(select(ApiToken)).scalar_one()
        assert token.name == "Gestionale ADI" and token.cooperative_id == world.coop.id
        assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
        assert raw not in (token.token_hash, token.name)
        assert token.created_by_id == world.staff.id and token.last_used_at is None
    later = client.get(world.tokens_url).get_data(as_text=True)
    assert raw not in later and "Gestionale ADI" in later and "Never" in later


def test_a_token_needs_a_name(client, db, world):
    response = post(client, world.tokens_url, {"name": "   "}, token_from=world.tokens_url)
    assert response.status_code == 422
    assert "Give the token a name" in response.get_data(as_text=True)
    assert _count(db, world, ApiToken) == 0


def test_a_revoked_token_stops_working(app, client, db, world):
    token = _make_token(client, world)
    assert _push(app, world, token, {"records": [_record(world, 1)]}).status_code == 200
    with territory_scope(world.territory.id):
        token_id = db.session.execute(select(ApiToken.id)).scalar_one()
    response = post(client, f"{world.tokens_url}/{token_id}/revoke", token_from=world.tokens_url)
    assert response.status_code == 302
    assert "Revoked on" in client.get(world.tokens_url).get_data(as_text=True)
    refused = _push(app, world, token, {"records": [_record(world, 2)]})
    assert refused.status_code == 401 and _count(db, world) == 1


# ---------------------------------------------------------------------------- pushing

def test_records_are_created_then_duplicates_on_repeat(app, client, db, world):
    token = _make_token(client, world)
    body = {"records": [_record(world, 1), _record(world, 2, at_home="no", municipality="", autonomy=None)]}
    response = _push(app, world, token, body)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"created": 2, "duplicates": 0, "invalid": 0, "results": [
        {"external_id": "SW-1", "status": "created", "errors": []},
        {"external_id": "SW-2", "status": "created", "errors": []}]}
    with territory_scope(world.territory.id):
        record = db.session.execute(select(DeliveryRecord).where(DeliveryRecord.external_id == "SW-1")).scalar_one()
        assert record.source == DeliveryRecord.API and record.cost_cents == 1850 and record.at_home
        assert record.duration_minutes == 45 and record.delivered_on.isoformat() == DAY
        assert db.session.execute(select(OutcomeValue.value)).scalars().all() == [3]
        assert db.session.execute(select(ApiToken.last_used_at)).scalar_one() is not None
    again = _push(app, world, token, body)
    assert again.status_code == 200
    assert (again.get_json()["created"], again.get_json()["duplicates"]) == (0, 2)
    assert [r["status"] for r in again.get_json()["results"]] == ["duplicate", "duplicate"]
    assert _count(db, world) == 2


def test_one_invalid_record_saves_nothing_and_names_each_problem(app, client, db, world):
    token = _make_token(client, world)
    assert _push(app, world, token, {"records": [_record(world, 1)]}).status_code == 200
    body = {"records": [
        _record(world, 1),                                             # already received
        _record(world, 2),                                             # valid, new
        _record(world, 3, duration_minutes=0, autonomy=8),             # invalid twice
        _record(world, 4, colour="red"),                               # unknown field
        _record(world, 2, beneficiary_ref="PZ-X"),                     # same id as record 2
        _record(world, 5, municipality=["Crema"]),                     # not a scalar
    ]}
    response = _push(app, world, token, body)
    assert response.status_code == 400  # a list where a value goes: the request's shape is wrong
    body["records"].pop()
    response = _push(app, world, token, body)
    assert response.status_code == 422
    answer = response.get_json()
    assert (answer["created"], answer["duplicates"], answer["invalid"]) == (0, 1, 3)
    assert [r["status"] for r in answer["results"]] == ["duplicate", "not_saved", "invalid", "invalid", "invalid"]
    assert [e["field"] for e in answer["results"][2]["errors"]] == ["duration_minutes", "autonomy"]
    assert answer["results"][2]["errors"][0]["message"] == "Inserisci i minuti come numero intero da 1 a 1440."  # Italian: the default language
    assert answer["results"][3]["errors"][0]["field"] == "colour"
    assert answer["results"][4]["errors"][0]["field"] == "external_id"
    assert "registrazione 2" in answer["results"][4]["errors"][0]["message"]
    assert _count(db, world) == 1  # nothing of the refused request


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-token", "Basic dXNlcjpwYXNz", "Token x"])
def test_missing_or_unknown_tokens_are_refused(app, db, world, header):
    headers = {"Authorization": header} if header else {}
    response = app.test_client().post(world.push_url, json={"records": [_record(world, 1)]}, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["status"] == 401 and "Authorization: Bearer" in response.get_json()["message"]
    assert _count(db, world) == 0


def test_a_token_of_another_territory_is_unknown_here(app, client, db, world, make):
    token = _make_token(client, world)
    make.territory("milano")
    response = app.test_client().post("/api/v1/territories/milano/deliveries",
                                      json={"records": [_record(world, 1)]},
                                      headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "cremona" not in response.get_data(as_text=True) and "Girasole" not in response.get_data(as_text=True)
    assert _count(db, world) == 0
    assert app.test_client().post("/api/v1/territories/nowhere/deliveries", json={"records": []},
                                  headers={"Authorization": f"Bearer {token}"}).status_code == 404


@pytest.mark.parametrize("kwargs,status", [
    ({"data": "{not json", "content_type": "application/json"}, 400),
    ({"data": "records=1", "content_type": "application/x-www-form-urlencoded"}, 400),
    ({"json": []}, 400),
    ({"json": {"records": []}}, 400),
    ({"json": {"records": "SW-1"}}, 400),
    ({"json": {"records": [1, 2]}}, 400),
    ({"json": {"records": [{"external_id": "X"}] * 501}}, 400),
])
def test_a_malformed_body_is_a_clear_400(app, client, db, world, kwargs, status):
    token = _make_token(client, world)
    response = app.test_client().post(world.push_url, headers={"Authorization": f"Bearer {token}"}, **kwargs)
    assert response.status_code == status
    payload = response.get_json()
    assert payload["status"] == status and payload["error"] and payload.get("errors")
    assert _count(db, world) == 0


def test_pushes_are_rate_limited(app, client, db, world):
    token = _make_token(client, world)
    app.config["API_RATE_LIMIT"] = "2 per minute"
    try:
        codes = [_push(app, world, token, {"records": [_record(world, n)]}).status_code for n in range(3)]
    finally:
        app.config.pop("API_RATE_LIMIT")
    assert codes == [200, 200, 429]
    assert _count(db, world) == 2


def test_the_openapi_document_describes_the_push_and_its_token(app):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/territories/{slug}/deliveries"]["post"]
    assert operation["security"] == [{"cooperativeToken": []}]
    assert spec["components"]["securitySchemes"]["cooperativeToken"]["scheme"] == "bearer"
    assert {"200", "400", "401", "404", "409", "422", "429"} <= set(operation["responses"])
    assert "All or nothing" in operation["description"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    records = spec["components"]["schemas"][body]["properties"]["records"]
    assert records["maxItems"] == 500 and records["minItems"] == 1
    fields = spec["components"]["schemas"]["DeliveryIn"]["properties"]
    assert {"external_id", "service_id", "beneficiary_ref", "date", "duration_minutes", "cost_eur"} <= set(fields)


# ---------------------------------------------------------------------------- tenancy of the staff pages

def test_token_pages_belong_to_the_cooperatives_staff(app, client, db, world, make):
    token = _make_token(client, world)
    with territory_scope(world.territory.id):
        token_id = db.session.execute(select(ApiToken.id)).scalar_one()
    make.territory("milano")
    assert client.get(world.tokens_url.replace("/t/cremona/", "/t/milano/")).status_code == 404
    neighbour = make.cooperative(world.territory)
    neighbour_staff = make.staff(neighbour)
    client.post("/account/logout", data={"csrf_token": csrf_token(client, world.tokens_url)})
    login(client, neighbour_staff.email)
    assert client.get(world.tokens_url).status_code == 403
    assert post(client, world.tokens_url, {"name": "Intruso"}, token_from="/account/profile").status_code == 403
    assert post(client, f"{world.tokens_url}/{token_id}/revoke", token_from="/account/profile").status_code == 403
    own = f"/t/cremona/cooperative/{neighbour.id}/api-tokens"
    assert post(client, f"{own}/{token_id}/revoke", token_from=own).status_code == 404  # not their token
    assert post(client, f"{own}/999999/revoke", token_from=own).status_code == 404
    assert _push(app, world, token, {"records": [_record(world, 1)]}).status_code == 200  # still active
