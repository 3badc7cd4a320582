"""The TOTP second factor (RFC 6238, via pyotp) and its single-use recovery codes.

The TOTP secret is stored in plain text in ``user_account.totp_secret`` (no encryption
library is installed; whoever reads the database can also read password hashes and every
document, so encrypting this one column would add little without a separate key store).
Recovery codes are stored salted and hashed. A code is accepted once: the time step it
belongs to is remembered, and the check-and-set is one UPDATE, so two requests racing with
the same code cannot both pass.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time

import pyotp
import segno
from flask import current_app
from markupsafe import Markup, escape
from sqlalchemy import delete, or_, select, update

from marketplace.extensions import db
from marketplace.models import RecoveryCode, User
from marketplace.models.base import utcnow

RECOVERY_CODES = 10
# Wrong codes allowed after one correct password; then the pending login is dropped.
MAX_FAILURES = 5
# A code from the previous or the next 30-second step is accepted too (clock drift).
VALID_WINDOW = 1
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


def mfa_required_for(user: User) -> bool:
    """True when this user must have a second factor (MFA_REQUIRED and a privileged role)."""
    from marketplace.services.sessions import is_privileged

    return bool(current_app.config.get("MFA_REQUIRED")) and is_privileged(user)


def begin_enrolment(user: User) -> str:
    """The secret being enrolled: a new one unless enrolment already started. Caller commits."""
    if user.mfa_enabled:
        raise ValueError("already enrolled")
    if not user.totp_secret:
        user.totp_secret = pyotp.random_base32()
    return user.totp_secret


def provisioning_uri(user: User) -> str:
    return pyotp.TOTP(user.totp_secret).provisioning_uri(
        name=user.email, issuer_name=current_app.config.get("MFA_ISSUER", "Welfare Marketplace"))


def qr_svg(user: User, label: str) -> Markup:
    """The otpauth:// URI as an inline SVG QR code with an accessible name."""
    name = escape(label)
    svg = segno.make(provisioning_uri(user), error="m").svg_inline(
        scale=4, border=4, light="#fff", title=str(name), svgclass="mfa-qr")
    return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{name}" ', 1))


def format_secret(secret: str) -> str:
    """Groups of four, easier to type into an authenticator app."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def _clean(code: str) -> str:
    return "".join((code or "").split()).replace("-", "").lower()


def _matching_step(secret: str, code: str) -> int | None:
    code = _clean(code)
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    now_step = int(time.time()) // totp.interval
    for step in range(now_step - VALID_WINDOW, now_step + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _accept_step(user: User, step: int) -> bool:
    """Record ``step`` as used unless it (or a later one) already was: no replay."""
    result = db.session.execute(
        update(User)
        .where(User.id == user.id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    user.totp_last_step = step
    return True


def confirm_enrolment(user: User, code: str) -> list[str] | None:
    """Turn the factor on if ``code`` matches the pending secret; returns the new recovery
    codes (to show once), or None for a wrong code. Caller commits."""
    if user.mfa_enabled or not user.totp_secret:
        return None
    step = _matching_step(user.totp_secret, code)
    if step is None or not _accept_step(user, step):
        return None
    user.totp_enabled_at = utcnow()
    user.mfa_failures = 0
    return new_recovery_codes(user)


def verify(user: User, code: str) -> bool:
    """A current TOTP code not used before, or an unused recovery code (then spent).
    Caller commits."""
    if not user.mfa_enabled:
        return False
    step = _matching_step(user.totp_secret, code)
    if step is not None:
        return _accept_step(user, step)
    return _use_recovery_code(user, code)


def _hash_code(code: str, salt: str) -> str:
    return hashlib.sha256((salt + code).encode("utf-8")).hexdigest()


def new_recovery_codes(user: User) -> list[str]:
    """Replace the user's recovery codes with ten new ones; only their hashes are kept.
    Caller commits."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        code = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        salt = secrets.token_hex(8)
        db.session.add(RecoveryCode(user_id=user.id, code_hash=f"{salt}${_hash_code(code, salt)}"))
        codes.append(f"{code[:5]}-{code[5:]}")
    return codes


def _use_recovery_code(user: User, code: str) -> bool:
    code = _clean(code)
    if len(code) != 10:
        return False
    rows = db.session.execute(
        select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ).scalars()
    for row in rows:
        salt, _, digest = row.code_hash.partition("$")
        if hmac.compare_digest(_hash_code(code, salt), digest):
            spent = db.session.execute(
                update(RecoveryCode)
                .where(RecoveryCode.id == row.id, RecoveryCode.used_at.is_(None))
                .values(used_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            return spent.rowcount == 1
    return False


def recovery_codes_left(user: User) -> int:
    return len(db.session.execute(
        select(RecoveryCode.id).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ).all())


def disable(user: User) -> None:
    """Turn the factor off and forget the secret and the recovery codes. Caller commits."""
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.mfa_failures = 0
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


# The second login step: the attempt budget is on the account, in the database (the pending
# login itself sits in the signed cookie session, which a client could replay).

def reset_failures(user: User) -> None:
    """A correct password opens a new budget of MAX_FAILURES codes. Caller commits."""
    user.mfa_failures = 0


def take_attempt(user: User) -> bool:
    """Spend one attempt before checking a code; False when the budget is used up. One
    UPDATE, so parallel guesses cannot overspend it. Caller commits."""
    result = db.session.execute(
        update(User)
        .where(User.id == user.id, User.mfa_failures < MAX_FAILURES)
        .values(mfa_failures=User.mfa_failures + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def attempts_exhausted(user: User) -> bool:
    db.session.refresh(user, ["mfa_failures"])
    return user.mfa_failures >= MAX_FAILURES
