"""Platform operators: territories, domains, first coordinators, suspension; and the CLI."""
from __future__ import annotations

from sqlalchemy import func, select

from marketplace.models import Cooperative, Domain, Invitation, Membership, OutboxMessage, Territory, User
from tests.conftest import login, post
from tenants.scoping import territory_scope, unscoped


def _admin(make, client):
    admin = make.user(email="ops@example.org", is_platform_admin=True)
    login(client, admin.email)
    return admin


def test_operator_creates_a_territory_that_answers_at_its_path(client, db, make):
    _admin(make, client)
    response = post(client, "/admin/territories/new", {
        "name": "Welfare Biella", "slug": "biella", "contact_email": "info@biella.example",
        "default_language": "it", "primary_color": "#0b5394", "logo_text": "Biella",
        "welcome_title": "Benvenuti", "intro_text": ""}, token_from="/admin/territories/new")
    assert response.status_code == 302
    home = client.get("/t/biella/")
    assert home.status_code == 200 and "Welfare Biella" in home.get_data(as_text=True)
    assert "Welfare Biella" in client.get("/").get_data(as_text=True)


def test_bad_territory_input_is_explained(client, db, make):
    _admin(make, client)
    make.territory("cremona")
    for slug in ("Cremona!", "admin", "cremona"):
        response = post(client, "/admin/territories/new", {
            "name": "X", "slug": slug, "contact_email": "x@example.org", "default_language": "it",
            "primary_color": "#0b5394"}, token_from="/admin/territories/new")
        assert response.status_code == 422, slug
    low_contrast = post(client, "/admin/territories/new", {
        "name": "X", "slug": "x", "contact_email": "x@example.org", "default_language": "it",
        "primary_color": "#ffff00"}, token_from="/admin/territories/new")
    assert low_contrast.status_code == 422
    assert db.session.execute(select(Territory).where(Territory.slug == "x")).first() is None


def test_mapped_domain_serves_the_territory_at_root(app, client, db, make):
    admin = _admin(make, client)
    territory = make.territory("cremona", name="Welfare Cremona")
    response = post(client, f"/admin/territories/{territory.id}/domains",
                    {"hostname": "welfare.cremona.example"}, token_from="/admin/")
    assert response.status_code == 302
    visitor = app.test_client()
    page = visitor.get("/", base_url="http://welfare.cremona.example")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "Welfare Cremona" in body
    # Links stay on the territory's own domain, without the /t/<slug> prefix.
    assert 'href="/account/login"' in body and "/t/cremona/" not in body
    assert visitor.get("/account/login", base_url="http://welfare.cremona.example").status_code == 200
    # Same domain twice is refused.
    other = make.territory("milano")
    again = post(client, f"/admin/territories/{other.id}/domains",
                 {"hostname": "WELFARE.cremona.example"}, token_from="/admin/")
    assert again.status_code == 422
    domain = db.session.execute(select(Domain)).scalar_one()
    post(client, f"/admin/territories/{territory.id}/domains/{domain.id}/delete", {}, token_from="/admin/")
    # Removing the domain stops it serving the territory: the host is no longer ours (400).
    after = visitor.get("/", base_url="http://welfare.cremona.example")
    assert after.status_code == 400 and "Welfare Cremona" not in after.get_data(as_text=True)


def test_suspended_territory_is_offline_but_kept(client, db, make):
    _admin(make, client)
    territory = make.territory("cremona")
    make.cooperative(territory)
    post(client, f"/admin/territories/{territory.id}/status", {"action": "suspend"}, token_from="/admin/")
    page = client.get("/t/cremona/")
    assert page.status_code == 404
    assert "temporaneamente non disponibile" in page.get_data(as_text=True)
    assert client.get("/t/cremona/account/login").status_code == 404
    with unscoped():
        assert db.session.execute(select(Territory).where(Territory.slug == "cremona")).scalar_one()
    post(client, f"/admin/territories/{territory.id}/status", {"action": "reactivate"}, token_from="/admin/")
    assert client.get("/t/cremona/").status_code == 200


def test_operator_invites_the_first_coordinator(app, client, db, make):
    _admin(make, client)
    territory = make.territory("cremona")
    response = post(client, f"/admin/territories/{territory.id}/coordinators",
                    {"email": "first@cremona.example"}, token_from="/admin/")
    assert response.status_code == 302
    with territory_scope(territory.id):
        invitation = db.session.execute(select(Invitation)).scalar_one()
    assert invitation.role == Membership.COORDINATOR
    outbox = client.get("/admin/outbox").get_data(as_text=True)
    assert "first@cremona.example" in outbox


def test_admin_pages_are_for_operators_only(client, make):
    territory = make.territory("cremona")
    assert client.get("/admin/").status_code == 302
    login(client, make.coordinator(territory).email)
    for url in ("/admin/", "/admin/territories/new", f"/admin/territories/{territory.id}", "/admin/outbox"):
        assert client.get(url).status_code == 403, url


def test_unknown_territory_is_404(client):
    assert client.get("/t/nowhere/").status_code == 404


def test_cli_manages_territories(app, db):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-territory", "biella", "Welfare Biella",
                                 "--contact-email", "info@biella.example"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(args=["create-territory", "biella", "Again",
                               "--contact-email", "x@example.org"]).exit_code != 0
    assert runner.invoke(args=["map-domain", "biella", "welfare.biella.example"]).exit_code == 0
    result = runner.invoke(args=["invite-coordinator", "biella", "coord@biella.example"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(args=["suspend-territory", "biella"]).exit_code == 0
    db.session.expire_all()
    territory = db.session.execute(select(Territory).where(Territory.slug == "biella")).scalar_one()
    assert territory.status == Territory.SUSPENDED
    assert [d.hostname for d in territory.domains] == ["welfare.biella.example"]
    mail = db.session.execute(select(OutboxMessage)).scalar_one()
    # The link is on the territory's mapped domain, where its pages are served at the root.
    assert mail.to_email == "coord@biella.example"
    assert "http://welfare.biella.example/account/invitation/" in mail.body_text
    assert runner.invoke(args=["suspend-territory", "biella", "--reactivate"]).exit_code == 0


def test_seed_demo_is_idempotent_and_complete(app, db):
    from marketplace.models import Category, ChangeRecord, Municipality, Service
    from marketplace.models.catalogue import PRICE_MODELS, VERTICALS
    from marketplace.services import catalogue

    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert "admin@demo.test" in first.output and "demo-password" in first.output

    def counts():
        with unscoped():
            return tuple(db.session.execute(select(func.count(model.id))).scalar_one()
                         for model in (User, Territory, Cooperative, Service, Municipality, Category))

    before = counts()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert counts() == before
    for slug, town in (("cremona", "Pizzighettone"), ("milano", "Rho"), ("sondrio", "Livigno")):
        territory = db.session.execute(select(Territory).where(Territory.slug == slug)).scalar_one()
        with territory_scope(territory.id):
            accredited = db.session.execute(select(Cooperative).where(
                Cooperative.status == Cooperative.ACCREDITED)).scalars().all()
            roles = {m.role for m in db.session.execute(select(Membership)).scalars()}
            assert len(accredited) >= 3 and roles == {"coordinator", "staff", "help_desk", "funder"}

            # The catalogue: real municipalities, sub-categories, services in every state.
            places = {m.name: m for m in db.session.execute(select(Municipality)).scalars()}
            assert len(places) >= 12 and town in places
            assert all(m.latitude and m.longitude and m.population and m.province for m in places.values())
            assert all(c.municipality in places for c in accredited)
            categories = db.session.execute(select(Category)).scalars().all()
            assert {c.vertical for c in categories} == set(VERTICALS) and all(c.name_en for c in categories)
            services = db.session.execute(select(Service)).scalars().all()
            published = [s for s in services if s.status == Service.PUBLISHED]
            assert len(published) >= 40, slug
            assert {s.vertical for s in published} == set(VERTICALS)
            assert {s.price_model for s in published} == set(PRICE_MODELS)
            assert sum(s.status == Service.DRAFT for s in services) >= 2
            assert sum(s.status == Service.IN_REVIEW for s in services) >= 2
            assert {s.cooperative_id for s in published} == {c.id for c in accredited}
            assert all(s.search_text and s.price_from_cents is not None for s in published)
            assert all(s.category is not None and s.category.vertical == s.vertical for s in services)
            assert all(2 <= len(s.price_bands) <= 4 for s in services if s.price_model == "income_based")
            assert all(s.locations for s in services if "at_location" in s.delivery_mode_list)
            assert all(s.areas for s in services if "at_home" in s.delivery_mode_list)
            if slug == "milano":
                abbey = [s for s in published if s.title == "Visite guidate all'Abbazia di Chiaravalle"]
                assert len(abbey) == 1 and abbey[0].vertical == "culture"
                assert abbey[0].locations[0].address == "Via Sant'Arialdo 102"
                assert abbey[0].locations[0].municipality.name == "Milano"
                found = catalogue.search(catalogue.SearchParams(q="abbazia Chiaravalle"))
                assert abbey[0] in found.items
            # Published through the review workflow, by the territory's coordinator.
            coordinator = db.session.execute(select(User).where(
                User.email == f"coordinator.{slug}@demo.test")).scalar_one()
            publications = db.session.execute(select(ChangeRecord).where(
                ChangeRecord.action == "published")).scalars().all()
            assert len(publications) == len(published)
            assert {r.user_id for r in publications} == {coordinator.id}


def test_demo_sells_tickets_for_the_chiaravalle_visit(app, db):
    from marketplace.models import Service, Slot

    assert app.test_cli_runner().invoke(args=["seed-demo"]).exit_code == 0
    milano = db.session.execute(select(Territory).where(Territory.slug == "milano")).scalar_one()
    with territory_scope(milano.id):
        visit = db.session.execute(select(Service).where(
            Service.title.startswith("Visite guidate all'Abbazia di Chiaravalle"))).scalars().first()
        slots = db.session.execute(select(Slot).where(Slot.service_id == visit.id)).scalars().all()
        assert len(slots) == 6
        assert [t.name for t in slots[0].ticket_types][:2] == ["Intero", "Ridotto (over 65, studenti)"]
        assert slots[0].starts_at.astimezone().weekday() in (5, 6)  # Saturday afternoon in Rome
    assert app.test_cli_runner().invoke(args=["seed-demo"]).exit_code == 0
    with territory_scope(milano.id):
        assert len(db.session.execute(select(Slot).where(Slot.service_id == visit.id)).scalars().all()) == 6


def test_demo_citizen_has_a_past_and_an_upcoming_booking(app, db, client):
    from tests.conftest import login

    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert runner.invoke(args=["seed-demo"]).exit_code == 0  # idempotent: no second set
    login(client, "citizen@demo.test", "demo-password")
    page = client.get("/t/cremona/bookings").get_data(as_text=True)
    upcoming, _, past = page.partition('id="past-heading"')
    assert upcoming.count("Laboratorio") == 1 and past.count("Laboratorio") == 1
    desk = client.application.test_client()
    login(desk, "helpdesk.cremona@demo.test", "demo-password")
    assert desk.get("/t/cremona/helpdesk/").status_code == 200
