"""Coordinators invite cooperatives and colleagues; staff complete their profile."""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from marketplace.models import Cooperative, Invitation, Membership, OutboxMessage, User
from tests.conftest import login, post
from tenants.scoping import territory_scope, unscoped


def _link(db, to):
    message = db.session.execute(select(OutboxMessage).where(OutboxMessage.to_email == to)
                                 .order_by(OutboxMessage.id.desc())).scalars().first()
    assert message is not None
    url = re.search(r"https?://\S+", message.body_text).group(0)
    return "/" + url.split("/", 3)[3]


def test_coordinator_invites_a_cooperative_which_completes_its_profile(app, client, db, make):
    territory = make.territory("cremona")
    coordinator = make.coordinator(territory, email="coord@example.org")
    login(client, coordinator.email)
    response = post(client, "/t/cremona/coordinator/cooperatives/invite",
                    {"name": "Il Melograno", "staff_email": "Staff@Melograno.example"},
                    token_from="/t/cremona/coordinator/cooperatives/invite")
    assert response.status_code == 302
    with territory_scope(territory.id):
        coop = db.session.execute(select(Cooperative)).scalar_one()
    assert coop.status == Cooperative.PENDING

    # The invited person opens the link, creates an account, lands on the cooperative.
    staff_client = app.test_client()
    link = _link(db, "staff@melograno.example")
    assert link.startswith("/t/cremona/account/invitation/")
    response = post(staff_client, link, {"full_name": "Sara Neri", "password": "password-sicura-1",
                                         "confirm": "password-sicura-1"}, token_from=link)
    assert response.status_code == 302
    assert f"/t/cremona/cooperative/{coop.id}/" in response.headers["Location"]
    assert staff_client.get(link).status_code == 400  # single use

    profile = f"/t/cremona/cooperative/{coop.id}/profile"
    bad = post(staff_client, profile, {"name": "Il Melograno", "legal_name": "Il Melograno Soc. Coop.",
                                       "fiscal_code": "12345678901", "vat_number": "12345678901",
                                       "email": "info@melograno.example"}, token_from=profile)
    assert bad.status_code == 422
    assert "partita IVA" in bad.get_data(as_text=True)
    good = post(staff_client, profile, {"name": "Il Melograno", "legal_name": "Il Melograno Soc. Coop.",
                                        "fiscal_code": "12345670199", "vat_number": "IT 12345670199",
                                        "email": "info@melograno.example", "postal_code": "26100",
                                        "province": "CR"}, token_from=profile)
    assert good.status_code == 302
    db.session.expire_all()
    with territory_scope(territory.id):
        coop = db.session.get(Cooperative, coop.id)
        assert coop.vat_number == "12345670199" and coop.legal_name == "Il Melograno Soc. Coop."

    # The coordinator accredits it; it then appears on the territory's home page.
    card = f'href="/t/cremona/cooperatives/{coop.id}"'
    assert card not in client.get("/t/cremona/").get_data(as_text=True)
    status_url = f"/t/cremona/coordinator/cooperatives/{coop.id}/status"
    post(client, status_url, {"status": "accredited"}, token_from="/t/cremona/coordinator/")
    assert card in client.get("/t/cremona/").get_data(as_text=True)
    post(client, status_url, {"status": "suspended"}, token_from="/t/cremona/coordinator/")
    assert card not in client.get("/t/cremona/").get_data(as_text=True)
    assert client.get(f"/t/cremona/cooperatives/{coop.id}").status_code == 404


def test_status_changes_follow_the_life_cycle(client, db, make):
    territory = make.territory("cremona")
    coop = make.cooperative(territory, status=Cooperative.SUSPENDED)
    login(client, make.coordinator(territory).email)
    post(client, f"/t/cremona/coordinator/cooperatives/{coop.id}/status", {"status": "pending"},
         token_from="/t/cremona/coordinator/")
    with territory_scope(territory.id):
        assert db.session.get(Cooperative, coop.id).status == Cooperative.SUSPENDED


def test_invitation_for_another_address_cannot_be_taken(app, client, db, make):
    territory = make.territory("cremona")
    _, raw = make.invitation(territory, email="right@example.org")
    make.user(email="wrong@example.org")
    login(client, "wrong@example.org")
    url = f"/t/cremona/account/invitation/{raw}"
    assert client.get(url).status_code == 403
    response = post(client, url, {}, token_from="/t/cremona/")
    assert response.status_code == 403
    with territory_scope(territory.id):
        assert db.session.execute(select(Membership)).first() is None


def test_existing_user_accepts_after_logging_in(client, db, make):
    territory = make.territory("cremona")
    _, raw = make.invitation(territory, email="anna@example.org")
    user = make.user(email="anna@example.org")
    url = f"/t/cremona/account/invitation/{raw}"
    assert "/account/login" in client.get(url).get_data(as_text=True)
    login(client, "anna@example.org")
    assert post(client, url, {}, token_from=url).status_code == 302
    with territory_scope(territory.id):
        membership = db.session.execute(select(Membership)).scalar_one()
    assert membership.user_id == user.id and membership.role == Membership.COORDINATOR
    assert client.get("/t/cremona/coordinator/").status_code == 200


def test_expired_or_foreign_invitation_is_refused(client, make):
    cremona, milano = make.territory("cremona"), make.territory("milano")
    _, expired = make.invitation(cremona, expires_in=dt.timedelta(seconds=-1))
    assert client.get(f"/t/cremona/account/invitation/{expired}").status_code == 400
    _, other = make.invitation(milano, email="x@example.org")
    # A Milano invitation is unknown in Cremona.
    assert client.get(f"/t/cremona/account/invitation/{other}").status_code == 400
    assert client.get(f"/t/milano/account/invitation/{other}").status_code == 200


def test_coordinator_invites_a_colleague_and_can_revoke(client, db, make):
    territory = make.territory("cremona")
    login(client, make.coordinator(territory).email)
    response = post(client, "/t/cremona/coordinator/team", {"email": "new.coord@example.org"},
                    token_from="/t/cremona/coordinator/team")
    assert response.status_code == 302
    with territory_scope(territory.id):
        invitation = db.session.execute(select(Invitation)).scalar_one()
    assert invitation.role == Membership.COORDINATOR
    post(client, f"/t/cremona/coordinator/invitations/{invitation.id}/revoke", {},
         token_from="/t/cremona/coordinator/team")
    link = _link(db, "new.coord@example.org")
    assert client.get(link).status_code == 400


def test_staff_invite_a_colleague(client, db, make):
    territory = make.territory("cremona")
    coop = make.cooperative(territory)
    login(client, make.staff(coop).email)
    home = f"/t/cremona/cooperative/{coop.id}/"
    response = post(client, f"/t/cremona/cooperative/{coop.id}/colleagues",
                    {"email": "collega@example.org"}, token_from=home)
    assert response.status_code == 302
    with territory_scope(territory.id):
        invitation = db.session.execute(select(Invitation)).scalar_one()
    assert invitation.cooperative_id == coop.id and invitation.role == Membership.STAFF


def test_citizen_has_no_business_in_coordination(client, make):
    make.territory("cremona")
    login(client, make.user().email)
    assert client.get("/t/cremona/coordinator/").status_code == 403
    assert client.get("/t/cremona/cooperative/").status_code == 403
    assert client.get("/admin/").status_code == 403
