"""The TOTP second factor: enrolment from the profile, the second login step, recovery codes,
throttling and replay, turning it off, and enrolment required for privileged roles when
MFA_REQUIRED. Codes are computed with pyotp from the secret shown on the enrolment page."""
from __future__ import annotations

import html
import re
import time

import pyotp
import pytest
from sqlalchemy import select, update

from marketplace.models import RecoveryCode, User, UserSession
from tests.conftest import login, post
from tests.factories import PASSWORD

SECRET_RE = re.compile(r'<code id="mfa-secret"[^>]*>([A-Z2-7 ]+)</code>')
RECOVERY_RE = re.compile(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>")


def _code(secret: str, steps_ahead: int = 0) -> str:
    """The code for the current time step, or one ``steps_ahead`` (accepted: clock drift)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def _enrol(client) -> tuple[str, list[str]]:
    page = client.get("/account/mfa")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    secret = SECRET_RE.search(text).group(1).replace(" ", "")
    assert "<svg" in text and 'role="img"' in text  # the QR code
    response = post(client, "/account/mfa", {"code": _code(secret)}, token_from="/account/mfa")
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    codes = RECOVERY_RE.findall(response.get_data(as_text=True))
    assert len(codes) == 10
    assert response.headers["Cache-Control"] == "no-store"
    return secret, codes


def _password_step(client, email, remember=False):
    data = {"email": email, "password": PASSWORD}
    if remember:
        data["remember"] = "y"
    return post(client, "/account/login", data)


def _code_step(client, code="", recovery_code=""):
    return post(client, "/account/login/code", {"code": code, "recovery_code": recovery_code},
                token_from="/account/login/code")


def _logged_in(client) -> bool:
    response = client.get("/account/")
    return response.status_code == 200


def _forget_last_step(db, user_id):
    """Thirty seconds pass: the last used time step is behind us."""
    db.session.execute(update(User).where(User.id == user_id).values(totp_last_step=None))
    db.session.commit()


def _live_sessions(db, user_id) -> int:
    db.session.expire_all()
    return len(db.session.execute(select(UserSession).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None))).all())


@pytest.fixture
def mfa_required(app, monkeypatch):
    monkeypatch.setitem(app.config, "MFA_REQUIRED", True)


def test_a_citizen_turns_it_on_and_logs_in_in_two_steps(app, make, db):
    user = make.user()
    client = app.test_client()
    login(client, user.email)
    profile = client.get("/account/").get_data(as_text=True)
    assert 'href="/account/mfa"' in profile
    secret, codes = _enrol(client)
    db.session.expire_all()
    stored = db.session.get(User, user.id)
    assert stored.totp_enabled_at is not None and stored.totp_secret == secret
    hashes = [r.code_hash for r in db.session.execute(select(RecoveryCode)).scalars()]
    assert len(hashes) == 10 and not any(c.replace("-", "") in h for c in codes for h in hashes)
    post(client, "/account/logout", {}, token_from="/account/")

    response = _password_step(client, user.email)
    assert response.status_code == 302 and response.headers["Location"].endswith("/account/login/code")
    # No login yet: no session row, no access.
    assert _live_sessions(db, user.id) == 0
    assert not _logged_in(client)
    page = client.get("/account/login/code").get_data(as_text=True)
    assert 'autocomplete="one-time-code"' in page and 'inputmode="numeric"' in page
    assert '<label class="form-label fw-semibold" for="code">' in page

    response = _code_step(client, _code(secret, 1))
    assert response.status_code == 302
    assert _logged_in(client)
    assert _live_sessions(db, user.id) == 1


def test_a_code_cannot_be_used_twice(app, make, db):
    user = make.user()
    client = app.test_client()
    login(client, user.email)
    secret, _ = _enrol(client)
    post(client, "/account/logout", {}, token_from="/account/")
    code = _code(secret, 1)
    _password_step(client, user.email)
    assert _code_step(client, code).status_code == 302
    post(client, "/account/logout", {}, token_from="/account/")

    _password_step(client, user.email)
    replay = _code_step(client, code)
    assert replay.status_code == 422
    assert not _logged_in(client)


def test_five_wrong_codes_drop_the_pending_login_even_from_a_copied_cookie(app, make, db):
    user = make.user()
    client = app.test_client()
    login(client, user.email)
    secret, _ = _enrol(client)
    post(client, "/account/logout", {}, token_from="/account/")

    _password_step(client, user.email)
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    wrong = "000000" if _code(secret, 1) != "000000" else "111111"
    for _ in range(4):
        assert _code_step(client, wrong).status_code == 422
    fifth = _code_step(client, wrong)
    assert fifth.status_code == 302 and "/account/login" in fifth.headers["Location"]
    assert client.get("/account/login/code").status_code == 302  # the pending login is gone
    # The cookie from before the guesses carries the pending login, but the count is on the
    # server: the right code is refused now.
    assert _code_step(copy, _code(secret, 1)).status_code == 302
    assert not _logged_in(copy)
    assert _live_sessions(db, user.id) == 0

    # A correct password opens a new attempt budget.
    _password_step(client, user.email)
    assert _code_step(client, _code(secret, 1)).status_code == 302
    assert _logged_in(client)


def test_the_pending_login_expires_after_five_minutes(app, make, db):
    user = make.user()
    client = app.test_client()
    login(client, user.email)
    secret, _ = _enrol(client)
    post(client, "/account/logout", {}, token_from="/account/")
    _password_step(client, user.email)
    with client.session_transaction() as session:
        pending = dict(session["mfa_pending"])
        assert pending["until"] - time.time() <= 5 * 60
        pending["until"] = int(time.time()) - 1
        session["mfa_pending"] = pending
    response = client.get("/account/login/code")
    assert response.status_code == 302 and "/account/login" in response.headers["Location"]
    assert not _logged_in(client)


def test_a_recovery_code_works_once(app, make, db):
    user = make.user()
    client = app.test_client()
    login(client, user.email)
    _, codes = _enrol(client)
    post(client, "/account/logout", {}, token_from="/account/")

    _password_step(client, user.email)
    assert _code_step(client, recovery_code=codes[0].upper()).status_code == 302
    assert _logged_in(client)
    post(client, "/account/logout", {}, token_from="/account/")

    _password_step(client, user.email)
    assert _code_step(client, recovery_code=codes[0]).status_code == 422
    assert _code_step(client, recovery_code=codes[1]).status_code == 302
    page = client.get("/account/mfa").get_data(as_text=True)
    assert "8 recovery codes left" in page or "8 codici di recupero rimasti" in page


def test_new_recovery_codes_replace_the_old_ones(app, make, db):
    user = make.user()
    client = app.test_client()
    login(client, user.email)
    secret, old_codes = _enrol(client)
    wrong = post(client, "/account/mfa/recovery-codes", {"rc-code": "12345"}, token_from="/account/mfa")
    assert wrong.status_code == 422
    response = post(client, "/account/mfa/recovery-codes", {"rc-code": _code(secret, 1)},
                    token_from="/account/mfa")
    assert response.status_code == 200
    new_codes = RECOVERY_RE.findall(response.get_data(as_text=True))
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    post(client, "/account/logout", {}, token_from="/account/")

    _password_step(client, user.email)
    assert _code_step(client, recovery_code=old_codes[0]).status_code == 422
    assert _code_step(client, recovery_code=new_codes[0]).status_code == 302


def test_turning_it_off_needs_password_and_code(app, make, db):
    user = make.user()
    client = app.test_client()
    login(client, user.email)
    secret, _ = _enrol(client)
    bad_password = post(client, "/account/mfa/disable", {"off-password": "wrong-password-123",
                                                        "off-code": _code(secret, 1)},
                        token_from="/account/mfa")
    assert bad_password.status_code == 422
    bad_code = post(client, "/account/mfa/disable", {"off-password": PASSWORD, "off-code": "12"},
                    token_from="/account/mfa")
    assert bad_code.status_code == 422
    _forget_last_step(db, user.id)
    response = post(client, "/account/mfa/disable", {"off-password": PASSWORD,
                                                    "off-code": _code(secret, 1)},
                    token_from="/account/mfa")
    assert response.status_code == 302
    db.session.expire_all()
    stored = db.session.get(User, user.id)
    assert stored.totp_secret is None and not stored.mfa_enabled
    assert db.session.execute(select(RecoveryCode)).first() is None
    post(client, "/account/logout", {}, token_from="/account/")
    login(client, user.email)  # one step again
    assert _logged_in(client)


def test_enrolment_ends_sessions_opened_with_the_password_alone(app, make, db):
    user = make.user()
    client, other = app.test_client(), app.test_client()
    login(client, user.email)
    login(other, user.email)
    bad = post(client, "/account/mfa", {"code": "123"}, token_from="/account/mfa")
    assert bad.status_code == 422
    _enrol(client)
    assert _logged_in(client)
    assert not _logged_in(other)


def test_privileged_users_must_enrol_when_required(app, make, db, mfa_required):
    territory = make.territory()
    coordinator = make.coordinator(territory)
    client = app.test_client()
    login(client, coordinator.email)
    dashboard = f"/t/{territory.slug}/coordinator/"
    response = client.get(dashboard)
    assert response.status_code == 302 and response.headers["Location"].endswith("/account/mfa")
    assert client.get("/account/").status_code == 302
    assert client.get(dashboard, headers={"Accept": "application/json"}).status_code == 403
    # The language switch and the enrolment page itself still answer.
    assert client.get("/account/language?lang=en&next=/account/mfa").status_code == 302
    page = client.get("/account/mfa")
    assert page.status_code == 200
    assert "requires two-step verification" in page.get_data(as_text=True)

    secret, _ = _enrol(client)
    assert client.get(dashboard).status_code == 200
    post(client, "/account/logout", {}, token_from="/account/")
    assert _password_step(client, coordinator.email).headers["Location"].endswith("/account/login/code")
    _code_step(client, _code(secret, 1))
    assert client.get(dashboard).status_code == 200


def test_logout_works_before_enrolment(app, make, db, mfa_required):
    staff = make.staff(make.cooperative(make.territory()))
    client = app.test_client()
    login(client, staff.email)
    response = post(client, "/account/logout", {}, token_from="/account/mfa")
    assert response.status_code == 302
    assert _live_sessions(db, staff.id) == 0


def test_citizens_are_not_forced_to_enrol(app, make, db, mfa_required):
    user = make.user()
    client = app.test_client()
    login(client, user.email)
    assert _logged_in(client)


def test_remember_me_is_carried_through_the_second_step(app, make, db):
    user = make.user()
    client = app.test_client()
    login(client, user.email)
    secret, _ = _enrol(client)
    post(client, "/account/logout", {}, token_from="/account/")
    _password_step(client, user.email, remember=True)
    assert client.get_cookie("remember_token") is None
    _code_step(client, _code(secret, 1))
    assert client.get_cookie("remember_token") is not None


def test_the_pages_speak_italian(app, make, db):
    user = make.user(locale="it")
    client = app.test_client()
    login(client, user.email)
    page = html.unescape(client.get("/account/mfa").get_data(as_text=True))
    assert "Attiva la verifica in due passaggi" in page
    assert "Codice di verifica" in page
