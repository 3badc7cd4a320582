"""Coordinators add funders; coordinators and officers invite officers, who accept by e-mail."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from marketplace.models import Funder, Invitation, Membership, OutboxMessage
from tenants.scoping import territory_scope
from tests.conftest import login, post


@pytest.fixture
def world(make):
    territory = make.territory("cremona")
    coordinator = make.coordinator(territory, email="coord@example.org", locale="en")
    return dict(territory=territory, coordinator=coordinator)


def _funders(db, territory):
    db.session.expire_all()
    with territory_scope(territory.id):
        return db.session.execute(select(Funder).order_by(Funder.id)).scalars().all()


FORM = {"name": "Comune di Cremona", "kind": "municipality", "email": "servizi.sociali@comune.cremona.it",
        "vat_number": "", "fiscal_code": ""}


def test_coordinator_adds_a_municipality_and_lands_on_its_page(client, db, world):
    login(client, world["coordinator"].email)
    page = client.get("/t/cremona/funders/").get_data(as_text=True)
    assert "Add a funder" in page and 'for="vat_number"' in page
    response = post(client, "/t/cremona/funders/", FORM, token_from="/t/cremona/funders/")
    assert response.status_code == 302
    (funder,) = _funders(db, world["territory"])
    assert funder.kind == "municipality" and funder.email == "servizi.sociali@comune.cremona.it"
    home = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Comune di Cremona" in home and "New programme" in home and "Invite an officer" in home


@pytest.mark.parametrize("changes,message", [
    ({"kind": "employer"}, "Enter the employer"),
    ({"kind": "employer", "vat_number": "12345678901"}, "not a valid Italian VAT number"),
    ({"fiscal_code": "XYZ"}, "not a valid Italian fiscal code"),
    ({"name": ""}, "Enter the funder"),
    ({"email": "not-an-email"}, "Enter a valid e-mail address"),
])
def test_bad_funders_are_refused_with_a_message(client, db, world, changes, message):
    login(client, world["coordinator"].email)
    response = post(client, "/t/cremona/funders/", {**FORM, **changes}, token_from="/t/cremona/funders/")
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _funders(db, world["territory"]) == []


def test_employer_with_a_valid_vat_number_and_duplicate_names_refused(client, db, world, make):
    login(client, world["coordinator"].email)
    employer = {**FORM, "name": "Rossi S.p.A.", "kind": "employer", "vat_number": "IT 12345670199",
                "fiscal_code": "12345670199"}
    assert post(client, "/t/cremona/funders/", employer, token_from="/t/cremona/funders/").status_code == 302
    (funder,) = _funders(db, world["territory"])
    assert funder.vat_number == "12345670199" and funder.is_employer
    again = post(client, "/t/cremona/funders/", {**employer, "name": "rossi s.p.a."},
                 token_from="/t/cremona/funders/")
    assert again.status_code == 422 and "There is already a funder called" in again.get_data(as_text=True)
    # The same name in another territory is fine: names are unique per territory.
    other = make.territory("lodi")
    make.funder(other, name="Comune di Cremona")
    assert post(client, "/t/cremona/funders/", FORM, token_from="/t/cremona/funders/").status_code == 302
    assert len(_funders(db, world["territory"])) == 2


def test_officers_cannot_create_funders_and_see_only_their_own(client, db, world, make):
    mine = make.funder(world["territory"], name="Comune di Crema")
    other = make.funder(world["territory"], name="Comune di Soresina")
    officer = make.funder_officer(mine, locale="en")
    login(client, officer.email)
    page = client.get("/t/cremona/funders/").get_data(as_text=True)
    assert "Comune di Crema" in page and "Comune di Soresina" not in page and "Add a funder" not in page
    assert post(client, "/t/cremona/funders/", FORM, token_from="/t/cremona/funders/").status_code == 403
    assert client.get(f"/t/cremona/funders/{mine.id}/").status_code == 200
    assert client.get(f"/t/cremona/funders/{other.id}/").status_code == 403


def test_citizens_and_other_territories_are_kept_out(client, world, make):
    funder = make.funder(world["territory"])
    citizen = make.user(locale="en")
    login(client, citizen.email)
    assert client.get("/t/cremona/funders/").status_code == 403
    assert client.get(f"/t/cremona/funders/{funder.id}/").status_code == 403
    assert post(client, "/t/cremona/funders/", FORM).status_code == 403
    # A coordinator of another territory asking for this funder under their own: 404.
    other = make.territory("lodi")
    client.get("/account/logout")
    coordinator = make.coordinator(other, locale="en")
    client2 = client.application.test_client()
    login(client2, coordinator.email)
    assert client2.get(f"/t/lodi/funders/{funder.id}/").status_code == 404


def _link(db, to):
    db.session.expire_all()
    message = db.session.execute(select(OutboxMessage).where(OutboxMessage.to_email == to)
                                 .order_by(OutboxMessage.id.desc())).scalars().first()
    assert message is not None
    url = re.search(r"https?://\S+", message.body_text).group(0)
    return message, "/" + url.split("/", 3)[3]


def test_officer_invited_by_a_coordinator_accepts_and_invites_a_colleague(app, client, db, world, make):
    funder = make.funder(world["territory"], name="Comune di Crema")
    login(client, world["coordinator"].email)
    home = f"/t/cremona/funders/{funder.id}/"
    response = post(client, f"/t/cremona/funders/{funder.id}/officers", {"email": "Anna@Crema.example"},
                    token_from=home)
    assert response.status_code == 302
    assert "anna@crema.example" in client.get(home).get_data(as_text=True)  # pending invitation
    message, link = _link(db, "anna@crema.example")
    assert "Comune di Crema" in message.subject

    officer_client = app.test_client()
    response = post(officer_client, link, {"full_name": "Anna Verdi", "password": "password-sicura-1",
                                           "confirm": "password-sicura-1"}, token_from=link)
    assert response.status_code == 302 and response.headers["Location"].endswith(home)
    with territory_scope(world["territory"].id):
        membership = db.session.execute(select(Membership).where(Membership.role == Membership.FUNDER)).scalar_one()
        assert membership.funder_id == funder.id
    page = officer_client.get(home).get_data(as_text=True)
    assert "Anna Verdi" in page  # in the team list

    # The officer invites a colleague to the same funder; a second invitation to a member is refused.
    assert post(officer_client, f"/t/cremona/funders/{funder.id}/officers", {"email": "bruno@crema.example"},
                token_from=home).status_code == 302
    again = post(officer_client, f"/t/cremona/funders/{funder.id}/officers", {"email": "anna@crema.example"},
                 token_from=home)
    assert again.status_code == 422
    with territory_scope(world["territory"].id):
        invitation = db.session.execute(select(Invitation).where(
            Invitation.email == "bruno@crema.example")).scalar_one()
        assert invitation.funder_id == funder.id and invitation.role == Membership.FUNDER
    # Withdrawn by the officer: it disappears from the page.
    assert post(officer_client, f"/t/cremona/funders/{funder.id}/invitations/{invitation.id}/revoke", {},
                token_from=home).status_code == 302
    officer_client.get(home)  # shows the flash message naming the address
    assert "bruno@crema.example" not in officer_client.get(home).get_data(as_text=True)


def test_an_officer_cannot_invite_to_another_funder(client, world, make):
    mine = make.funder(world["territory"])
    other = make.funder(world["territory"])
    officer = make.funder_officer(mine, locale="en")
    login(client, officer.email)
    response = post(client, f"/t/cremona/funders/{other.id}/officers", {"email": "x@example.org"},
                    token_from=f"/t/cremona/funders/{mine.id}/")
    assert response.status_code == 403
