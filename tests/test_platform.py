"""Cross-cutting behaviour: health, headers, errors, rate limits, languages, migrations."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import make_app, post

ROOT = Path(__file__).resolve().parent.parent


def test_healthz_reports_database_and_redis(client, app):
    response = client.get("/healthz")
    assert response.status_code == 200
    data = response.get_json()
    assert data["status"] == "ok" and data["database"] == "ok"
    assert data["redis"] == ("ok" if app.config.get("REDIS_URL") else "not configured (jobs run inline)")


def test_healthz_says_503_when_the_database_is_gone(database_uri):
    broken = make_app(database_uri, SQLALCHEMY_DATABASE_URI="postgresql+psycopg://nobody@127.0.0.1:1/none")
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503 and response.get_json()["status"] == "error"


def test_security_headers_and_cookie_flags(client, make):
    response = client.get("/account/login")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_production_cookies_are_secure():
    from marketplace.config import load_config

    config = load_config("production")
    assert config.SESSION_COOKIE_SECURE and config.REMEMBER_COOKIE_SECURE
    assert config.SESSION_COOKIE_HTTPONLY


def test_error_pages_use_the_site_layout(client):
    response = client.get("/no/such/page")
    body = response.get_data(as_text=True)
    assert response.status_code == 404
    assert '<main id="main"' in body and "skip-link" in body


def test_login_is_rate_limited(database_uri, make):
    app = make_app(database_uri, LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    codes = [post(client, "/account/login", {"email": "x@example.org", "password": "nope-nope-nope"}).status_code
             for _ in range(5)]
    assert codes[:3] == [422, 422, 422]
    assert codes[3] == 429
    page = post(client, "/account/login", {"email": "x@example.org", "password": "n"})
    assert page.status_code == 429 and '<main id="main"' in page.get_data(as_text=True)


def test_italian_first_english_available(client):
    italian = client.get("/account/login").get_data(as_text=True)
    assert 'lang="it"' in italian and "Accedi" in italian
    post(client, "/account/language", {"lang": "en", "next": "/account/login"})
    english = client.get("/account/login").get_data(as_text=True)
    assert 'lang="en"' in english and "Log in" in english


def test_every_message_has_an_italian_translation():
    from babel.messages.pofile import read_po

    with open(ROOT / "marketplace/translations/it/LC_MESSAGES/messages.po", "rb") as handle:
        catalog = read_po(handle)
    missing = [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]
    assert not missing, f"untranslated: {missing[:10]}"
    # And the catalogue covers every string in the code and templates.
    result = subprocess.run([str(Path(sys.executable).parent / "pybabel"), "-q", "extract", "-F",
                             "babel.cfg", "-k", "_l", "-o", "/dev/stdout", "."],
                            cwd=ROOT, capture_output=True, text=True, check=True)
    from io import BytesIO

    extracted = read_po(BytesIO(result.stdout.encode()))
    absent = [m.id for m in extracted if m.id and m.id not in catalog]
    assert not absent, f"not in the Italian catalogue (run make extract-messages): {absent[:10]}"


def test_models_and_migrations_agree(app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from marketplace.extensions import db

    with app.app_context():
        with db.engine.connect() as conn:
            from marketplace.models.base import include_in_autogenerate

            context = MigrationContext.configure(conn, opts={
                "compare_type": True, "include_object": include_in_autogenerate})
            diff = compare_metadata(context, db.metadata)
    assert diff == [], diff


def test_jobs_run_after_commit_on_the_configured_backend(app, db, run_jobs):
    from marketplace.models import OutboxMessage
    from marketplace.services.mail import send_mail

    with app.test_request_context():
        send_mail("someone@example.org", "confirm_email", user=None, link="http://x/confirm")
        db.session.rollback()  # rolled back: no e-mail at all
        assert db.session.query(OutboxMessage).count() == 0
        message = send_mail("someone@example.org", "confirm_email", user=None, link="http://x/confirm")
        db.session.commit()
        message_id = message.id
    run_jobs()
    db.session.expire_all()
    delivered = db.session.get(OutboxMessage, message_id)
    assert delivered.sent_at is not None and delivered.attempts == 1


def test_a_crash_shows_the_500_page_and_keeps_nothing(app, client, db, make, monkeypatch):
    from blueprints.public import routes
    from marketplace.models import Cooperative

    territory = make.territory("cremona")

    def broken(*args, **kwargs):
        from marketplace.extensions import db as _db

        _db.session.add(Cooperative(territory_id=territory.id, name="Half-saved"))
        _db.session.flush()
        raise RuntimeError("boom")

    monkeypatch.setitem(app.view_functions, "public.home", broken)
    response = client.get("/t/cremona/")
    assert response.status_code == 500
    assert '<main id="main"' in response.get_data(as_text=True)
    from tenants.scoping import unscoped

    with unscoped():
        assert db.session.query(Cooperative).filter_by(name="Half-saved").count() == 0


def test_privacy_notice_is_linked_from_registration(client, make):
    make.territory("cremona", contact_email="privacy@cremona.example")
    page = client.get("/t/cremona/account/register").get_data(as_text=True)
    assert 'href="/t/cremona/privacy"' in page
    notice = client.get("/t/cremona/privacy").get_data(as_text=True)
    assert "privacy@cremona.example" in notice


def test_wrong_method_says_which_are_allowed(client):
    response = client.delete("/account/login")
    assert response.status_code == 405 and "POST" in response.headers["Allow"]


def test_ids_beyond_the_integer_range_are_404_not_500(client, make):
    make.territory("cremona")
    assert client.get("/t/cremona/services/99999999999").status_code == 404
    assert client.get("/t/cremona/cooperatives/99999999999").status_code == 404
    assert client.get("/t/cremona/services?municipality=99999999999").status_code == 400
