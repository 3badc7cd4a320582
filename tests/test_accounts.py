"""Citizens: register, confirm by the e-mailed link, log in/out, reset, profile, delete."""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from marketplace.models import AccountToken, Membership, OutboxMessage, User
from marketplace.models.base import utcnow
from tests.conftest import csrf_token, login, post
from tests.factories import PASSWORD

LINK_RE = re.compile(r"https?://\S+")


def _last_mail(db, to):
    message = db.session.execute(
        select(OutboxMessage).where(OutboxMessage.to_email == to).order_by(OutboxMessage.id.desc())
    ).scalars().first()
    assert message is not None, f"no e-mail to {to}"
    return message


def _link(message) -> str:
    url = LINK_RE.search(message.body_text).group(0)
    return "/" + url.split("/", 3)[3]


def _register(client, email="maria@example.org", password="una-password-lunga", **extra):
    data = {"full_name": "Maria Bianchi", "email": email, "password": password,
            "confirm": password, "locale": "it", "privacy": "y"}
    data.update(extra)
    return post(client, "/account/register", data, token_from="/account/register")


def test_register_confirm_and_log_in(client, db, run_jobs):
    response = _register(client)
    assert response.status_code == 302
    run_jobs()
    mail = _last_mail(db, "maria@example.org")
    assert mail.sent_at is not None and mail.transport == "outbox"
    assert "/account/confirm/" in mail.body_text
    user = db.session.execute(select(User).where(User.email == "maria@example.org")).scalar_one()
    assert user.email_confirmed_at is None
    assert user.password_hash and "una-password-lunga" not in user.password_hash

    page = client.get(_link(mail), follow_redirects=True)
    assert page.status_code == 200
    db.session.expire_all()
    assert db.session.get(User, user.id).email_confirmed_at is not None

    # The link is single-use.
    again = client.get(_link(mail))
    assert again.status_code == 400

    post(client, "/account/logout", {})
    assert login(client, "maria@example.org", "una-password-lunga").status_code == 302
    assert client.get("/account/").status_code == 200


def test_register_inside_a_territory_links_back_to_it(client, db, make):
    make.territory("cremona")
    response = post(client, "/t/cremona/account/register", {
        "full_name": "Luca", "email": "luca@example.org", "password": "una-password-lunga",
        "confirm": "una-password-lunga", "locale": "it", "privacy": "y"},
        token_from="/t/cremona/account/register")
    assert response.status_code == 302
    assert "/t/cremona/account/confirm/" in _last_mail(db, "luca@example.org").body_text


def test_bad_registration_input_is_explained_not_saved(client, db):
    response = _register(client, email="not-an-email", password="short")
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "There is a problem" in body or "C&#39;è un problema" in body or "problema" in body
    assert 'aria-invalid="true"' in body
    assert db.session.execute(select(User)).first() is None


def test_registering_a_taken_address_changes_nothing_and_tells_its_holder(client, db, make):
    user = make.user(email="taken@example.org")
    response = _register(client, email="taken@example.org", password="una-password-diversa")
    assert response.status_code == 302  # the same answer as for a new address
    assert client.get("/account/").status_code == 302  # nobody is logged in
    mail = _last_mail(db, "taken@example.org")
    assert "/account/login" in mail.body_text and "/account/confirm/" not in mail.body_text
    db.session.expire_all()
    assert db.session.get(User, user.id).check_password(PASSWORD)


def test_wrong_password_gives_a_message_not_a_hint(client, make):
    make.user(email="anna@example.org")
    wrong = post(client, "/account/login", {"email": "anna@example.org", "password": "sbagliata-123"})
    unknown = post(client, "/account/login", {"email": "nobody@example.org", "password": "sbagliata-123"})
    assert wrong.status_code == unknown.status_code == 422
    strip = lambda r: re.sub(r'value="[^"]*"', "", r.get_data(as_text=True))  # noqa: E731
    assert strip(wrong) == strip(unknown)


def test_login_form_without_csrf_token_is_a_400_not_a_500(client, make):
    make.user(email="anna@example.org")
    response = client.post("/account/login", data={"email": "anna@example.org", "password": PASSWORD})
    assert response.status_code == 400


def test_login_redirect_only_to_local_paths(client, make):
    make.user(email="anna@example.org")
    response = post(client, "/account/login", {"email": "anna@example.org", "password": PASSWORD,
                                                 "next": "https://evil.example/phish"})
    assert response.status_code == 302
    assert "evil.example" not in response.headers["Location"]


def test_password_reset_does_not_reveal_accounts_and_is_single_use(client, db, make):
    make.user(email="anna@example.org")
    known = post(client, "/account/forgot", {"email": "anna@example.org"}, token_from="/account/forgot")
    unknown = post(client, "/account/forgot", {"email": "nobody@example.org"}, token_from="/account/forgot")
    assert known.status_code == unknown.status_code == 200
    without_tokens = lambda r, who: re.sub(r'value="[^"]*"', "", r.get_data(as_text=True)).replace(who, "X")  # noqa: E731
    assert without_tokens(known, "anna") == without_tokens(unknown, "nobody")
    assert db.session.execute(select(OutboxMessage).where(
        OutboxMessage.to_email == "nobody@example.org")).first() is None

    link = _link(_last_mail(db, "anna@example.org"))
    new = "una-nuova-password"
    response = post(client, link, {"password": new, "confirm": new}, token_from=link)
    assert response.status_code == 302
    assert client.get(link).status_code == 400  # used
    login(client, "anna@example.org", new)


def test_expired_reset_link_is_refused(client, db, make):
    user = make.user(email="anna@example.org")
    post(client, "/account/forgot", {"email": "anna@example.org"}, token_from="/account/forgot")
    token = db.session.execute(select(AccountToken).where(AccountToken.user_id == user.id)).scalar_one()
    token.expires_at = utcnow() - dt.timedelta(minutes=1)
    db.session.commit()
    assert client.get(_link(_last_mail(db, "anna@example.org"))).status_code == 400


def test_changing_password_logs_out_other_sessions(app, make):
    make.user(email="anna@example.org")
    first, second = app.test_client(), app.test_client()
    login(first, "anna@example.org")
    login(second, "anna@example.org")
    new = "ancora-un-altra-password"
    response = post(first, "/account/password", {"pw-current_password": PASSWORD, "pw-password": new,
                                                  "pw-confirm": new}, token_from="/account/")
    assert response.status_code == 302
    assert first.get("/account/").status_code == 200
    assert second.get("/account/").status_code == 302  # sent to login


def test_profile_language_switches_the_interface(client, make):
    make.user(email="anna@example.org")
    login(client, "anna@example.org")
    assert 'lang="it"' in client.get("/account/").get_data(as_text=True)
    response = post(client, "/account/", {"full_name": "Anna Verdi", "phone": "", "locale": "en"},
                    token_from="/account/")
    assert response.status_code == 302
    page = client.get("/account/").get_data(as_text=True)
    assert 'lang="en"' in page and "Anna Verdi" in page


def test_language_switch_for_anonymous_visitors(client):
    assert 'lang="it"' in client.get("/").get_data(as_text=True)
    client.get("/account/language?lang=en&next=/")
    page = client.get("/").get_data(as_text=True)
    assert 'lang="en"' in page


def test_delete_account_erases_personal_data(client, db, make):
    territory = make.territory("cremona")
    user = make.coordinator(territory, email="anna@example.org", full_name="Anna Verdi", phone="333")
    login(client, "anna@example.org")
    refused = post(client, "/account/delete", {"password": "wrong-password", "confirm": "y"},
                   token_from="/account/delete")
    assert refused.status_code == 422
    response = post(client, "/account/delete", {"password": PASSWORD, "confirm": "y"},
                    token_from="/account/delete")
    assert response.status_code == 302
    db.session.expire_all()
    row = db.session.get(User, user.id)
    assert row.deleted_at is not None
    assert "anna" not in row.email and row.full_name == "" and row.phone == ""
    from tenants.scoping import unscoped

    with unscoped():
        assert db.session.execute(select(Membership).where(Membership.user_id == user.id)).first() is None
    assert post(client, "/account/login", {"email": "anna@example.org", "password": PASSWORD}).status_code == 422
    # The address can be used again for a new account.
    assert _register(client, email="anna@example.org").status_code == 302
