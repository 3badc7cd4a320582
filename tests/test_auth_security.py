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
