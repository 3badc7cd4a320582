"""Accounts under attack: per-account lockout and e-mail throttling, registration that does
not reveal addresses, password strength, production guards (issue 12)."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from marketplace.models import OutboxMessage, User
from tests.conftest import csrf_token, login, make_app, post
from tests.factories import PASSWORD

IPS = [f"203.0.113.{n}" for n in range(1, 7)]


def _mails(db, to):
    db.session.expire_all()
    return list(db.session.execute(
        select(OutboxMessage).where(OutboxMessage.to_email == to).order_by(OutboxMessage.id)
    ).scalars())


def _from(app, ip):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def _try_login(client, email, password):
    return post(client, "/account/login", {"email": email, "password": password})


# --- 1. per-account lockout ---------------------------------------------------------------

def test_ten_wrong_passwords_from_six_ips_lock_the_account_for_everyone(app, db, make):
    make.user(email="anna@example.org", full_name="Anna Verdi")
    make.user(email="bruno@example.org")
    clients = [_from(app, ip) for ip in IPS]
    for n in range(10):
        assert _try_login(clients[n % 6], "anna@example.org", f"wrong-guess-{n}").status_code == 422

    # The 11th attempt, with the right password, from a fresh IP: refused, with Retry-After.
    locked = _try_login(_from(app, "198.51.100.7"), "anna@example.org", PASSWORD)
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["Retry-After"]) <= 900
    body = locked.get_data(as_text=True)
    assert "Troppi tentativi non riusciti" in body and 'name="email"' in body  # the login page
    # Any other IP, any case or spacing of the address: still locked.
    assert _try_login(clients[0], " ANNA@example.org ", PASSWORD).status_code == 429

    # The holder is told once, with a link to choose a new password on this site.
    notices = [m for m in _mails(db, "anna@example.org") if "accedere" in m.subject.lower()]
    assert len(notices) == 1, [m.subject for m in _mails(db, "anna@example.org")]
    assert "http://localhost/account/forgot" in notices[0].body_text
    assert "Anna Verdi" in notices[0].body_text

    # Another account is not affected, even from the attackers' IPs.
    assert login(clients[1], "bruno@example.org").status_code == 302


def test_the_lock_notice_goes_once_and_the_key_holds_no_address(app, db, make):
    make.user(email="anna@example.org", locale="en")
    client = _from(app, IPS[0])
    for n in range(10):
        _try_login(_from(app, IPS[n % 6]), "anna@example.org", f"wrong-guess-{n}")
    for _ in range(3):
        assert _try_login(client, "anna@example.org", "yet-another-guess").status_code == 429
    notices = _mails(db, "anna@example.org")
    assert len(notices) == 1
    assert notices[0].subject == "Someone is trying to log in to your account"
    assert "10 failed attempts" in notices[0].body_text

    from marketplace.extensions import limiter

    storage = limiter.storage
    keys = (list(storage.events) + list(storage.storage)) if hasattr(storage, "events") else [
        k.decode() for k in storage.storage.scan_iter(match="*")]
    assert any("login-failures" in k for k in keys)
    assert not any("anna" in k.lower() for k in keys)


def test_unknown_addresses_lock_the_same_way(app, db, make):
    make.user(email="anna@example.org")
    answers = {}
    for email in ("anna@example.org", "nobody@example.org"):
        for n in range(10):
            _try_login(_from(app, IPS[n % 6]), email, f"wrong-guess-{n}")
        answers[email] = _try_login(_from(app, IPS[0]), email, PASSWORD)
    assert answers["anna@example.org"].status_code == answers["nobody@example.org"].status_code == 429
    strip = lambda r: re.sub(r'value="[^"]*"', "", r.get_data(as_text=True))  # noqa: E731
    assert strip(answers["anna@example.org"]) == strip(answers["nobody@example.org"])
    assert _mails(db, "nobody@example.org") == []


def test_a_success_clears_the_failures(app, make):
    make.user(email="anna@example.org")
    client = _from(app, IPS[0])
    for n in range(9):
        _try_login(client, "anna@example.org", f"wrong-guess-{n}")
    assert login(client, "anna@example.org").status_code == 302
    other = _from(app, IPS[1])
    for n in range(9):
        assert _try_login(other, "anna@example.org", f"wrong-again-{n}").status_code == 422
    assert login(other, "anna@example.org").status_code == 302


def test_a_password_reset_unlocks_the_account(app, db, make):
    make.user(email="anna@example.org")
    for n in range(10):
        _try_login(_from(app, IPS[n % 6]), "anna@example.org", f"wrong-guess-{n}")
    client = _from(app, IPS[0])
    assert _try_login(client, "anna@example.org", PASSWORD).status_code == 429
    post(client, "/account/forgot", {"email": "anna@example.org"}, token_from="/account/forgot")
    reset = [m for m in _mails(db, "anna@example.org") if "/account/reset/" in m.body_text][-1]
    link = "/" + re.search(r"https?://\S+", reset.body_text).group(0).split("/", 3)[3]
    new = "un-altra-password-nuova"
    assert post(client, link, {"password": new, "confirm": new}, token_from=link).status_code == 302
    assert login(client, "anna@example.org", new).status_code == 302


def test_reset_emails_are_limited_per_account_silently(app, db, make):
    make.user(email="anna@example.org")
    answers = []
    for n in range(8):
        client = _from(app, IPS[n % 6])
        response = post(client, "/account/forgot", {"email": "anna@example.org"}, token_from="/account/forgot")
        assert response.status_code == 200
        answers.append(re.sub(r'value="[^"]*"', "", response.get_data(as_text=True)))
    assert len(set(answers)) == 1  # the same answer, sent or not
    assert len(_mails(db, "anna@example.org")) == 5


def test_with_rate_limiting_switched_off_logins_and_resets_still_work(database_uri, make, monkeypatch):
    """RATELIMIT_ENABLED=False (the booking benchmark serves the app so) switches the
    per-account counters off with the other limits, instead of failing every login."""
    from marketplace.extensions import limiter

    # Flask-Limiter keeps "enabled" on its one shared instance: give it back to later tests.
    monkeypatch.setattr(limiter, "enabled", limiter.enabled)
    quiet = make_app(database_uri, RATELIMIT_ENABLED=False)
    make.user(email="anna@example.org")
    client = quiet.test_client()
    for n in range(12):
        assert _try_login(client, "anna@example.org", f"wrong-guess-{n}").status_code == 422
    assert login(client, "anna@example.org").status_code == 302
    other = quiet.test_client()
    assert post(other, "/account/forgot", {"email": "anna@example.org"},
                token_from="/account/forgot").status_code == 200


# --- 2. production needs shared rate-limit storage ------------------------------------------

def test_production_refuses_memory_storage_with_several_workers(database_uri, monkeypatch):
    from marketplace.app import create_app
    from marketplace.config import shared_storage_problem

    monkeypatch.setenv("SECRET_KEY", "a-secret-for-this-test-only")
    with pytest.raises(RuntimeError, match="rate-limit storage memory://"):
        create_app("production", SQLALCHEMY_DATABASE_URI=database_uri,
                   RATELIMIT_STORAGE_URI="memory://", WEB_CONCURRENCY=4)
    # One worker may count in memory; several may share Redis; development is not refused.
    assert make_app(database_uri, ENV_NAME="production", WEB_CONCURRENCY=1) is not None
    assert shared_storage_problem("production", "redis://cache:6379/0", 4) is None
    assert shared_storage_problem("development", "memory://", 4) is None


def test_gunicorn_refuses_several_workers_without_redis(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items()
           if k not in {"REDIS_URL", "RATELIMIT_STORAGE_URI", "WEB_CONCURRENCY"}}
    env.update(MARKETPLACE_ENV="production", SECRET_KEY="x" * 32)
    gunicorn = Path(sys.executable).parent / "gunicorn"
    result = subprocess.run([str(gunicorn), "-w", "3", "-b", "127.0.0.1:0", "wsgi:app"], cwd=root, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "3 worker processes with rate-limit storage memory://" in result.stderr


# --- 5. the demo never lands in production by accident ---------------------------------------

def test_seed_demo_refuses_production_unless_forced(database_uri, app):
    from marketplace.extensions import db

    production = make_app(database_uri, ENV_NAME="production")
    runner = production.test_cli_runner()
    refused = runner.invoke(args=["seed-demo"])
    assert refused.exit_code != 0
    assert "does not run in production" in refused.output and "--force" in refused.output
    with production.app_context():
        assert db.session.execute(select(func.count(User.id))).scalar_one() == 0

    forced = runner.invoke(args=["seed-demo", "--force"])
    assert forced.exit_code == 0, forced.output
    assert "admin@demo.test" in forced.output


# --- 3. registration does not reveal which addresses have an account ------------------------

def _register(client, email, password="una-password-lunga", name="Maria Bianchi", prefix=""):
    url = f"{prefix}/account/register"
    return post(client, url, {"full_name": name, "email": email, "password": password,
                              "confirm": password, "locale": "it", "privacy": "y"}, token_from=url)


def _page(response, client, email):
    """The page a visitor ends on, with the address and per-visitor tokens blanked out."""
    assert response.status_code == 302, response.get_data(as_text=True)[:1000]
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    return re.sub(r'value="[^"]*"', "", page.get_data(as_text=True)).replace(email, "EMAIL")


def test_registering_a_new_or_a_taken_address_looks_the_same(app, db, make):
    make.territory("cremona")
    holder = make.user(email="anna@example.org", full_name="Anna Verdi", locale="en")
    new_visitor, other_visitor = app.test_client(), app.test_client()
    new = _register(new_visitor, "luca@example.org", prefix="/t/cremona")
    taken = _register(other_visitor, "ANNA@example.org", prefix="/t/cremona")
    assert new.headers["Location"] == taken.headers["Location"]
    new_page = _page(new, new_visitor, "luca@example.org")
    assert _page(taken, other_visitor, "anna@example.org") == new_page
    assert "EMAIL" in new_page

    # Nobody is logged in, neither the new account nor the existing one.
    for client in (new_visitor, other_visitor):
        assert client.get("/account/").status_code == 302

    # The newcomer gets a confirmation link; the holder a notice (in their language) and no
    # change to their account.
    assert "/t/cremona/account/confirm/" in _mails(db, "luca@example.org")[0].body_text
    [notice] = _mails(db, "anna@example.org")
    assert notice.subject == "Someone tried to register with your e-mail address"
    assert "http://localhost/t/cremona/account/login" in notice.body_text
    assert "http://localhost/t/cremona/account/forgot" in notice.body_text
    assert db.session.execute(select(func.count(User.id))).scalar_one() == 2
    db.session.expire_all()
    assert db.session.get(User, holder.id).check_password(PASSWORD)

    # The new account works once its holder logs in (confirmed or not).
    assert login(new_visitor, "luca@example.org", "una-password-lunga").status_code == 302


def test_registration_notices_to_a_holder_are_limited(app, db, make):
    make.user(email="anna@example.org")
    for n in range(8):
        response = _register(_from(app, IPS[n % 6]), "anna@example.org")
        assert response.status_code == 302
    assert len(_mails(db, "anna@example.org")) == 5


# --- 4. passwords: 12 characters, not guessable ---------------------------------------------

@pytest.mark.parametrize("password", ["password1234", "qwertyuiop12", "123456789012"])
def test_common_passwords_are_refused_with_a_reason(client, db, password):
    response = _register(client, "maria@example.org", password=password)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Questa password è troppo facile da indovinare" in body
    assert db.session.execute(select(User)).first() is None


def test_short_and_personal_passwords_are_refused(client, db):
    short = _register(client, "maria@example.org", password="kx7-Lp2-qz9")  # 11 characters
    assert short.status_code == 422 and "almeno 12 caratteri" in short.get_data(as_text=True)
    personal = _register(client, "maria.bianchi@example.org", password="mariabianchi2024")
    assert personal.status_code == 422
    assert "contiene il tuo nome o il tuo indirizzo e-mail" in personal.get_data(as_text=True)
    client.get("/account/language?lang=en&next=/")
    english = _register(client, "maria@example.org", password="qwertyuiop12")
    assert "This password is too easy to guess" in english.get_data(as_text=True)
    assert db.session.execute(select(User)).first() is None


def test_every_form_that_sets_a_password_applies_the_rule(app, client, db, make):
    territory = make.territory("cremona")
    cooperative = make.cooperative(territory)
    anna = make.user(email="anna@example.org", full_name="Anna Verdi")

    # Changing it.
    login(client, "anna@example.org")
    changed = post(client, "/account/password", {"pw-current_password": PASSWORD, "pw-password": "password1234",
                                                 "pw-confirm": "password1234"}, token_from="/account/")
    assert changed.status_code == 422 and "troppo facile da indovinare" in changed.get_data(as_text=True)
    named = post(client, "/account/password", {"pw-current_password": PASSWORD, "pw-password": "annaverdi1234",
                                               "pw-confirm": "annaverdi1234"}, token_from="/account/")
    assert named.status_code == 422 and "il tuo nome" in named.get_data(as_text=True)

    # Resetting it (the help desk's "choose a password" link is a reset link too).
    visitor = app.test_client()
    post(visitor, "/account/forgot", {"email": "anna@example.org"}, token_from="/account/forgot")
    reset = _mails(db, "anna@example.org")[-1]
    link = "/" + re.search(r"https?://\S+", reset.body_text).group(0).split("/", 3)[3]
    refused = post(visitor, link, {"password": "123456789012", "confirm": "123456789012"}, token_from=link)
    assert refused.status_code == 422 and "troppo facile da indovinare" in refused.get_data(as_text=True)

    # Accepting an invitation.
    _, raw = make.invitation(territory, email="sara@example.org", role="staff", cooperative=cooperative)
    link = f"/t/cremona/account/invitation/{raw}"
    invited = post(visitor, link, {"full_name": "Sara Neri", "password": "qwertyuiop12",
                                   "confirm": "qwertyuiop12"}, token_from=link)
    assert invited.status_code == 422 and "troppo facile da indovinare" in invited.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, anna.id).check_password(PASSWORD)
    assert db.session.execute(select(User).where(User.email == "sara@example.org")).first() is None
