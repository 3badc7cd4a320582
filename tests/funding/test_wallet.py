"""The citizen's wallet: vouchers and welfare credits with their balances, states and
movements; adding a printed voucher code; joining an employer from the wallet."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from marketplace.models import Employee, LedgerEntry, Voucher
from tenants.scoping import territory_scope
from tests.conftest import login, post
from tests.funding.test_welfare import en_user, ledger_of, logged_in, paid_order, refund

TODAY = dt.date.today()
FUTURE = TODAY + dt.timedelta(days=90)


@pytest.fixture
def world(app, make):
    territory = make.territory("bassa", default_language="en")
    citizen = en_user(make, email="giulia@example.org", full_name="Giulia Serra")
    coop = make.cooperative(territory)
    service = make.service(coop, title="Centro estivo Girasole", vertical="childcare", status="published")
    comune = make.funder(territory, kind="municipality", name="Comune di Casalmaggiore")
    programme = make.programme(comune, title="Buoni centri estivi 2026")
    employer = make.funder(territory, kind="employer", name="Acme Meccanica S.p.A.")
    return dict(territory=territory, citizen=citizen, client=logged_in(app, citizen.email), service=service,
                comune=comune, programme=programme, employer=employer, wallet=f"/t/{territory.slug}/wallet")


def _cards(page: str) -> dict[str, str]:
    """Each voucher / credit card of the wallet by its heading."""
    return {m.group(1): m.group(0) for m in re.finditer(
        r'<article[^>]*>\s*<div class="card-body">\s*<h3 class="h5" id="[^"]+">([^<]+)</h3>.*?</article>', page, re.S)}


def _movements(card: str) -> list[tuple[str, str]]:
    rows = re.findall(r"<tr>\s*<td>[^<]+</td>\s*<td>([^<]+)</td>\s*<td class=\"text-end\">([^<]+)</td>", card)
    return [(what.strip(), amount.strip()) for what, amount in rows]


def test_the_wallet_shows_balances_states_and_movements(app, db, make, world):
    t, citizen, client = world["territory"], world["citizen"], world["client"]
    empty = client.get(world["wallet"])
    assert empty.status_code == 200
    assert "You have no vouchers." in empty.get_data(as_text=True)

    voucher = make.voucher(world["programme"], citizen, beneficiary_name="Marco Serra")
    _, voucher_payment = paid_order(make, db, t, citizen, world["service"], 4_000, voucher=voucher)
    small = make.programme(world["comune"], title="Buoni piccoli")
    used_up = make.voucher(small, citizen, amount_cents=2_500)
    paid_order(make, db, t, citizen, world["service"], 2_500, voucher=used_up)
    old = make.programme(world["comune"], title="Buoni 2025", starts_on=TODAY - dt.timedelta(days=400),
                         ends_on=TODAY - dt.timedelta(days=35))
    make.voucher(old, citizen)
    cancelled = make.programme(world["comune"], title="Buoni annullati")
    make.voucher(cancelled, citizen, status=Voucher.CANCELLED)

    employee = make.employee(world["employer"], citizen)
    credit = make.welfare_credit(employee, 30_000, FUTURE)
    _, credit_payment = paid_order(make, db, t, citizen, world["service"], 12_000, credit=credit)
    refund(db, t, credit_payment, 2_000)

    page = client.get(world["wallet"]).get_data(as_text=True)
    cards = _cards(page)
    main = cards["Buoni centri estivi 2026"]
    assert "Comune di Casalmaggiore" in main and voucher.code in main and "Marco Serra" in main
    assert "€60.00 of €100.00" in main and "Active" in main
    assert _movements(main) == [("Paid: Centro estivo Girasole", "−€40.00")]
    assert "Used up" in cards["Buoni piccoli"] and "€0.00 of €25.00" in cards["Buoni piccoli"]
    assert "Expired" in cards["Buoni 2025"] and "Cancelled" in cards["Buoni annullati"]

    employer_card = cards["Acme Meccanica S.p.A."]
    assert "€200.00" in employer_card and "€300.00 on" in employer_card and "Active" in employer_card
    assert _movements(employer_card) == [("Credit loaded", "+€300.00"),
                                         ("Paid: Centro estivo Girasole", "−€120.00"),
                                         ("Refund: Centro estivo Girasole", "+€20.00")]
    # The balances shown are the ledger's.
    with territory_scope(t.id):
        entries = ledger_of(db, t, credit_id=credit.id)
        assert sum(e.amount_cents for e in entries if e.kind == LedgerEntry.CREDIT_LOAD) \
            - sum(e.amount_cents for e in entries if e.kind in ("charge", "refund")) == 20_000

    # Nobody else sees them.
    other = logged_in(app, en_user(make).email)
    page = other.get(world["wallet"]).get_data(as_text=True)
    assert voucher.code not in page and "Acme Meccanica" not in page


def test_a_released_credit_shows_what_went_back(app, db, make, world):
    from marketplace.services import welfare

    t, citizen, client = world["territory"], world["citizen"], world["client"]
    credit = make.welfare_credit(make.employee(world["employer"], citizen), 5_000, TODAY - dt.timedelta(days=2))
    with territory_scope(t.id):
        assert welfare.release_expired_credits() == 1
        db.session.commit()
    card = _cards(client.get(world["wallet"]).get_data(as_text=True))["Acme Meccanica S.p.A."]
    assert "Expired, returned to the employer" in card
    assert _movements(card) == [("Credit loaded", "+€50.00"), ("Returned to the employer on expiry", "−€50.00")]
    assert credit.id


def test_adding_a_printed_voucher_code(app, db, make, world):
    t, citizen, client = world["territory"], world["citizen"], world["client"]
    url = f"{world['wallet']}/vouchers"
    printed = make.voucher(world["programme"], None, channel=Voucher.PRINTED)
    typed = " ".join([printed.code[:4].lower(), printed.code[4:]])
    response = post(client, url, {"voucher-code": typed}, token_from=world["wallet"])
    assert response.status_code == 302
    page = client.get(world["wallet"]).get_data(as_text=True)
    assert "Voucher added: Buoni centri estivi 2026." in page and printed.code in page
    with territory_scope(t.id):
        db.session.expire_all()
        assert db.session.get(Voucher, printed.id).holder_id == citizen.id
    # Adding it again is harmless.
    assert post(client, url, {"voucher-code": printed.code}, token_from=world["wallet"]).status_code == 302

    def refused(code, message):
        response = post(client, url, {"voucher-code": code}, token_from=world["wallet"])
        assert response.status_code == 422, code
        assert message in response.get_data(as_text=True), code

    refused("ZZZZZZZZZZ", "There is no voucher with this code on this site.")
    refused("", "Enter the voucher code as printed.")
    someone = en_user(make, email="altro@example.org")
    theirs = make.voucher(world["programme"], someone)
    refused(theirs.code, "This voucher belongs to someone else.")
    old = make.programme(world["comune"], title="Buoni 2025", starts_on=TODAY - dt.timedelta(days=400),
                         ends_on=TODAY - dt.timedelta(days=35))
    expired = make.voucher(old, None, channel=Voucher.PRINTED)
    refused(expired.code, "This voucher expired on")
    other = make.territory("alta")
    far = make.voucher(make.programme(make.funder(other)), None, channel=Voucher.PRINTED)
    refused(far.code, "There is no voucher with this code on this site.")
    with territory_scope(t.id):
        db.session.expire_all()
        assert db.session.get(Voucher, theirs.id).holder_id == someone.id
        assert db.session.get(Voucher, expired.id).holder_id is None
    with territory_scope(other.id):
        assert db.session.get(Voucher, far.id).holder_id is None


def test_joining_from_the_wallet_with_a_personal_invite_code(app, db, make, world):
    t, citizen, client = world["territory"], world["citizen"], world["client"]
    invited = make.employee(world["employer"], email="g.serra@acme.example", full_name="Giulia Serra")
    make.welfare_credit(invited, 12_000, FUTURE)
    assert "Acme Meccanica" not in client.get(world["wallet"]).get_data(as_text=True)
    response = post(client, f"{world['wallet']}/employers", {"join-code": invited.invite_code.lower()},
                    token_from=world["wallet"])
    assert response.status_code == 302
    with territory_scope(t.id):
        db.session.expire_all()
        record = db.session.get(Employee, invited.id)
        assert record.status == Employee.ACTIVE and record.user_id == citizen.id
        assert record.email == "g.serra@acme.example"  # HR still knows them by the work address
    card = _cards(client.get(world["wallet"]).get_data(as_text=True))["Acme Meccanica S.p.A."]
    assert "€120.00" in card


def test_the_join_link_needs_an_account_and_a_valid_code(app, db, make, world):
    t = world["territory"]
    invited = make.employee(world["employer"], email="new@acme.example")
    link = f"/t/{t.slug}/employers/join/{invited.invite_code}"
    anonymous = app.test_client()
    for response in (anonymous.get(link), anonymous.get(f"/t/{t.slug}/wallet"),
                     post(anonymous, f"/t/{t.slug}/wallet/vouchers", {"voucher-code": "ABCDEFGHJK"}),
                     post(anonymous, f"/t/{t.slug}/wallet/employers", {"join-code": invited.invite_code})):
        assert response.status_code == 302 and "/account/login" in response.headers["Location"]
    newcomer = make.user(email="new@acme.example", confirmed=False, locale="en")
    client = app.test_client()
    login(client, newcomer.email)
    # The personal code is proof enough: no e-mail confirmation needed.
    page = client.get(link).get_data(as_text=True)
    assert "Join Acme Meccanica S.p.A." in page and "new@acme.example" in page
    assert post(client, link, {}, token_from=link).status_code == 302
    with territory_scope(t.id):
        db.session.expire_all()
        assert db.session.execute(select(Employee.user_id).where(Employee.id == invited.id)).scalar_one() \
            == newcomer.id
    missing = client.get(f"/t/{t.slug}/employers/join/NOSUCHCODE")
    assert missing.status_code == 404 and "There is no employer with this code" in missing.get_data(as_text=True)
