"""Officers and coordinators set up voucher programmes: create (with clear errors), edit
while draft, open (then only description, closing day and budget upward change), close."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from marketplace.models import Programme
from tenants.scoping import territory_scope
from tests.conftest import login, post

TODAY = dt.date.today()


def d(days: int) -> str:
    return (TODAY + dt.timedelta(days=days)).strftime("%d/%m/%Y")


@pytest.fixture
def world(make):
    territory = make.territory("cremona")
    funder = make.funder(territory, name="Comune di Cremona")
    officer = make.funder_officer(funder, email="ufficio@comune.example", locale="en")
    coop = make.cooperative(territory, name="Il Melograno")
    pending = make.cooperative(territory, name="In Attesa", status="pending")
    service = make.service(coop, status="published", title="Nido estivo")
    cremona = make.municipality(territory, name="Cremona")
    return dict(territory=territory, funder=funder, officer=officer, coop=coop, pending=pending,
                service=service, municipality=cremona)


def form(world, **over):
    data = {"title": "Buoni nido 2026", "description": "Per le famiglie residenti.", "budget": "10.000,00",
            "starts_on": d(0), "ends_on": d(180), "applications_open_on": d(0), "applications_close_on": d(60),
            "eligible_verticals": ["childcare"], "eligible_cooperative_ids": [str(world["coop"].id)],
            "eligible_service_ids": [str(world["service"].id)], "value_kind": "fixed", "value": "250",
            "percent": "", "cap": "", "hours": "", "municipality_ids": [str(world["municipality"].id)],
            "min_age": "0", "max_age": "3", "max_isee": "30.000",
            "declarations": "Dichiaro di risiedere nel comune\n\nDichiaro che i dati sono veri\n",
            "documents": "Attestazione ISEE\nDocumento d'identità"}
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def _programmes(db, world):
    db.session.expire_all()
    with territory_scope(world["territory"].id):
        return db.session.execute(select(Programme).order_by(Programme.id)).scalars().all()


def _new_url(world):
    return f"/t/cremona/funders/{world['funder'].id}/programmes/new"


def test_officer_creates_a_programme_and_sees_its_page(client, db, world):
    login(client, world["officer"].email)
    page = client.get(_new_url(world)).get_data(as_text=True)
    assert 'for="budget"' in page and "Il Melograno" in page and "In Attesa" not in page
    assert "Nido estivo" in page and "Childcare" in page
    response = post(client, _new_url(world), form(world), token_from=_new_url(world))
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    (programme,) = _programmes(db, world)
    assert programme.status == Programme.DRAFT and programme.budget_cents == 1_000_000
    assert programme.value_cents == 25_000 and programme.voucher_value_cents == 25_000
    assert programme.eligible_verticals == ["childcare"]
    assert programme.eligible_cooperative_ids == [world["coop"].id]
    assert programme.eligible_service_ids == [world["service"].id]
    assert programme.municipality_ids == [world["municipality"].id]
    assert (programme.min_age, programme.max_age, programme.max_isee_cents) == (0, 3, 3_000_000)
    assert programme.declarations == ["Dichiaro di risiedere nel comune", "Dichiaro che i dati sono veri"]
    assert programme.documents == ["Attestazione ISEE", "Documento d'identità"]
    assert programme.created_by_id == world["officer"].id
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Buoni nido 2026" in page and "€10,000.00" in page
    assert "Open the programme" in page and "Il Melograno" in page and "Cremona" in page


@pytest.mark.parametrize("changes,field,message", [
    ({"title": ""}, "title", "Enter the programme"),
    ({"budget": "-5"}, "budget", "cannot be negative"),
    ({"budget": "abc"}, "budget", "Enter an amount in euros"),
    ({"ends_on": d(-1)}, "ends_on", "The period must end on or after the day it starts."),
    ({"applications_close_on": d(-1)}, "applications_close_on", "Applications must close on or after"),
    ({"applications_close_on": d(200)}, "applications_close_on", "Applications must close by the last day"),
    ({"starts_on": "31/02/2026"}, "starts_on", "Enter a date, like 25/12/2026."),
    ({"value": ""}, "value", "Enter the value of a voucher, more than zero."),
    ({"value": "0"}, "value", "Enter the value of a voucher, more than zero."),
    ({"value_kind": "percent", "percent": "150", "cap": "100"}, "percent", "between 1 and 100"),
    ({"value_kind": "percent", "percent": "50", "cap": ""}, "cap", "the most a voucher pays"),
    ({"value_kind": "hours", "hours": "", "value": "20"}, "hours", "Enter a number of hours"),
    ({"value_kind": "hours", "hours": "10", "value": ""}, "value", "Enter the value of one hour"),
    ({"value_kind": "lottery"}, "value_kind", "Choose how much a voucher is worth."),
    ({"min_age": "10", "max_age": "3"}, "max_age", "cannot be lower than the minimum age"),
    ({"max_age": "many"}, "max_age", "Enter a whole number."),
    ({"eligible_verticals": ["weapons"]}, "eligible_verticals", "Choose among the listed kinds"),
    ({"eligible_cooperative_ids": ["999999"]}, "eligible_cooperative_ids", "accredited cooperatives"),
    ({"eligible_service_ids": ["999999"]}, "eligible_service_ids", "published services"),
    ({"municipality_ids": ["999999"]}, "municipality_ids", "municipalities listed"),
])
def test_bad_programmes_are_refused_per_field_and_nothing_saved(client, db, world, changes, field, message):
    login(client, world["officer"].email)
    response = post(client, _new_url(world), form(world, **changes), token_from=_new_url(world))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    assert f'id="{field}-error"' in page or f'href="#{field}' in page
    assert _programmes(db, world) == []


def test_a_pending_cooperative_cannot_be_smuggled_in(client, db, world):
    login(client, world["officer"].email)
    response = post(client, _new_url(world), form(world, eligible_cooperative_ids=[str(world["pending"].id)]),
                    token_from=_new_url(world))
    assert response.status_code == 422 and _programmes(db, world) == []


def test_percent_and_hours_programmes(client, db, world):
    login(client, world["officer"].email)
    assert post(client, _new_url(world), form(world, value_kind="percent", percent="40", cap="300", value="99"),
                token_from=_new_url(world)).status_code == 302
    assert post(client, _new_url(world), form(world, title="Ore di assistenza", value_kind="hours", hours="10",
                                              value="18,50"), token_from=_new_url(world)).status_code == 302
    percent, hours = _programmes(db, world)
    assert (percent.percent, percent.cap_cents, percent.value_cents, percent.voucher_value_cents) == (40, 30_000, 0, 30_000)
    assert (hours.hours, hours.value_cents, hours.voucher_value_cents, hours.percent) == (10, 1850, 18_500, None)


def test_draft_edits_freely_then_open_limits_changes_then_close(client, db, world, make):
    login(client, world["officer"].email)
    post(client, _new_url(world), form(world), token_from=_new_url(world))
    (programme,) = _programmes(db, world)
    base = f"/t/cremona/funders/{world['funder'].id}/programmes/{programme.id}"
    edit = post(client, f"{base}/edit", form(world, title="Buoni nido 2026/27", value="300"), token_from=f"{base}/edit")
    assert edit.status_code == 302
    (programme,) = _programmes(db, world)
    assert programme.title == "Buoni nido 2026/27" and programme.value_cents == 30_000

    assert post(client, f"{base}/open", {}, token_from=f"{base}/").status_code == 302
    (programme,) = _programmes(db, world)
    assert programme.status == Programme.OPEN
    page = client.get(f"{base}/edit").get_data(as_text=True)
    assert 'name="title"' not in page and 'name="budget"' in page  # only what may still change

    lower = post(client, f"{base}/edit", {"description": "x", "applications_close_on": d(60), "budget": "5.000"},
                 token_from=f"{base}/edit")
    assert lower.status_code == 422 and "can only be raised" in lower.get_data(as_text=True)
    # Fields that may no longer change are ignored even if posted.
    ok = post(client, f"{base}/edit", {"description": "Nuove istruzioni.", "applications_close_on": d(90),
                                       "budget": "12.000", "title": "Hacked", "value": "1"},
              token_from=f"{base}/edit")
    assert ok.status_code == 302
    (programme,) = _programmes(db, world)
    assert (programme.description, programme.applications_close_on, programme.budget_cents) == \
        ("Nuove istruzioni.", TODAY + dt.timedelta(days=90), 1_200_000)
    assert programme.title == "Buoni nido 2026/27" and programme.value_cents == 30_000

    assert post(client, f"{base}/close", {}, token_from=f"{base}/").status_code == 302
    (programme,) = _programmes(db, world)
    assert programme.status == Programme.CLOSED
    assert client.get(f"{base}/edit").status_code == 302  # closed: not editable
    # Opening twice or closing a closed programme changes nothing.
    post(client, f"{base}/open", {}, token_from=f"{base}/")
    assert _programmes(db, world)[0].status == Programme.CLOSED


def test_programme_page_shows_budget_committed_remaining_and_counts(client, db, world, make):
    from marketplace.models import Application

    programme = make.programme(world["funder"], budget_cents=100_000, value_cents=10_000)
    citizen = make.user()
    make.voucher(programme, citizen)
    make.voucher(programme, citizen)
    make.voucher(programme, citizen, status="cancelled")
    for status in ("submitted", "submitted", "needs_info", "draft"):
        make._save(Application(territory_id=programme.territory_id, programme_id=programme.id, user_id=citizen.id,
                               beneficiary_name="Luca", status=status))
    login(client, world["officer"].email)
    page = client.get(f"/t/cremona/funders/{world['funder'].id}/programmes/{programme.id}/").get_data(as_text=True)
    assert page.split('id="budget">')[1].startswith("€1,000.00<")
    assert page.split('id="committed">')[1].startswith("€200.00<")
    assert page.split('id="remaining">')[1].startswith("€800.00<")
    assert page.split('id="count-submitted">')[1].startswith("2<")
    assert page.split('id="count-needs_info">')[1].startswith("1<")
    assert page.split('id="vouchers-issued">')[1].startswith("2 (1 cancelled)")


def test_programme_tenancy(client, world, make):
    programme = make.programme(world["funder"])
    other_funder = make.funder(world["territory"])
    other_officer = make.funder_officer(other_funder, locale="en")
    base = f"/t/cremona/funders/{world['funder'].id}/programmes/{programme.id}"
    urls = [f"{base}/", f"{base}/edit", f"{base}/applications", f"{base}/vouchers",
            f"/t/cremona/funders/{world['funder'].id}/programmes/new"]
    # An officer of another funder: 403 on this funder's pages ...
    login(client, other_officer.email)
    for url in urls:
        assert client.get(url).status_code == 403, url
    # ... and this programme under their own funder's id is not found.
    assert client.get(f"/t/cremona/funders/{other_funder.id}/programmes/{programme.id}/").status_code == 404
    # A citizen: 403. Another territory's officer asking through their territory: 404.
    citizen_client = client.application.test_client()
    login(citizen_client, make.user(locale="en").email)
    for url in urls:
        assert citizen_client.get(url).status_code == 403, url
    lodi = make.territory("lodi")
    lodi_funder = make.funder(lodi)
    lodi_client = client.application.test_client()
    login(lodi_client, make.funder_officer(lodi_funder, locale="en").email)
    assert lodi_client.get(f"/t/lodi/funders/{world['funder'].id}/programmes/{programme.id}/").status_code == 404
    assert lodi_client.get(f"/t/lodi/funders/{lodi_funder.id}/programmes/{programme.id}/").status_code == 404
    # A coordinator of the territory may, once the funder delegated the review to the coordinators.
    make.delegation(world["funder"], "review")
    coord_client = client.application.test_client()
    login(coord_client, make.coordinator(world["territory"], locale="en").email)
    for url in urls:
        assert coord_client.get(url).status_code == 200, url
