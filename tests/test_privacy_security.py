"""Least privilege and audit (issue 12), through HTTP.

- A help desk or cooperative counter of one territory finds only citizens related to that
  territory: another territory's coordinator and the platform operator are not found (not
  their name, not their e-mail, not even that an account exists), and registering such an
  address books on the account without showing its data. Look-ups are rate-limited per
  operator and written to the audit log, the searched value masked and hashed.
- Coordinators act for a funder only as far as its officers delegate ("read aggregates" or
  "also review applications"), revocable; platform operators likewise.
- Every download of an application document and every decision is in the audit log, with
  who and why; the funder's officers read it, coordinators only with the "review" delegation.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from marketplace.models import Application, AuditEntry, Membership, Order, OutboxMessage, User
from tenants.scoping import territory_scope
from tests.conftest import login, post
from tests.funding.test_review import application, document

# --------------------------------------------------------------------------- desks' look-up


@pytest.fixture
def desks(app, make):
    """Cremona with its coordinator; Sondrio with a help desk, a cooperative counter and a date;
    a platform operator. The coordinator and the operator are even 'known' in Sondrio (a
    beneficiary record each): accounts with a role elsewhere are never shown all the same."""
    cremona = make.territory("cremona")
    sondrio = make.territory("sondrio")
    coordinator = make.coordinator(cremona, email="carla.coord@cremona.example", full_name="Carla Coordinatrice",
                                   phone="333 111 2222", locale="en")
    operator = make.user(email="ada.ops@platform.example", full_name="Ada Operatrice", phone="333 444 5555",
                         is_platform_admin=True, locale="en")
    coop = make.cooperative(sondrio, name="Cooperativa Valtellina")
    make.beneficiary(coop, user_id=coordinator.id)
    make.beneficiary(coop, user_id=operator.id)
    service = make.service(coop, status="published", title="Gita in montagna")
    slot = make.slot(service, capacity=5, types=(("Gratuito", 0, None),))
    helpdesk = make.user(email="sportello@sondrio.example", full_name="Sara Sportello", locale="en")
    make.membership(sondrio, helpdesk, Membership.HELP_DESK)
    staff = make.staff(coop, email="staff@valtellina.example", full_name="Stefano Staff", locale="en")
    known = make.user(email="luisa.known@example.org", full_name="Luisa Conosciuta", phone="347 000 1111")
    make.beneficiary(coop, user_id=known.id)
    stranger = make.user(email="bruno.stranger@example.org", full_name="Bruno Sconosciuto", phone="347 999 8888")
    return SimpleNamespace(cremona=cremona, sondrio=sondrio, coordinator=coordinator, operator=operator, coop=coop,
                           slot=slot, helpdesk=helpdesk, staff=staff, known=known, stranger=stranger,
                           desk_base="/t/sondrio/helpdesk", counter_base=f"/t/sondrio/cooperative/{coop.id}/assisted")


def _find(client, base, contact):
    return post(client, f"{base}/", {"find-contact": contact}, token_from=f"{base}/")


def _register(client, base, name, email="", phone=""):
    return post(client, f"{base}/citizens/new", {"new-full_name": name, "new-email": email, "new-phone": phone,
                                                 "new-language": "en"}, token_from=f"{base}/")


def _neutral(page: str, contact: str) -> str:
    """The page with the searched value and the per-request tokens taken out."""
    page = page.replace(contact, "<searched>")
    return re.sub(r"[A-Za-z0-9_\-.]{40,}", "<token>", page)


@pytest.mark.parametrize("who", ["helpdesk", "staff"])
def test_a_desk_learns_nothing_of_another_territorys_coordinator_or_the_platform_operator(app, desks, who):
    client = app.test_client()
    login(client, getattr(desks, who).email)
    base = desks.desk_base if who == "helpdesk" else desks.counter_base
    nobody = _find(client, base, "nessuno.mai@example.org")
    assert nobody.status_code == 200
    for person in (desks.coordinator, desks.operator):
        for contact in (person.email, person.email.upper(), person.phone):
            response = _find(client, base, contact)
            assert response.status_code == 200
            page = response.get_data(as_text=True)
            assert person.full_name not in page
            assert f"citizen={person.id}" not in page
            assert person.email not in page.lower().replace(contact.lower(), "")
            # Not even that an account exists: the page is the one for an address nobody has.
            if "@" in contact:
                assert _neutral(page, contact) == _neutral(nobody.get_data(as_text=True), "nessuno.mai@example.org")
            assert "No account has this e-mail or phone number" in page
        # And the booking pages refuse the id typed into a URL.
        assert client.get(f"{base}/services?citizen={person.id}").status_code == 302


def test_citizens_known_in_the_territory_are_found_strangers_are_not(app, desks):
    client = app.test_client()
    login(client, desks.helpdesk.email)
    page = _find(client, desks.desk_base, "LUISA.known@example.org").get_data(as_text=True)
    assert "Luisa Conosciuta" in page and f"citizen={desks.known.id}" in page
    assert "Luisa Conosciuta" in _find(client, desks.desk_base, "+39 347 0001111").get_data(as_text=True)
    # An account with no record in Sondrio is not found, by e-mail nor by phone.
    for contact in (desks.stranger.email, "347 999 8888"):
        page = _find(client, desks.desk_base, contact).get_data(as_text=True)
        assert "Bruno Sconosciuto" not in page and f"citizen={desks.stranger.id}" not in page


def test_registering_an_address_with_an_account_elsewhere_books_on_it_without_showing_it(app, db, desks):
    client = app.test_client()
    login(client, desks.helpdesk.email)
    fresh = _register(client, desks.desk_base, "Nuova Persona", email="nuova.persona@example.org")
    assert fresh.status_code == 302
    fresh_page = client.get(fresh.headers["Location"]).get_data(as_text=True)
    assert "Nuova Persona is registered at this desk: we sent them an e-mail about it." in fresh_page, fresh_page
    # The same answer for an address that has an account elsewhere (a coordinator's, even).
    existing = _register(client, desks.desk_base, "Carla C.", email=desks.coordinator.email.upper())
    assert existing.status_code == 302
    page = client.get(existing.headers["Location"]).get_data(as_text=True)
    assert "Carla C. is registered at this desk: we sent them an e-mail about it." in page
    assert "Carla Coordinatrice" not in page and "333 111 2222" not in page and "+393331112222" not in page
    assert f"citizen={desks.coordinator.id}" in existing.headers["Location"]
    # No second account; the coordinator's own account is untouched and its holder is told.
    db.session.expire_all()
    accounts = db.session.execute(select(User).where(User.email == desks.coordinator.email)).scalars().all()
    assert len(accounts) == 1 and accounts[0].full_name == "Carla Coordinatrice" and accounts[0].password_hash
    told = db.session.execute(select(OutboxMessage).where(OutboxMessage.to_email == desks.coordinator.email)
                              ).scalars().all()
    assert len(told) == 1 and "Carla C." in told[0].body_text
    # The desk books for them and sees only what it typed.
    response = post(client, f"{desks.desk_base}/book/{desks.slot.id}?citizen={desks.coordinator.id}",
                    {f"qty-{_type_id(app, desks.slot)}": "1", "consent": "y"}, token_from=f"{desks.desk_base}/")
    assert response.status_code == 302
    confirmation = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Carla C." in confirmation and "Carla Coordinatrice" not in confirmation
    with territory_scope(desks.sondrio.id):
        (order,) = db.session.execute(select(Order)).scalars().all()
        assert order.user_id == desks.coordinator.id
    # Found again by the desk, still as typed.
    page = _find(client, desks.desk_base, desks.coordinator.email).get_data(as_text=True)
    assert "Carla C." in page and "Carla Coordinatrice" not in page and "333 111 2222" not in page
    # Registering it again says "search for it", as for any address the desk can find.
    again = _register(client, desks.desk_base, "Carla", email=desks.coordinator.email)
    assert again.status_code == 422 and "already exists: search for it" in again.get_data(as_text=True)


def _type_id(app, slot) -> int:
    from marketplace.extensions import db
    from marketplace.models import TicketType
    from tenants.scoping import unscoped

    with app.app_context(), unscoped():
        return db.session.execute(select(TicketType.id).where(TicketType.slot_id == slot.id)).scalar_one()


def test_look_ups_are_rate_limited_per_operator(app, desks, make, monkeypatch):
    monkeypatch.setitem(app.config, "LOOKUP_RATE_LIMIT", "3 per minute")
    client = app.test_client()
    login(client, desks.helpdesk.email)
    for n in range(3):
        assert _find(client, desks.desk_base, f"someone{n}@example.org").status_code == 200
    assert _find(client, desks.desk_base, "one.more@example.org").status_code == 429
    # Registering an address counts too (it is a look-up in disguise).
    assert _register(client, desks.desk_base, "X", email="x@example.org").status_code == 429
    # Another operator has their own budget.
    colleague = make.user(locale="en")
    make.membership(desks.sondrio, colleague, Membership.HELP_DESK)
    other = app.test_client()
    login(other, colleague.email)
    assert _find(other, desks.desk_base, "one.more@example.org").status_code == 200


def test_every_look_up_is_audited_masked_and_hashed(app, db, desks, make):
    client = app.test_client()
    login(client, desks.helpdesk.email)
    _find(client, desks.desk_base, desks.coordinator.email)
    _find(client, desks.desk_base, "  Luisa.Known@example.org ")
    staff = app.test_client()
    login(staff, desks.staff.email)
    _find(staff, desks.counter_base, "347 000 1111")
    with territory_scope(desks.sondrio.id):
        db.session.expire_all()
        rows = db.session.execute(select(AuditEntry).where(AuditEntry.action == "looked_up")
                                  .order_by(AuditEntry.id)).scalars().all()
    assert [r.user_id for r in rows] == [desks.helpdesk.id, desks.helpdesk.id, desks.staff.id]
    assert [r.cooperative_id for r in rows] == [None, None, desks.coop.id]
    for row in rows:
        text = f"{row.subject} {row.detail} {row.reason}".lower()
        assert "carla.coord" not in text and "luisa.known" not in text and "3470001111" not in text
    assert rows[0].detail.startswith("not found") and rows[1].detail.startswith("found (1)")
    assert rows[2].detail.startswith("found (1)")
    key = app.config["SECRET_KEY"].encode()
    for row, value in zip(rows, (desks.coordinator.email, "luisa.known@example.org", "+393470001111")):
        assert hmac.new(key, value.encode(), hashlib.sha256).hexdigest() in row.detail
    assert rows[1].subject == "citizen-lookup:l•••@e•••.org"
    # The territory's coordinators read them.
    coordinator = app.test_client()
    login(coordinator, make.coordinator(desks.sondrio, locale="en").email)
    page = coordinator.get("/t/sondrio/coordinator/audit").get_data(as_text=True)
    assert "Looked up a citizen" in page and "l•••@e•••.org" in page and "Sara Sportello" in page


# --------------------------------------------------------------------------- funder delegation


@pytest.fixture
def funding(app, make):
    territory = make.territory("cremona")
    funder = make.funder(territory, name="Comune di Cremona")
    officer = make.funder_officer(funder, email="ufficio@comune.example", full_name="Olga Ufficio", locale="en")
    programme = make.programme(funder, title="Buoni nido", budget_cents=100_000, value_cents=10_000)
    citizen = make.user(email="giulia@example.org", full_name="Giulia Rossi", locale="en")
    world = dict(territory=territory, funder=funder, officer=officer, programme=programme, citizen=citizen)
    item = application(make, world)
    doc = document(app, item)
    coordinator = make.coordinator(territory, email="coord@cremona.example", full_name="Cora Coord", locale="en")
    base = f"/t/cremona/funders/{funder.id}"
    return SimpleNamespace(territory=territory, funder=funder, officer=officer, programme=programme, item=item,
                           doc=doc, coordinator=coordinator, base=base,
                           dashboard=f"{base}/dashboard", queue=f"{base}/programmes/{programme.id}/applications",
                           application=f"{base}/applications/{item.id}",
                           document=f"{base}/applications/{item.id}/documents/{doc.id}",
                           statement=f"{base}/statement.pdf")


def _as(app, email):
    client = app.test_client()
    login(client, email)
    return client


def _delegate(officer_client, f, level, confirm=True):
    data = {"level": level}
    if confirm:
        data["confirm"] = "y"
    return post(officer_client, f"{f.base}/delegation", data, token_from=f"{f.base}/delegation")


def test_without_a_delegation_a_coordinator_sees_the_funder_listed_and_nothing_else(app, funding, make):
    coordinator = _as(app, funding.coordinator.email)
    listing = coordinator.get("/t/cremona/funders/")
    assert listing.status_code == 200 and "Comune di Cremona" in listing.get_data(as_text=True)
    home = coordinator.get(f"{funding.base}/")
    assert home.status_code == 200
    home_page = home.get_data(as_text=True)
    assert "Invite an officer" not in home_page  # the funder has its officers
    assert f"{funding.base}/dashboard" not in home_page and "New programme" not in home_page
    assert "has not delegated its data" in home_page
    for url in (funding.dashboard, f"{funding.dashboard}.csv", funding.statement, funding.queue,
                funding.application, funding.document, f"{funding.base}/programmes/{funding.programme.id}/"):
        assert coordinator.get(url).status_code == 403, url
    response = post(coordinator, f"{funding.application}/approve", {"approve-message": ""},
                    token_from="/t/cremona/funders/")
    assert response.status_code == 403
    assert post(coordinator, f"{funding.base}/officers", {"email": "me@cremona.example"},
                token_from="/t/cremona/funders/").status_code == 403
    # Platform operators, who may act on coordination pages, no more.
    admin = _as(app, make.user(is_platform_admin=True, locale="en").email)
    for url in (funding.dashboard, funding.queue, funding.document):
        assert admin.get(url).status_code == 403, url
    # The delegation page and the funder's audit log are the officers' own.
    assert coordinator.get(f"{funding.base}/delegation").status_code == 403
    assert _delegate(coordinator, funding, "review").status_code == 403
    assert coordinator.get(f"{funding.base}/audit").status_code == 403


def test_a_funder_being_set_up_is_the_coordinations_until_its_first_officer(app, make, funding):
    fresh = make.funder(funding.territory, name="Comune di Crema")
    coordinator = _as(app, funding.coordinator.email)
    assert coordinator.get(f"/t/cremona/funders/{fresh.id}/dashboard").status_code == 200
    assert post(coordinator, f"/t/cremona/funders/{fresh.id}/officers", {"email": "primo@crema.example"},
                token_from="/t/cremona/funders/").status_code == 302
    make.funder_officer(fresh)
    assert coordinator.get(f"/t/cremona/funders/{fresh.id}/dashboard").status_code == 403
    assert post(coordinator, f"/t/cremona/funders/{fresh.id}/officers", {"email": "secondo@crema.example"},
                token_from="/t/cremona/funders/").status_code == 403


def test_read_then_review_then_revoked(app, db, funding):
    officer = _as(app, funding.officer.email)
    coordinator = _as(app, funding.coordinator.email)
    page = officer.get(f"{funding.base}/delegation")
    assert page.status_code == 200 and "No delegation" in page.get_data(as_text=True)
    # Without the confirmation box nothing is granted.
    refused = _delegate(officer, funding, "read", confirm=False)
    assert refused.status_code == 422 and "Tick the box" in refused.get_data(as_text=True)
    bad = _delegate(officer, funding, "everything")
    assert bad.status_code == 422
    assert coordinator.get(funding.dashboard).status_code == 403

    assert _delegate(officer, funding, "read").status_code == 302
    home = coordinator.get(f"{funding.base}/").get_data(as_text=True)
    assert f"{funding.base}/dashboard" in home and "New programme" not in home
    assert coordinator.get(funding.dashboard).status_code == 200
    assert coordinator.get(f"{funding.dashboard}.csv").status_code == 200
    assert coordinator.get(funding.statement).status_code == 200
    for url in (funding.queue, funding.application, funding.document):
        assert coordinator.get(url).status_code == 403, url

    assert _delegate(officer, funding, "review").status_code == 302
    for url in (funding.dashboard, funding.queue, funding.application, funding.document):
        assert coordinator.get(url).status_code == 200, url

    revoked = post(officer, f"{funding.base}/delegation/revoke", {}, token_from=f"{funding.base}/delegation")
    assert revoked.status_code == 302
    for url in (funding.dashboard, funding.queue, funding.document):
        assert coordinator.get(url).status_code == 403, url
    history = officer.get(f"{funding.base}/delegation").get_data(as_text=True)
    assert "No delegation" in history and history.count("revoked on") == 2
    with territory_scope(funding.territory.id):
        db.session.expire_all()
        actions = [(e.action, e.subject, e.user_id) for e in db.session.execute(
            select(AuditEntry).where(AuditEntry.funder_id == funding.funder.id,
                                     AuditEntry.action.in_(("delegated", "delegation_revoked")))
            .order_by(AuditEntry.id)).scalars()]
    assert actions == [("delegated", "delegation:read", funding.officer.id),
                           ("delegated", "delegation:review", funding.officer.id),
                           ("delegation_revoked", "delegation:review", funding.officer.id)]


# --------------------------------------------------------------------------- audit of documents and decisions


def _audit(db, funding, action):
    with territory_scope(funding.territory.id):
        db.session.expire_all()
        return db.session.execute(select(AuditEntry).where(AuditEntry.action == action)
                                  .order_by(AuditEntry.id)).scalars().all()


def test_document_downloads_and_decisions_are_audited_with_who_and_why(app, db, make, funding):
    officer = _as(app, funding.officer.email)
    assert officer.get(funding.document).status_code == 200
    (download,) = _audit(db, funding, "downloaded")
    assert download.user_id == funding.officer.id and download.funder_id == funding.funder.id
    assert download.subject == f"document:{funding.doc.id}:application:{funding.item.id}"
    assert download.reason and download.at is not None

    reason = "ISEE oltre la soglia del bando"
    other = application(make, {"programme": funding.programme, "citizen": make.user()}, name="Anna")
    more = application(make, {"programme": funding.programme, "citizen": make.user()}, name="Bea")
    assert post(officer, f"{funding.application}/reject", {"reject-message": reason, "reject-seen_status": "submitted"},
                token_from=funding.application).status_code == 302
    ask = "Manca il certificato di residenza"
    assert post(officer, f"{funding.base}/applications/{other.id}/needs-info",
                {"needs_info-message": ask, "needs_info-seen_status": "submitted"},
                token_from=funding.application).status_code == 302
    assert post(officer, f"{funding.base}/applications/{more.id}/approve",
                {"approve-message": "", "approve-seen_status": "submitted"},
                token_from=funding.application).status_code == 302
    (rejected,) = _audit(db, funding, Application.REJECTED)
    assert (rejected.user_id, rejected.subject, rejected.reason, rejected.funder_id) == (
        funding.officer.id, f"application:{funding.item.id}", reason, funding.funder.id)
    assert rejected.detail == "submitted -> rejected"
    (needs_info,) = _audit(db, funding, Application.NEEDS_INFO)
    assert needs_info.reason == ask and needs_info.subject == f"application:{other.id}"
    (approved,) = _audit(db, funding, Application.APPROVED)
    assert approved.subject == f"application:{more.id}"

    # The funder's officers read them on their own audit page.
    page = officer.get(f"{funding.base}/audit").get_data(as_text=True)
    assert reason in page and ask in page and "Olga Ufficio" in page
    assert f"Document {funding.doc.id} of application {funding.item.id}" in page

    # Coordinators see them on theirs only once the funder delegated the review to them.
    coordinator = _as(app, funding.coordinator.email)
    page = coordinator.get("/t/cremona/coordinator/audit").get_data(as_text=True)
    assert reason not in page and f"Document {funding.doc.id}" not in page
    _delegate(officer, funding, "read")
    page = coordinator.get("/t/cremona/coordinator/audit").get_data(as_text=True)
    assert reason not in page and "Delegated" in page  # their own access, always shown
    _delegate(officer, funding, "review")
    assert coordinator.get(funding.document).status_code == 200
    page = coordinator.get("/t/cremona/coordinator/audit").get_data(as_text=True)
    assert reason in page and f"Document {funding.doc.id} of application {funding.item.id}" in page
    assert "Cora Coord" in page  # the coordinator's own download is there too
    downloads = _audit(db, funding, "downloaded")
    assert [d.user_id for d in downloads] == [funding.officer.id, funding.coordinator.id]
