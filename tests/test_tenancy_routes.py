"""Every route that takes an object id, tried with objects of another territory.

A user who holds every role in both territories asks territory A's URLs for territory B's
objects: each must answer 404. A negative control switches the automatic scope off and
shows the same walk then finds leaks, so this test really depends on the scope.
"""
from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import pytest
from sqlalchemy import event

from marketplace.app import create_app
from marketplace import storage
from marketplace.models import (
    ApiToken, Application, ApplicationDocument, DeliveryImport, Invitation, Membership, Order, Payment, ReportRun,
    ServiceRequest, WaitlistEntry,
)
from marketplace.models.base import utcnow
from marketplace.services.hsds import organization_id
from tests.conftest import csrf_token, login

# Which fixture object each id argument names. A new id-taking route whose argument is
# not listed here fails test_every_id_route_is_covered until it is added.
TENANT_ID_ARGS = {"coop_id": "cooperative", "invitation_id": "invitation",
                  "category_id": "category", "municipality_id": "municipality",
                  "service_id": "service", "image_id": "image", "organization_id": "cooperative", "code": "order", "payment_id": "payment",
                  "slot_id": "slot", "request_id": "service_request", "request_code": "service_request",
                  "waitlist_entry_id": "waitlist_entry", "funder_id": "funder", "programme_id": "programme",
                  "application_id": "application", "document_id": "application_document",
                  "voucher_id": "voucher", "employee_id": "employee", "invite_code": "employee",
                  "report_id": "report_run", "indicator_id": "indicator", "beneficiary_id": "beneficiary",
                  "import_id": "delivery_import", "token_id": "api_token"}
# Arguments that are not ids of anything: the walk gives them a fixed, valid value.
VALUE_ARGS = {"month": "2025-03"}
# Arguments naming the territory: /t/<territory>/... and the JSON API's /api/v1/territories/<slug>/...
TERRITORY_ARGS = {"territory", "slug"}
# Platform-wide admin pages take ids of platform objects (territories, domains, outbox);
# they are guarded by the operator role instead (see test_admin).
PLATFORM_ID_ARGS = {"territory_id", "domain_id", "message_id"}


def _id_routes():
    app = create_app("testing", SQLALCHEMY_DATABASE_URI="sqlite://")
    routes = []
    for rule in app.url_map.iter_rules():
        args = set(rule.arguments) - TERRITORY_ARGS - {"token", "filename"} - set(VALUE_ARGS)
        if not args or not TERRITORY_ARGS & set(rule.arguments):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append(pytest.param(rule.rule, method, sorted(args), id=f"{method} {rule.rule}"))
    return routes, app


ID_ROUTES, _MAP_APP = _id_routes()


def test_every_id_route_is_covered():
    for rule in _MAP_APP.url_map.iter_rules():
        unknown = (set(rule.arguments) - TERRITORY_ARGS - {"token", "filename"} - set(TENANT_ID_ARGS)
                   - PLATFORM_ID_ARGS - set(VALUE_ARGS))
        assert not unknown, f"{rule.rule}: add {unknown} to TENANT_ID_ARGS"
    assert len(ID_ROUTES) >= 8


@pytest.fixture
def world(make):
    a, b = make.territory("alpha"), make.territory("beta")
    objects = {}
    for territory in (a, b):
        coop = make.cooperative(territory)
        invitation, _ = make.invitation(territory, email=f"new@{territory.slug}.example",
                                        role=Membership.STAFF, cooperative=coop)
        objects[territory.slug] = {"cooperative": coop, "invitation": invitation}
        objects[territory.slug]["category"] = make.category(territory, name=f"Nido {territory.slug}")
        objects[territory.slug]["municipality"] = make.municipality(territory, name=f"Comune {territory.slug}")
        # Published, so that citizens' pages (service page, images) serve it too.
        objects[territory.slug]["service"] = service = make.service(
            coop, title=f"Nido {territory.slug}", status="published")
        objects[territory.slug]["image"] = make.service_image(service)
        objects[territory.slug]["slot"] = make.slot(service, capacity=10, starts_in=dt.timedelta(days=7))
    user = make.user(email="everything@example.org")
    for territory in (a, b):
        make.membership(territory, user, Membership.COORDINATOR)
        make.membership(territory, user, Membership.STAFF, objects[territory.slug]["cooperative"])
        # The same citizen's booking in each territory: only the scope keeps them apart.
        objects[territory.slug]["order"] = order = make._save(Order(
            territory_id=territory.id, user_id=user.id, email=user.email, status=Order.PAID,
            booked_by_id=user.id))  # as if booked at a desk: the assisted-booking pages show it
        objects[territory.slug]["payment"] = make._save(Payment(
            territory_id=territory.id, order_id=order.id, provider="stripe", amount_cents=0))
        # An accepted request of the same citizen (so its calendar file is served too).
        objects[territory.slug]["service_request"] = make._save(ServiceRequest(
            territory_id=territory.id, service_id=objects[territory.slug]["service"].id, user_id=user.id,
            email=user.email, beneficiary_name="Anna", status=ServiceRequest.ACCEPTED,
            starts_at=utcnow() + dt.timedelta(days=3)))
        objects[territory.slug]["waitlist_entry"] = make._save(WaitlistEntry(
            territory_id=territory.id, slot_id=objects[territory.slug]["slot"].id, user_id=user.id,
            email=user.email, quantity=1))
        # Funding: a municipality's programme with the same citizen's application, its
        # document and a voucher; an employer with an employee not yet joined.
        objs = objects[territory.slug]
        objs["funder"] = funder = make.funder(territory, name=f"Comune {territory.slug}")
        objs["employer"] = employer = make.funder(territory, kind="employer", name=f"Azienda {territory.slug}")
        for own in (funder, employer):  # an officer too: the funders' own pages (delegation, audit log)
            make._save(Membership(territory_id=territory.id, user_id=user.id, role=Membership.FUNDER,
                                  funder_id=own.id))
        objs["funder_invitation"] = make._save(Invitation(
            territory_id=territory.id, email=f"officer@{territory.slug}.example", role=Membership.FUNDER,
            funder_id=funder.id, token_hash=f"{territory.slug:0<64}"[:64], expires_at=utcnow() + dt.timedelta(days=7)))
        objs["programme"] = programme = make.programme(funder, documents=["ISEE"])
        objs["application"] = application = make._save(Application(
            territory_id=territory.id, programme_id=programme.id, user_id=user.id, beneficiary_name="Anna",
            status=Application.SUBMITTED, submitted_at=utcnow()))  # officers never see drafts
        with make.app.app_context():
            stored = storage.save(territory.id, b"%PDF-1.4 test", "pdf")
        objs["application_document"] = make._save(ApplicationDocument(
            territory_id=territory.id, application_id=application.id, label="ISEE", filename="isee.pdf",
            content_type="application/pdf", size_bytes=stored.size, storage_key=stored.key, sha256=stored.sha256))
        objs["voucher"] = make.voucher(programme, user)
        objs["indicator"] = make.indicator(territory, f"autonomy_{territory.slug}", kind="scale_1_5")
        objs["beneficiary"] = make.beneficiary(objects[territory.slug]["cooperative"], f"PZ-{territory.slug}")
        objs["delivery_import"] = make._save(DeliveryImport(
            territory_id=territory.id, cooperative_id=objs["cooperative"].id, filename="x.csv", storage_key="k",
            status="failed", errors=[]))
        objs["api_token"] = make._save(ApiToken(territory_id=territory.id, cooperative_id=objs["cooperative"].id,
                                                name="t", token_hash=f"{territory.slug:1<64}"[:64]))
        with make.app.app_context():
            report_file = storage.save(territory.id, b"%PDF-1.4 report", "pdf")
        objs["report_run"] = make._save(ReportRun(
            territory_id=territory.id, funder_id=funder.id, date_from=dt.date(2026, 1, 1),
            date_to=dt.date(2026, 6, 30), format="pdf", status=ReportRun.READY, progress=100,
            storage_key=report_file.key, filename="report.pdf", size_bytes=report_file.size))
        objs["employee"] = make.employee(employer)
    return a, b, objects, user


RULE_ARG = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")  # <arg>, <int:arg>, <int(max=9):arg>


def _url(rule: str, slug: str, args, objs) -> str:
    def value(match) -> str:
        converter, arg = match.groups()
        if arg in TERRITORY_ARGS:
            return slug
        if arg in VALUE_ARGS:
            return VALUE_ARGS[arg]
        obj = objs[TENANT_ID_ARGS[arg]]
        if arg == "code" and rule.startswith("/t/<territory>/applications/"):
            obj = objs["application"]  # a programme application's code, not an order's
        if arg == "funder_id" and ("/employees" in rule or "/credits" in rule):
            obj = objs["employer"]
        if arg == "invitation_id" and "/funders/" in rule:
            obj = objs["funder_invitation"]
        if arg == "invite_code":
            return obj.invite_code
        if arg in ("code", "request_code"):
            return obj.code
        if converter != "uuid":
            return str(obj.id)
        # HSDS: a service by public_id; an organization by the id derived as if it belonged
        # to the territory asked (so only the scope stops it).
        return obj.public_id if arg == "service_id" else organization_id(SimpleNamespace(slug=slug), obj)

    return RULE_ARG.sub(value, rule)


def _request(client, method, url):
    if method == "GET":
        return client.get(url)
    return client.post(url, data={"csrf_token": csrf_token(client), "email": "x@example.org",
                                  "status": "accredited", "name": "X"})


@pytest.mark.parametrize("rule,method,args", ID_ROUTES)
def test_object_of_another_territory_answers_404(client, world, rule, method, args):
    a, b, objects, user = world
    login(client, user.email)
    response = _request(client, method, _url(rule, a.slug, args, objects["beta"]))
    assert response.status_code == 404, response.get_data(as_text=True)[:500]


@pytest.mark.parametrize("rule,method,args", ID_ROUTES)
def test_same_route_with_own_object_is_served(client, world, rule, method, args):
    """Positive control: the 404 above comes from the territory, not from a broken route."""
    a, b, objects, user = world
    login(client, user.email)
    response = _request(client, method, _url(rule, a.slug, args, objects["alpha"]))
    assert response.status_code in (200, 302, 422), response.get_data(as_text=True)[:500]


@pytest.mark.parametrize("rule,method,args", [r for r in ID_ROUTES if "/public" not in r.values[0]
                                              and ("/coordinator/" in r.values[0] or "/cooperative/" in r.values[0]
                                                   or "/helpdesk/" in r.values[0] or "/funders/" in r.values[0])])
def test_role_of_another_territory_gives_nothing(client, make, world, rule, method, args):
    """A coordinator, staff member and funder officer of territory B is nobody in territory A: 403."""
    a, b, objects, _ = world
    outsider = make.user(email="beta-only@example.org")
    make.membership(b, outsider, Membership.COORDINATOR)
    make.membership(b, outsider, Membership.STAFF, objects["beta"]["cooperative"])
    for funder in (objects["beta"]["funder"], objects["beta"]["employer"]):
        make._save(Membership(territory_id=b.id, user_id=outsider.id, role=Membership.FUNDER, funder_id=funder.id))
    login(client, outsider.email)
    response = _request(client, method, _url(rule, a.slug, args, objects["alpha"]))
    assert response.status_code == 403


@pytest.mark.parametrize("rule,method,args", [r for r in ID_ROUTES
                                              if "/coordinator/" in r.values[0] or "/cooperative/" in r.values[0]
                                              or "/helpdesk/" in r.values[0]])
def test_anonymous_is_sent_to_login(client, world, rule, method, args):
    a, b, objects, _ = world
    response = _request(client, method, _url(rule, a.slug, args, objects["alpha"]))
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert "/account/login" in response.headers["Location"]


def test_negative_control_without_the_scope_the_walk_finds_leaks(client, world, monkeypatch):
    """Switch the automatic scope off: cross-territory reads now succeed, so the
    parametrised test above would fail. Proves it depends on the scope."""
    from marketplace.extensions import MarketplaceSession
    from tenants import scoping

    event.remove(MarketplaceSession, "do_orm_execute", scoping._on_execute)
    monkeypatch.setattr(scoping.ScopedSessionMixin, "get",
                        lambda self, *a, **k: super(scoping.ScopedSessionMixin, self).get(*a, **k))
    try:
        a, b, objects, user = world
        login(client, user.email)
        leaked = []
        for param in ID_ROUTES:
            rule, method, args = param.values
            if method != "GET":
                continue
            response = client.get(_url(rule, a.slug, args, objects["beta"]))
            if response.status_code != 404:
                leaked.append(rule)
        assert leaked, "with scoping off, cross-territory objects should leak"
    finally:
        event.listen(MarketplaceSession, "do_orm_execute", scoping._on_execute)
