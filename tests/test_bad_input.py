"""Every form of the app, found from the URL map, submitted with bad input as every role: no 5xx.

For each role (anonymous, citizen, cooperative staff, coordinator, funder officer, help desk,
platform operator) one test walks the whole URL map in a world with one object of every kind
(``world`` of tests/test_tenancy_routes.py, whose way of filling URL arguments is reused):

- every GET route once (its page gives the form fields and the CSRF token);
- every form on those pages with ``method="get"`` (search, filters) and every paginated page,
  with each bad value in every field and in ``page``;
- every route that accepts POST, with the fields of the forms that post to it (or, for a
  button-only action, of the page it belongs to) each set to each bad value, plus a valid
  CSRF token.

Bad values, each in every field at once: a NUL byte, Unicode digits (``²``, ``١٢٣``,
full-width ``１２``, each on its own), a 30-digit number and a 5,000-character string. Every answer must be below 500; all 5xx found are
reported together (one test per role, not per route: the world and the login are made once
per role, which keeps the walk — about 5,000 requests — near two minutes on PostgreSQL).
Routes that end the session (logout, account deletion) run last;
routes that destroy what others need (remove, revoke, cancel...) run after the others.
"""
from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import update

from marketplace.extensions import db
from marketplace.models import (
    Application, Domain, Membership, Order, OutboxMessage, ServiceRequest, User, Voucher, WaitlistEntry,
)
from tenants.scoping import unscoped
from tests.conftest import CSRF_RE, csrf_token, login
from tests.test_tenancy_routes import PLATFORM_ID_ARGS, RULE_ARG, _MAP_APP, _url, world  # noqa: F401 (fixture)

BAD_VALUES = {  # each one in every field of a form at once
    "nul": "1\x00' OR 1=1",
    "superscript two": "²",           # str.isdigit() is True, int() raises
    "arabic-indic digits": "١٢٣",     # int() reads 123
    "full-width digits": "１２",       # int() reads 12
    "30 digits": "9" * 30,
    "5000 chars": "ab" * 2500,
}
BAD_PAGES = ("-1", "9" * 30, "²")

# Routes the walk cannot exercise as they are meant to be used, and why. Nothing else is left out.
NOT_WALKED = {
    "/static/<path:filename>": "static files: no input",
}
# Routes taking a secret token in the URL are walked with a token that matches nothing: their
# forms behind a valid token are tested in their own files (test_accounts, test_invitations,
# surveys); here they must answer the invalid token with a 4xx or a page, never a 500.
DUMMY_TOKEN = "x" * 43
# Walked last: they end the session (the rest of the walk needs it).
SESSION_ENDING = {"account.logout", "account.delete_account", "account.change_password"}
# Walked after the others: they remove or end what other routes need.
DESTRUCTIVE = re.compile(r"/(delete|remove|revoke|cancel|close|withdraw|leave|unpublish|status|send-back|active)$")


class Forms(HTMLParser):
    """The forms of a page: [(method, action or None, enctype, {field name: input type})]."""

    def __init__(self):
        super().__init__()
        self.forms: list[tuple[str, str | None, str, dict[str, str]]] = []
        self._current = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._current = ((attrs.get("method") or "get").lower(), attrs.get("action"),
                             attrs.get("enctype") or "", {})
            self.forms.append(self._current)
        elif tag in ("input", "select", "textarea", "button") and attrs.get("name"):
            fields = self._current[3] if self._current is not None else None
            if fields is not None:
                fields.setdefault(attrs["name"], (attrs.get("type") or tag).lower())

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def _forms(html: str):
    parser = Forms()
    parser.feed(html)
    return parser.forms


def _path(url: str) -> str:
    return urlsplit(url).path


class Walk:
    def __init__(self, client, app, objs, slug, platform_ids):
        self.client, self.app, self.objs, self.slug = client, app, objs, slug
        self.platform_ids = platform_ids
        self.pages: dict[str, list] = {}      # path -> forms of GET routes served as HTML (200)
        self.paginated: set[str] = set()
        self.token = None
        self.failures: list[str] = []
        self.requests = 0

    def url(self, rule: str) -> str:
        def platform(match):
            converter, arg = match.groups()
            if arg in PLATFORM_ID_ARGS:
                return str(self.platform_ids[arg])
            if arg == "token":
                return DUMMY_TOKEN
            return match.group(0)

        rule = RULE_ARG.sub(platform, rule)
        return _url(rule, self.slug, None, self.objs)

    def check(self, response, what: str) -> None:
        self.requests += 1
        if response.status_code >= 500:
            self.failures.append(f"{response.status_code} {what}")

    def remember_token(self, html: str) -> None:
        match = CSRF_RE.search(html)
        if match:
            self.token = match.group(1)

    def get_pages(self, rules) -> None:
        for rule in rules:
            url = self.url(rule.rule)
            response = self.client.get(url)
            self.check(response, f"GET {url}")
            if response.status_code == 200 and response.mimetype == "text/html":
                html = response.get_data(as_text=True)
                self.pages[_path(url)] = _forms(html)
                self.paginated.add(_path(url)) if "page=" in html else None
                self.remember_token(html)

    def get_forms(self) -> None:
        """GET forms and paginated pages, with each bad value in every field and in ``page``."""
        for path, forms in list(self.pages.items()):
            targets = []
            for method, action, _enctype, fields in forms:
                if method == "get":
                    targets.append((_path(action) if action else path, [n for n in fields if n != "csrf_token"]))
            if path in self.paginated and not any(t[0] == path for t in targets):
                targets.append((path, []))
            for target, names in targets:
                for label, value in BAD_VALUES.items():
                    for page in BAD_PAGES[:1] if label != "30 digits" else BAD_PAGES:
                        query = {name: value for name in names} | {"page": page}
                        url = f"{target}?{urlencode(query)}"
                        self.check(self.client.get(url), f"GET {target} ({label}, page={page[:5]})")

    def fields_for(self, path: str) -> tuple[dict[str, str], bool]:
        """The fields of every form, on any page walked, that posts to ``path``, and whether
        one of them is sent as multipart."""
        fields: dict[str, str] = {}
        multipart = False
        for page, forms in self.pages.items():
            for method, action, enctype, form_fields in forms:
                target = _path(action) if action else page
                if method == "post" and target.rstrip("/") == path.rstrip("/"):
                    fields.update(form_fields)
                    multipart = multipart or "multipart" in enctype
        return fields, multipart

    def post(self, rule) -> None:
        url = self.url(rule.rule)
        fields, multipart = self.fields_for(_path(url))
        if not fields:  # an action without a form on any page we saw: the usual field names
            fields = {"name": "text", "email": "email", "status": "text", "quantity": "text", "note": "text"}
        if self.token is None:
            self.token = csrf_token(self.client)
        for label, value in BAD_VALUES.items():
            data = {}
            for name, kind in sorted(fields.items()):
                if name == "csrf_token":
                    continue
                if kind == "file":
                    if multipart:
                        import io

                        data[name] = (io.BytesIO(b"%PDF-1.4 " + value.encode()[:100]), "bad.pdf")
                    continue
                data[name] = value
            data["csrf_token"] = self.token
            response = self.client.post(url, data=data,
                                        content_type="multipart/form-data" if multipart else None)
            self.check(response, f"POST {url} ({label})")


ROLES = ("anonymous", "citizen", "staff", "coordinator", "funder officer", "help desk", "platform operator")


@pytest.fixture
def people(make, world):
    """One user per role in territory alpha; the citizen owns alpha's citizen objects
    (booking, payment, request, waiting-list entry, application, voucher)."""
    a, b, objects, everything = world
    alpha = objects["alpha"]
    users = {"citizen": make.user(email="citizen@example.org"),
             "staff": make.staff(alpha["cooperative"], email="staff@example.org"),
             "coordinator": make.coordinator(a, email="coordinator@example.org"),
             "funder officer": make.funder_officer(alpha["funder"], email="officer@example.org"),
             "help desk": make.user(email="desk@example.org"),
             "platform operator": make.user(email="operator@example.org", is_platform_admin=True)}
    make._save(Membership(territory_id=a.id, user_id=users["funder officer"].id, role=Membership.FUNDER,
                          funder_id=alpha["employer"].id))
    make.membership(a, users["help desk"], Membership.HELP_DESK)
    citizen = users["citizen"]
    with make.app.app_context(), unscoped():
        for model, row, column in ((Order, "order", "user_id"), (ServiceRequest, "service_request", "user_id"),
                                   (WaitlistEntry, "waitlist_entry", "user_id"),
                                   (Application, "application", "user_id"), (Voucher, "voucher", "holder_id")):
            db.session.execute(update(model).where(model.id == alpha[row].id).values(
                {column: citizen.id, **({"email": citizen.email} if hasattr(model, "email") else {})}))
        db.session.commit()
    domain = make.domain(a, "alpha.example.org")
    message = make._save(OutboxMessage(territory_id=a.id, to_email="x@example.org", subject="Prova",
                                       body_text="Prova", sent_at=dt.datetime.now(dt.timezone.utc)))
    platform_ids = {"territory_id": a.id, "domain_id": domain.id, "message_id": message.id}
    return a, alpha, users, platform_ids


def _rules():
    get_rules, post_rules = [], []
    for rule in sorted(_MAP_APP.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.rule in NOT_WALKED:
            continue
        if "GET" in rule.methods:
            get_rules.append(rule)
        if "POST" in rule.methods:
            post_rules.append(rule)
    post_rules.sort(key=lambda r: (r.endpoint in SESSION_ENDING, bool(DESTRUCTIVE.search(r.rule))))
    return get_rules, post_rules


def test_every_rule_is_walked_or_listed():
    walked = {r.rule for rules in _rules() for r in rules}
    for rule in _MAP_APP.url_map.iter_rules():
        assert rule.rule in walked or rule.rule in NOT_WALKED, rule.rule
    assert len(walked) > 100


@pytest.mark.parametrize("role", ROLES)
def test_bad_input_never_gets_a_5xx(app, client, world, people, role):
    a, alpha, users, platform_ids = people
    if role != "anonymous":
        login(client, users[role].email)
    walk = Walk(client, app, alpha, a.slug, platform_ids)
    get_rules, post_rules = _rules()
    walk.get_pages(get_rules)
    walk.get_forms()
    for rule in post_rules:
        walk.post(rule)
    assert walk.requests > 400
    assert not walk.failures, f"{len(walk.failures)} answers >= 500 as {role}:\n" + "\n".join(walk.failures)
