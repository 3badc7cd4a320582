"""Server-side sessions: logout, password change, password reset and "log out everywhere"
end a login on the server, so a copy of its cookies stops working; idle timeouts, the
absolute lifetime and remember-me. Time moves by editing the session row's timestamps."""
from __future__ import annotations

import datetime as dt
import hashlib
import re

from sqlalchemy import select, update

from marketplace.models import Membership, OutboxMessage, UserSession
from marketplace.models.base import utcnow
from tests.conftest import login, post
from tests.factories import PASSWORD

LINK_RE = re.compile(r"https?://\S+")


def _copy_cookie(source, target, name: str) -> None:
    cookie = source.get_cookie(name)
    assert cookie is not None, f"no {name} cookie"
    target.set_cookie(name, cookie.value)


def _rows(db, user) -> list[UserSession]:
    db.session.expire_all()
    return list(db.session.execute(
        select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.id)
    ).scalars())


def _live(db, user) -> list[UserSession]:
    return [row for row in _rows(db, user) if row.revoked_at is None]


def _move(db, row_id: int, **values) -> None:
    db.session.execute(update(UserSession).where(UserSession.id == row_id).values(**values))
    db.session.commit()


def _logged_in(client) -> bool:
    response = client.get("/account/")
    if response.status_code == 302:
        assert "/account/login" in response.headers["Location"]
        return False
    assert response.status_code == 200
    return True


def test_a_session_cookie_copied_before_logout_no_longer_works(app, make, db):
    user = make.user()
    alice, thief = app.test_client(), app.test_client()
    login(alice, user.email)
    _copy_cookie(alice, thief, "session")
    assert _logged_in(thief)

    post(alice, "/account/logout", {}, token_from="/account/")
    assert not _logged_in(alice)
    assert not _logged_in(thief)
    [row] = _rows(db, user)
    assert row.revoked_at is not None


def test_a_remember_me_cookie_copied_before_logout_no_longer_works(app, make, db):
    user = make.user()
    alice = app.test_client()
    post(alice, "/account/login", {"email": user.email, "password": PASSWORD, "remember": "y"})
    thief = app.test_client()
    _copy_cookie(alice, thief, "remember_token")  # the remember cookie alone
    assert _logged_in(thief)

    copied = thief.get_cookie("remember_token").value
    post(alice, "/account/logout", {}, token_from="/account/")
    assert not _logged_in(thief)  # its session cookie (restored from remember-me) too
    stale = app.test_client()
    stale.set_cookie("remember_token", copied)
    assert not _logged_in(stale)


def test_the_cookies_carry_a_session_key_that_is_stored_hashed(app, make, db):
    user = make.user()
    client = app.test_client()
    post(client, "/account/login", {"email": user.email, "password": PASSWORD, "remember": "y"})
    remember = client.get_cookie("remember_token").value
    key = remember.split("|", 1)[0]
    [row] = _rows(db, user)
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in row.key_hash
    signed = app.session_interface.get_signing_serializer(app).loads(client.get_cookie("session").value)
    assert signed["_user_id"] == key
    assert str(user.id) != key


def test_password_change_ends_every_other_session_and_keeps_this_one(app, make, db):
    user = make.user()
    here, elsewhere, thief = app.test_client(), app.test_client(), app.test_client()
    login(here, user.email)
    login(elsewhere, user.email)
    _copy_cookie(elsewhere, thief, "session")

    response = post(here, "/account/password", {
        "pw-current_password": PASSWORD, "pw-password": "another-long-password-2",
        "pw-confirm": "another-long-password-2"}, token_from="/account/")
    assert response.status_code == 302
    assert _logged_in(here)
    assert not _logged_in(elsewhere)
    assert not _logged_in(thief)
    assert len(_live(db, user)) == 1


def test_password_reset_ends_every_session(app, make, db):
    user = make.user()
    browser, other = app.test_client(), app.test_client()
    login(other, user.email)
    post(browser, "/account/forgot", {"email": user.email}, token_from="/account/forgot")
    mail = db.session.execute(
        select(OutboxMessage).where(OutboxMessage.to_email == user.email).order_by(OutboxMessage.id.desc())
    ).scalars().first()
    link = "/" + LINK_RE.search(mail.body_text).group(0).split("/", 3)[3]
    response = post(browser, link, {"password": "another-long-password-2",
                                    "confirm": "another-long-password-2"}, token_from=link)
    assert response.status_code == 302
    assert not _logged_in(other)
    assert _live(db, user) == []


def test_log_out_everywhere_from_the_profile_page(app, make, db):
    user = make.user()
    here, phone = app.test_client(), app.test_client()
    login(here, user.email)
    post(phone, "/account/login", {"email": user.email, "password": PASSWORD, "remember": "y"})
    page = here.get("/account/").get_data(as_text=True)
    assert "Log out everywhere" in page or "Esci da tutti i dispositivi" in page
    assert page.count("<tr>") >= 3  # a header and the two sessions

    response = post(here, "/account/sessions/end-all", {}, token_from="/account/")
    assert response.status_code == 302 and "/account/login" in response.headers["Location"]
    assert not _logged_in(here)
    assert not _logged_in(phone)
    stale = app.test_client()
    stale.set_cookie("remember_token", phone.get_cookie("remember_token").value)
    assert not _logged_in(stale)
    assert _live(db, user) == []


def test_idle_timeout_is_short_for_privileged_users(app, make, db):
    territory = make.territory()
    coordinator = make.coordinator(territory)
    citizen = make.user()
    coordinator_client, citizen_client = app.test_client(), app.test_client()
    login(coordinator_client, coordinator.email)
    login(citizen_client, citizen.email)
    [coordinator_row] = _rows(db, coordinator)
    [citizen_row] = _rows(db, citizen)
    assert coordinator_row.privileged and not citizen_row.privileged

    idle = utcnow() - dt.timedelta(minutes=31)
    _move(db, coordinator_row.id, last_seen_at=idle)
    _move(db, citizen_row.id, last_seen_at=idle)
    assert not _logged_in(coordinator_client)
    assert _logged_in(citizen_client)

    _move(db, citizen_row.id, last_seen_at=utcnow() - dt.timedelta(minutes=121))
    assert not _logged_in(citizen_client)


def test_funder_officers_and_staff_are_privileged(app, make, db):
    territory = make.territory()
    employer = make.funder(territory, kind="employer")
    hr_officer = make.funder_officer(employer)
    staff = make.staff(make.cooperative(territory))
    help_desk = make.user()
    make.membership(territory, help_desk, Membership.HELP_DESK)
    operator = make.user(is_platform_admin=True)
    for user in (hr_officer, staff, help_desk, operator):
        login(app.test_client(), user.email)
        [row] = _rows(db, user)
        assert row.privileged, user.email


def test_absolute_lifetime_ends_an_active_session(app, make, db):
    user = make.user()
    client = app.test_client()
    login(client, user.email)
    [row] = _rows(db, user)
    assert dt.timedelta(hours=11, minutes=59) < row.expires_at - row.created_at <= dt.timedelta(hours=12)
    _move(db, row.id, expires_at=utcnow() - dt.timedelta(seconds=1), last_seen_at=utcnow())
    assert not _logged_in(client)


def test_remember_me_lasts_30_days_without_idle_timeout_for_citizens(app, make, db):
    user = make.user()
    browser = app.test_client()
    post(browser, "/account/login", {"email": user.email, "password": PASSWORD, "remember": "y"})
    [row] = _rows(db, user)
    assert row.remember
    assert dt.timedelta(days=29, hours=23) < row.expires_at - row.created_at <= dt.timedelta(days=30)
    assert app.config["REMEMBER_COOKIE_DURATION"] == dt.timedelta(days=30)

    # Three days later, the browser was closed: only the remember-me cookie is left.
    _move(db, row.id, last_seen_at=utcnow() - dt.timedelta(days=3))
    reopened = app.test_client()
    _copy_cookie(browser, reopened, "remember_token")
    assert _logged_in(reopened)

    _move(db, row.id, expires_at=utcnow() - dt.timedelta(minutes=1))
    again = app.test_client()
    _copy_cookie(browser, again, "remember_token")
    assert not _logged_in(again)


def test_privileged_users_never_get_remember_me(app, make, db):
    coordinator = make.coordinator(make.territory())
    client = app.test_client()
    post(client, "/account/login", {"email": coordinator.email, "password": PASSWORD, "remember": "y"})
    assert client.get_cookie("remember_token") is None
    [row] = _rows(db, coordinator)
    assert not row.remember
    assert row.expires_at - row.created_at <= dt.timedelta(hours=12)


def test_accepting_a_role_gives_the_session_the_privileged_rules(app, make, db):
    territory = make.territory()
    citizen = make.user(email="invited@example.org")
    _, raw = make.invitation(territory, email="invited@example.org")
    client = app.test_client()
    post(client, "/account/login", {"email": citizen.email, "password": PASSWORD, "remember": "y"})
    url = f"/t/{territory.slug}/account/invitation/{raw}"
    assert post(client, url, {}, token_from=url).status_code == 302
    [row] = _rows(db, citizen)
    assert row.privileged and not row.remember
    assert row.expires_at - row.created_at <= dt.timedelta(hours=12)


def test_last_seen_is_written_at_most_once_a_minute(app, make, db):
    user = make.user()
    client = app.test_client()
    login(client, user.email)
    [row] = _rows(db, user)
    first_seen = row.last_seen_at
    for _ in range(3):
        assert _logged_in(client)
    assert _rows(db, user)[0].last_seen_at == first_seen

    _move(db, row.id, last_seen_at=utcnow() - dt.timedelta(minutes=2))
    assert _logged_in(client)
    assert utcnow() - _rows(db, user)[0].last_seen_at < dt.timedelta(seconds=30)


def test_deleting_the_account_ends_its_sessions(app, make, db):
    user = make.user()
    here, other = app.test_client(), app.test_client()
    login(here, user.email)
    login(other, user.email)
    response = post(here, "/account/delete", {"password": PASSWORD, "confirm": "y"},
                    token_from="/account/delete")
    assert response.status_code == 302
    assert not _logged_in(other)
    assert _live(db, user) == []


def test_logging_in_again_ends_the_login_this_browser_had(app, make, db):
    first, second = make.user(), make.user()
    browser, thief = app.test_client(), app.test_client()
    login(browser, first.email)
    _copy_cookie(browser, thief, "session")
    login(browser, second.email)
    assert not _logged_in(thief)
    assert _live(db, first) == []
