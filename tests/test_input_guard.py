"""Bad input gets a 4xx with a clear message, never a 500: the edge check on NUL bytes and
JSON bodies (marketplace/input_guard.py), the one number parser (validation.parse_int) on
booking, waiting list and the push API, and page numbers out of range."""
from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import func, select

from marketplace.models import DeliveryRecord
from marketplace.validation import parse_id, parse_int
from tenants.scoping import territory_scope
from tests.conftest import csrf_token, login, post
from tests.delivery.test_delivery_api import _make_token, _record, world  # noqa: F401 (fixture)

NUL_IT = "carattere NUL"


# ---------------------------------------------------------------------------- the parser

@pytest.mark.parametrize("text", ["²", "١٢٣", "１２", "1_000", "1e3", "0x10", "9" * 31, "", "  ", None, "1.5", True])
def test_parse_int_reads_ascii_decimal_integers_only(text):
    assert parse_int(text) is None
    with pytest.raises(ValueError, match="a message"):
        parse_int(text if text not in ("", "  ", None) else "x", message="a message")


def test_parse_int_bounds_and_ids():
    assert parse_int(" 42 ") == 42 and parse_int("-3") == -3 and parse_int("+7") == 7
    assert parse_int("5", 1, 5) == 5 and parse_int("6", 1, 5) is None and parse_int("0", 1, 5, default=1) == 1
    assert parse_id("2147483647") == 2**31 - 1 and parse_id(str(2**31)) is None and parse_id("0") is None


# ---------------------------------------------------------------------------- NUL bytes

def test_a_nul_byte_in_the_anonymous_login_form_is_a_localised_400(client, make):
    make.user(email="anna@example.org")
    response = post(client, "/account/login", {"email": "anna@example.org\x00", "password": "x\x00y"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert NUL_IT in html and "<html" in html


@pytest.mark.parametrize("url", ["/t/alpha%00/", "/t/alpha/?q=nido%00", "/t/alpha/?%00=1", "/account/login?next=/%00"])
def test_a_nul_byte_in_the_path_or_query_is_a_400(client, make, url):
    make.territory("alpha")
    response = client.get(url)
    assert response.status_code == 400
    assert NUL_IT in response.get_data(as_text=True)


def test_a_nul_byte_in_a_form_field_name_is_a_400(client, make):
    response = client.post("/account/login", data={"csrf_token": csrf_token(client), "em\x00ail": "x"})
    assert response.status_code == 400


def test_a_nul_byte_in_the_query_of_the_api_is_a_json_400(client, make):
    make.territory("alpha")
    response = client.get("/api/v1/territories/alpha/services?q=%00nido")
    assert response.status_code == 400 and response.is_json
    body = response.get_json()
    assert body["status"] == 400 and body["error"] and body["errors"]["query"]


def test_binary_file_content_is_not_refused(client, make):
    """A multipart upload's content is not a form field: NUL bytes in a file are fine."""
    territory = make.territory("alpha")
    coop = make.cooperative(territory)
    staff = make.staff(coop, locale="en")
    login(client, staff.email)
    url = f"/t/alpha/cooperative/{coop.id}/deliveries/import"
    response = client.post(url, data={"csrf_token": csrf_token(client, url),
                                      "file": (io.BytesIO(b"\x00\x01\x02binary\x00"), "x.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 422  # read and refused as "not a CSV", not by the edge check
    assert "This is not a CSV or XLSX file" in response.get_data(as_text=True)


# ---------------------------------------------------------------------------- the JSON push API

@pytest.fixture
def api_world(world):
    """tests/delivery/test_delivery_api.py's world: a cooperative whose staff is logged in."""
    return world


def _push(app, api_world, token, data: bytes | str, content_type="application/json"):
    return app.test_client().post(api_world.push_url, data=data, content_type=content_type,
                                  headers={"Authorization": f"Bearer {token}"})


def _count(db, api_world) -> int:
    with territory_scope(api_world.territory.id):
        return db.session.execute(select(func.count(DeliveryRecord.id))).scalar_one()


def test_a_body_nested_100000_deep_is_a_400_not_a_crash(app, client, db, api_world):
    token = _make_token(client, api_world)
    response = _push(app, api_world, token, "[" * 100_000 + "]" * 100_000)
    assert response.status_code == 400 and response.is_json
    assert "troppi livelli di annidamento" in response.get_json()["message"]  # Italian: no user
    deep = {"records": [_record(api_world, 1)]}
    for _ in range(25):
        deep = {"x": deep}
    assert _push(app, api_world, token, json.dumps(deep)).status_code == 400


def test_a_body_beyond_api_max_body_bytes_is_a_413(app, client, db, api_world):
    token = _make_token(client, api_world)
    records = [_record(api_world, n, notes="x" * 1990) for n in range(500)]  # ~1.1 MB, < MAX_CONTENT_LENGTH
    body = json.dumps({"records": records})
    assert app.config["API_MAX_BODY_BYTES"] < len(body) < app.config["MAX_CONTENT_LENGTH"]
    response = _push(app, api_world, token, body)
    assert response.status_code == 413 and response.is_json
    assert str(app.config["API_MAX_BODY_BYTES"]) in response.get_json()["message"]
    assert _count(db, api_world) == 0


@pytest.mark.parametrize("number", [str(2**64), "-" + str(2**63 + 1), "1e999", "NaN", "Infinity", "-Infinity"])
def test_numbers_beyond_64_bits_or_not_finite_are_a_400(app, client, db, api_world, number):
    token = _make_token(client, api_world)
    body = json.dumps({"records": [_record(api_world, 1)]}).replace('"duration_minutes": 45',
                                                                    f'"duration_minutes": {number}')
    assert number in body
    response = _push(app, api_world, token, body)
    assert response.status_code == 400 and response.is_json
    assert response.get_json()["errors"]["json"]
    assert _count(db, api_world) == 0


def test_nul_in_a_json_key_or_string_at_any_depth_is_a_400(app, client, db, api_world):
    token = _make_token(client, api_world)
    for record in (_record(api_world, 1, notes="a\x00b"), {**_record(api_world, 2), "auto\x00nomy": 3}):
        response = _push(app, api_world, token, json.dumps({"records": [record]}))
        assert response.status_code == 400 and "NUL" in response.get_json()["message"]
    assert _count(db, api_world) == 0


@pytest.mark.parametrize("field,value", [("duration_minutes", "²"), ("service_id", "²"), ("service_id", "１"),
                                         ("duration_minutes", "１２"), ("autonomy", "²"),
                                         ("service_id", "9" * 30), ("duration_minutes", 10**18)])
def test_unicode_digits_and_huge_numbers_in_records_are_a_422_with_the_field(app, client, db, api_world,
                                                                               field, value):
    token = _make_token(client, api_world)
    response = _push(app, api_world, token, json.dumps({"records": [_record(api_world, 1, **{field: value})]}))
    assert response.status_code == 422, response.get_data(as_text=True)
    errors = response.get_json()["results"][0]["errors"]
    assert [e["field"] for e in errors] == [field]
    assert _count(db, api_world) == 0


# ---------------------------------------------------------------------------- booking, waiting list

@pytest.fixture
def slot_world(client, make):
    territory = make.territory("alpha")
    coop = make.cooperative(territory)
    service = make.service(coop, status="published")
    slot = make.slot(service, capacity=5)
    full = make.slot(service, capacity=0)
    citizen = make.user(email="citizen@example.org", locale="en")
    login(client, citizen.email)
    with make.app.app_context():
        from marketplace.extensions import db
        from marketplace.models import Slot
        from tenants.scoping import unscoped

        with unscoped():
            type_id = db.session.get(Slot, slot.id).ticket_types[0].id
    return slot, full, type_id


@pytest.mark.parametrize("quantity", ["²", "١٢٣", "１２", "9" * 30, "-1"])
def test_booking_with_unicode_digits_or_huge_numbers_is_a_form_error(client, slot_world, quantity):
    slot, _full, type_id = slot_world
    url = f"/t/alpha/book/{slot.id}"
    response = post(client, url, {f"qty-{type_id}": quantity}, token_from=url)
    assert response.status_code in (200, 422), response.status_code
    assert "enter a whole number" in response.get_data(as_text=True)


@pytest.mark.parametrize("quantity", ["²", "１２", "9" * 30])
def test_joining_a_waiting_list_with_unicode_digits_is_a_form_error(client, slot_world, quantity):
    _slot, full, _type_id = slot_world
    url = f"/t/alpha/book/{full.id}"
    response = post(client, url + "/waitlist", {"quantity": quantity}, token_from=url)
    assert response.status_code in (200, 422), response.status_code
    assert "Enter a whole number of seats." in response.get_data(as_text=True)


# ---------------------------------------------------------------------------- pages and ids

@pytest.mark.parametrize("page", ["-1", "0", str(10**30), "9" * 40, "²", "１", "x"])
def test_page_numbers_out_of_range_show_a_page_never_a_500(client, make, page):
    """As every paginated view of the platform does (tests/funding/test_review.py): a page
    beyond the last is the last page, a bad one the first; never an OFFSET the database rejects."""
    make.user(email="operator@example.org", is_platform_admin=True)
    login(client, "operator@example.org")
    response = client.get(f"/admin/outbox?page={page}")
    assert response.status_code == 200


def test_ids_beyond_the_database_integer_range_are_404(client, make):
    territory = make.territory("alpha")
    coop = make.cooperative(territory)
    login(client, make.staff(coop).email)
    for coop_id in (2**31, 10**30):
        assert client.get(f"/t/alpha/cooperative/{coop_id}/profile").status_code == 404
    assert client.get(f"/t/alpha/cooperative/{coop.id}/deliveries?service={10**30}").status_code == 200
