"""Citizen accounts: registration, confirmation, login, password reset, deletion."""
from __future__ import annotations

import functools
import re
import secrets

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select
from werkzeug.security import check_password_hash, generate_password_hash

from marketplace.extensions import db
from marketplace.models import AccountToken, Invitation, Membership, User
from marketplace.models.base import utcnow
from marketplace.services import DomainError, mfa, sessions, throttle
from marketplace.services.mail import external_url, send_mail
from marketplace.services.tokens import expiry, hash_token, new_token
from tenants.scoping import unscoped


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def find_user_by_email(email: str) -> User | None:
    return db.session.execute(
        select(User).where(func.lower(User.email) == normalise_email(email))
    ).scalar_one_or_none()


def register(email: str, password: str, full_name: str = "", locale: str = "it",
             territory=None, confirmed: bool = False) -> User:
    """Create a citizen account and e-mail a confirmation link (unless ``confirmed``).

    Raises DomainError if the address is taken. Caller commits.
    """
    email = normalise_email(email)
    if find_user_by_email(email) is not None:
        raise DomainError(_l("An account with this e-mail address already exists. "
                             "Log in or reset your password."), field="email")
    user = User(email=email, full_name=full_name.strip(), locale=locale)
    user.set_password(password)
    if confirmed:
        user.email_confirmed_at = utcnow()
    db.session.add(user)
    db.session.flush()
    if not confirmed:
        send_confirmation(user, territory=territory)
    return user


def sign_up(email: str, password: str, full_name: str = "", locale: str = "it", territory=None) -> None:
    """Public registration, which must not tell the visitor whether ``email`` has an
    account: a new address gets an (unconfirmed) account and a confirmation link; a taken
    one gets, instead, a message to its holder ("someone tried to register with your
    address"; at most ``ACCOUNT_MAIL_RATE_LIMIT`` of them) and no change. Either way one
    password hash is computed and nobody is logged in. Caller commits."""
    existing = find_user_by_email(email)
    if existing is None:
        register(email, password, full_name, locale=locale, territory=territory)
        return
    generate_password_hash(password)  # the work a new account costs: timing tells nothing
    if existing.email.endswith(".invalid") or not throttle.account_mail_allowed(existing.email):
        return  # an address that receives nothing (help desk, phone only), or enough e-mails
    values = {"territory": territory.slug} if territory is not None else {}
    send_mail(existing.email, "register_existing", locale=existing.locale, territory=territory,
              user=existing, login_link=external_url("account.login", **values),
              reset_link=external_url("account.forgot_password", **values))


def _issue(user: User, purpose: str, ttl: int) -> str:
    raw, digest = new_token()
    db.session.add(
        AccountToken(user_id=user.id, purpose=purpose, token_hash=digest, expires_at=expiry(ttl))
    )
    return raw


def send_confirmation(user: User, territory=None) -> None:
    raw = _issue(user, AccountToken.CONFIRM, current_app.config["TOKEN_TTL_CONFIRM"])
    values = {"token": raw}
    if territory is not None:
        values["territory"] = territory.slug
    send_mail(
        user.email,
        "confirm_email",
        locale=user.locale,
        territory=territory,
        user=user,
        link=external_url("account.confirm", **values),
    )


def _consume(raw: str, purpose: str) -> AccountToken:
    token = db.session.execute(
        select(AccountToken).where(
            AccountToken.token_hash == hash_token(raw or ""), AccountToken.purpose == purpose
        )
    ).scalar_one_or_none()
    if token is None or token.used_at is not None:
        raise DomainError(_l("This link is not valid or has already been used."))
    if token.expires_at <= utcnow():
        raise DomainError(_l("This link has expired. Please ask for a new one."))
    token.used_at = utcnow()
    return token


def confirm_email(raw: str) -> User:
    token = _consume(raw, AccountToken.CONFIRM)
    user = token.user
    if user.deleted_at is not None:
        raise DomainError(_l("This link is not valid or has already been used."))
    if user.email_confirmed_at is None:
        user.email_confirmed_at = utcnow()
    return user


def authenticate(email: str, password: str) -> User | None:
    """The user for these credentials, or None. Same work whether or not the user exists."""
    user = find_user_by_email(email)
    if user is None or user.deleted_at is not None:
        # Hash anyway so response time does not reveal which addresses exist.
        check_password_hash(_dummy_hash(), password)
        return None
    if not user.check_password(password):
        return None
    user.last_login_at = utcnow()
    return user


@functools.cache
def _dummy_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe(16))


def request_password_reset(email: str, territory=None) -> None:
    """E-mail a reset link if the account exists; says nothing either way. At most
    ``ACCOUNT_MAIL_RATE_LIMIT`` such e-mails per address (counted for unknown ones too);
    beyond it the request is silently dropped."""
    if not throttle.account_mail_allowed(email):
        return
    user = find_user_by_email(email)
    if user is None or user.deleted_at is not None:
        return
    raw = _issue(user, AccountToken.RESET, current_app.config["TOKEN_TTL_RESET"])
    values = {"token": raw}
    if territory is not None:
        values["territory"] = territory.slug
    send_mail(
        user.email,
        "reset_password",
        locale=user.locale,
        territory=territory,
        user=user,
        link=external_url("account.reset_password", **values),
    )


def check_reset_token(raw: str) -> AccountToken:
    token = db.session.execute(
        select(AccountToken).where(
            AccountToken.token_hash == hash_token(raw or ""),
            AccountToken.purpose == AccountToken.RESET,
        )
    ).scalar_one_or_none()
    if token is None or token.used_at is not None or token.expires_at <= utcnow():
        raise DomainError(_l("This link is not valid or has expired. Please ask for a new one."))
    return token


def reset_password(raw: str, new_password: str) -> User:
    token = _consume(raw, AccountToken.RESET)
    user = token.user
    user.set_password(new_password)
    # Proving control of the mailbox also confirms it.
    if user.email_confirmed_at is None:
        user.email_confirmed_at = utcnow()
    # Every other outstanding reset link dies with this one.
    for other in db.session.execute(
        select(AccountToken).where(
            AccountToken.user_id == user.id,
            AccountToken.purpose == AccountToken.RESET,
            AccountToken.used_at.is_(None),
        )
    ).scalars():
        other.used_at = utcnow()
    # Whoever knew the old password (or holds a copied cookie) is logged out everywhere.
    sessions.revoke_all(user)
    return user


def change_password(user: User, current: str, new: str, keep_session=None) -> None:
    """Set a new password and end every session of the user but ``keep_session`` (the
    one changing it). Raises DomainError if ``current`` is wrong. Caller commits."""
    if not user.check_password(current):
        raise DomainError(_l("The current password is not correct."), field="current_password")
    user.set_password(new)
    sessions.revoke_all(user, keep=keep_session)


def delete_account(user: User) -> None:
    """Erase personal data; the row stays (anonymised) so past bookings still add up."""
    with unscoped():
        db.session.execute(delete(Membership).where(Membership.user_id == user.id))
        db.session.execute(
            delete(Invitation).where(
                func.lower(Invitation.email) == user.email.lower(),
                Invitation.accepted_at.is_(None),
            )
        )
    db.session.execute(delete(AccountToken).where(AccountToken.user_id == user.id))
    user.email = f"deleted-{user.id}@invalid.invalid"
    user.full_name = ""
    user.phone = ""
    user.password_hash = ""
    user.is_platform_admin = False
    mfa.disable(user)
    sessions.revoke_all(user)
    user.deleted_at = utcnow()


PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 128
# zxcvbn's score (0-4): below this a password falls to an online or a fast offline guess.
PASSWORD_MIN_SCORE = 3


def password_problem(password: str, email: str = "", name: str = "") -> str | None:
    """A localised reason why ``password`` is too weak, or None: shorter than 12
    characters, longer than 128, or easy to guess (zxcvbn score below 3, knowing the
    account's e-mail address and name)."""
    password = password or ""
    if len(password) < PASSWORD_MIN_LENGTH:
        return _l("Use at least %(num)d characters.", num=PASSWORD_MIN_LENGTH)
    if len(password) > PASSWORD_MAX_LENGTH:
        return _l("Use at most %(num)d characters.", num=PASSWORD_MAX_LENGTH)
    if email and password.strip().lower() == normalise_email(email):
        return _l("The password must not be your e-mail address.")
    return _guessable(password, _user_inputs(email, name))


def _user_inputs(email: str, name: str) -> list[str]:
    """What an attacker who targets this account knows: its address and name, in pieces."""
    email, name = normalise_email(email), (name or "").strip().lower()
    local, _, domain = email.partition("@")
    words = [email, local, domain.split(".")[0], name, name.replace(" ", "")]
    for text in (local, name):
        words += [w for w in re.split(r"[\W_]+", text) if len(w) >= 3]
    return [w for w in dict.fromkeys(words) if w]


def _guessable(password: str, user_inputs: list[str]) -> str | None:
    from zxcvbn import zxcvbn

    # zxcvbn refuses more than 72 characters (and its time grows with the length): judge
    # the start, which is what a guesser works on.
    result = zxcvbn(password[:72], user_inputs=user_inputs)
    if result["score"] >= PASSWORD_MIN_SCORE:
        return None
    # zxcvbn explains in English only: say why in our words, from what it matched.
    matches = result["sequence"]
    if any(m.get("dictionary_name") == "user_inputs" for m in matches):
        why = _l("This password is too easy to guess: it contains your name or e-mail address.")
    elif any(m.get("dictionary_name") == "passwords" for m in matches):
        why = _l("This password is too easy to guess: it is one of the most common passwords, "
                 "or built on one.")
    elif any(m["pattern"] == "spatial" for m in matches):
        why = _l("This password is too easy to guess: it follows the keys of the keyboard.")
    elif any(m["pattern"] in ("sequence", "repeat") for m in matches):
        why = _l("This password is too easy to guess: it repeats characters or follows a sequence "
                 "such as 1234 or abcd.")
    elif any(m["pattern"] in ("date", "regex") for m in matches):
        why = _l("This password is too easy to guess: it is mostly a date or a year.")
    else:
        why = _l("This password is too easy to guess: it is made of common words or names.")
    return _l("%(why)s Try three or four unrelated words, or a longer password.", why=why)
