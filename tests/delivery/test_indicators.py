"""Coordinators define the territory's outcome indicators; cooperative staff choose which of
them each service records. Through HTTP, with the code rules and tenancy."""
from __future__ import annotations


from sqlalchemy import select

from marketplace.models import Cooperative, DeliveryRecord, OutcomeIndicator, ServiceIndicator
from marketplace.services import deliveries
from tenants.scoping import territory_scope
from tests.conftest import login, post

URL = "/t/alpha/coordinator/indicators"


def _indicators(db, territory_id):
    db.session.expire_all()
    with territory_scope(territory_id):
        return {i.code: (i.name, i.kind, i.active) for i in db.session.execute(select(OutcomeIndicator)).scalars()}


def test_coordinator_adds_edits_and_deactivates_indicators_with_the_code_rules(client, db, make):
    alpha = make.territory("alpha")
    coordinator = make.coordinator(alpha, locale="en")
    login(client, coordinator.email)
    assert "Outcome indicators" in client.get("/t/alpha/coordinator/").get_data(as_text=True)

    page = client.get(URL)
    assert page.status_code == 200 and "No indicator yet." in page.get_data(as_text=True)
    added = post(client, URL, {"code": "autonomy", "name": "Autonomia", "kind": "scale_1_5", "unit": "",
                               "description": "Scala 1-5"}, token_from=URL)
    assert added.status_code == 302
    assert _indicators(db, alpha.id) == {"autonomy": ("Autonomia", "scale_1_5", True)}

    for code, message in (("Autonomy", "Use lowercase letters"), ("has space", "Use lowercase letters"),
                          ("1st", "Use lowercase letters"), ("autonomy", "Another indicator of the territory"),
                          ("notes", "column of the delivery file"), ("", "Use lowercase letters")):
        refused = post(client, URL, {"code": code, "name": "X", "kind": "number"}, token_from=URL)
        assert refused.status_code == 422 and message in refused.get_data(as_text=True), code
    no_kind = post(client, URL, {"code": "ok_code", "name": "X", "kind": "colour"}, token_from=URL)
    assert no_kind.status_code == 422 and "Choose what kind" in no_kind.get_data(as_text=True)
    assert list(_indicators(db, alpha.id)) == ["autonomy"]

    with territory_scope(alpha.id):
        indicator_id = db.session.execute(select(OutcomeIndicator.id)).scalar_one()
    edit = f"{URL}/{indicator_id}"
    renamed = post(client, edit, {"code": "autonomy_score", "name": "Autonomia personale", "kind": "scale_1_5"},
                   token_from=edit)
    assert renamed.status_code == 302
    assert _indicators(db, alpha.id) == {"autonomy_score": ("Autonomia personale", "scale_1_5", True)}

    off = post(client, f"{edit}/active", {"active": "0"}, token_from=URL)
    assert off.status_code == 302 and _indicators(db, alpha.id)["autonomy_score"][2] is False
    assert "Deactivated" in client.get(URL).get_data(as_text=True)
    on = post(client, f"{edit}/active", {"active": "1"}, token_from=URL)
    assert on.status_code == 302 and _indicators(db, alpha.id)["autonomy_score"][2] is True


def test_code_and_kind_are_immutable_once_values_are_recorded(client, db, make):
    alpha = make.territory("alpha")
    coop = make.cooperative(alpha)
    service = make.service(coop, status="published")
    indicator = make.indicator(alpha, "goal_reached", kind="yes_no", name="Obiettivo raggiunto")
    make.service_indicator(service, indicator)
    with territory_scope(alpha.id):
        lookup = deliveries.Lookup.load(db.session.get(Cooperative, coop.id))
        clean, errors = deliveries.validate({"external_id": "X-1", "service_id": str(service.id),
                                             "beneficiary_ref": "PZ-1", "date": "2026-01-10",
                                             "duration_minutes": "60", "goal_reached": "sì"}, lookup)
        assert errors == []
        deliveries.save(clean, lookup, DeliveryRecord.IMPORT)
        db.session.commit()
    login(client, make.coordinator(alpha, locale="en").email)
    edit = f"{URL}/{indicator.id}"
    assert "its code and kind cannot change" in client.get(edit).get_data(as_text=True)
    for change, message in (({"code": "goal"}, "cannot change"), ({"kind": "number"}, "cannot change")):
        data = {"code": "goal_reached", "name": "Obiettivo", "kind": "yes_no", **change}
        refused = post(client, edit, data, token_from=edit)
        assert refused.status_code == 422 and message in refused.get_data(as_text=True)
    assert _indicators(db, alpha.id) == {"goal_reached": ("Obiettivo raggiunto", "yes_no", True)}
    renamed = post(client, edit, {"code": "goal_reached", "name": "Obiettivo del PAI", "kind": "yes_no"},
                   token_from=edit)
    assert renamed.status_code == 302
    assert _indicators(db, alpha.id)["goal_reached"][0] == "Obiettivo del PAI"
    listing = client.get(URL).get_data(as_text=True)
    assert "Obiettivo del PAI" in listing


def test_staff_choose_the_active_indicators_their_service_records(client, db, make):
    alpha = make.territory("alpha")
    coop = make.cooperative(alpha)
    service = make.service(coop, title="Assistenza domiciliare")
    autonomy = make.indicator(alpha, "autonomy", kind="scale_1_5", name="Autonomia")
    respite = make.indicator(alpha, "respite_hours", name="Ore di sollievo", unit="ore")
    retired = make.indicator(alpha, "old_one", name="Vecchio indicatore", active=False)
    make.service_indicator(service, retired)
    login(client, make.staff(coop, locale="en").email)
    services_page = client.get(f"/t/alpha/cooperative/{coop.id}/services").get_data(as_text=True)
    url = f"/t/alpha/cooperative/{coop.id}/services/{service.id}/indicators"
    assert url in services_page
    page = client.get(url).get_data(as_text=True)
    assert "Autonomia" in page and "Ore di sollievo (ore)" in page and "Vecchio indicatore" not in page

    saved = post(client, url, {"indicators": [str(autonomy.id), str(respite.id)]}, token_from=url)
    assert saved.status_code == 302
    bogus = post(client, url, {"indicators": [str(retired.id)]}, token_from=url)
    assert bogus.status_code == 422 and "active indicators" in bogus.get_data(as_text=True)
    only = post(client, url, {"indicators": [str(respite.id)]}, token_from=url)
    assert only.status_code == 302
    with territory_scope(alpha.id):
        linked = set(db.session.execute(select(ServiceIndicator.indicator_id)
                                        .where(ServiceIndicator.service_id == service.id)).scalars())
    assert linked == {respite.id, retired.id}   # the inactive link is kept for its past records


def test_indicator_pages_are_for_this_territorys_coordinators_only(client, db, make):
    alpha = make.territory("alpha")
    beta = make.territory("beta")
    coop = make.cooperative(alpha)
    service = make.service(coop)
    foreign = make.indicator(beta, "foreign")
    foreign_service = make.service(make.cooperative(beta))
    staff = make.staff(coop, locale="en")
    citizen = make.user(locale="en")

    login(client, citizen.email)
    assert client.get(URL).status_code == 403
    assert client.get("/t/alpha/coordinator/audit").status_code == 403
    assert client.get(f"/t/alpha/cooperative/{coop.id}/services/{service.id}/indicators").status_code == 403

    client.get("/account/logout")
    login(client, staff.email)
    assert client.get(URL).status_code == 403
    assert client.get(f"/t/alpha/cooperative/{coop.id}/services/{foreign_service.id}/indicators").status_code == 404

    login(client, make.coordinator(alpha, locale="en").email)
    assert client.get(f"{URL}/{foreign.id}").status_code == 404
    assert post(client, f"{URL}/{foreign.id}/active", {"active": "0"}, token_from=URL).status_code == 404
    assert _indicators(db, beta.id)["foreign"][2] is True
