"""Per-account throttling of logins and of e-mails sent on an anonymous request.

Flask-Limiter limits each client IP; this module limits each *account*, whatever IP the
attempts come from. Counters live in the limiter's storage (Redis whenever ``REDIS_URL``
is set, so every process shares them; memory on a laptop), in moving windows keyed by a
keyed hash of the normalised e-mail address: no address is ever written into a key.
Addresses without an account get exactly the same treatment, so neither a lockout nor a
silently dropped e-mail tells a visitor which addresses exist.

The login view calls three functions: ``login_locked`` before authenticating,
``login_failed`` after a wrong password, ``clear_login_failures`` after a success.
"""
from __future__ import annotations

import hashlib
import hmac
import math
import time

from flask import current_app
from limits import RateLimitItemPerSecond, parse
from limits.strategies import MovingWindowRateLimiter

from marketplace.extensions import limiter


def _account_key(email: str) -> str:
    from marketplace.services.accounts import normalise_email

    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, normalise_email(email).encode(), hashlib.sha256).hexdigest()[:32]


def _ids(scope: str, email: str) -> tuple[str, str, str]:
    return current_app.config["RATELIMIT_KEY_PREFIX"], scope, _account_key(email)


def _strategy() -> MovingWindowRateLimiter | None:
    """The counters, or None when rate limiting is switched off (``RATELIMIT_ENABLED``
    false: the limiter then has no storage, and these limits are off with the others)."""
    return MovingWindowRateLimiter(limiter.storage) if limiter.enabled else None


def _failures_limit():
    config = current_app.config
    return RateLimitItemPerSecond(int(config["ACCOUNT_LOCK_ATTEMPTS"]), int(config["ACCOUNT_LOCK_WINDOW"]))


def login_locked(email: str) -> int:
    """Seconds until ``email`` may try to log in again (0: it may now). An account is
    locked once it has ``ACCOUNT_LOCK_ATTEMPTS`` failures within ``ACCOUNT_LOCK_WINDOW``
    seconds, from any IP; it stays locked, even for the right password, until the oldest
    of those failures leaves the window. Attempts while locked are not counted."""
    item, ids = _failures_limit(), _ids("login-failures", email)
    strategy = _strategy()
    if strategy is None or strategy.test(item, *ids):
        return 0
    reset_at = strategy.get_window_stats(item, *ids).reset_time
    return max(1, math.ceil(reset_at - time.time()))


def login_failed(email: str, territory=None) -> None:
    """Count a failed login for ``email``. The failure that locks an existing account
    queues one e-mail to its holder (at most one per ``ACCOUNT_LOCK_NOTICE_SECONDS``);
    call inside the request's transaction and commit, so the e-mail leaves."""
    item, ids = _failures_limit(), _ids("login-failures", email)
    strategy = _strategy()
    if strategy is None:
        return
    strategy.hit(item, *ids)
    if strategy.test(item, *ids):
        return
    notice = RateLimitItemPerSecond(1, int(current_app.config["ACCOUNT_LOCK_NOTICE_SECONDS"]))
    # One atomic acquire decides which process sends the notice, so the holder gets one.
    if strategy.hit(notice, *_ids("lock-notice", email)):
        _send_lock_notice(email, territory)


def clear_login_failures(email: str) -> None:
    """Forget the failed logins of ``email`` (after a successful login or password reset)."""
    strategy = _strategy()
    if strategy is not None:
        strategy.clear(_failures_limit(), *_ids("login-failures", email))


def account_mail_allowed(email: str) -> bool:
    """Count an e-mail asked for ``email`` by an anonymous visitor (a reset link, a
    "someone tried to register" notice) and say whether it may go: at most
    ``ACCOUNT_MAIL_RATE_LIMIT`` per account. Callers drop the e-mail silently when not,
    and answer the visitor the same way either way."""
    strategy = _strategy()
    if strategy is None:
        return True
    return strategy.hit(parse(current_app.config["ACCOUNT_MAIL_RATE_LIMIT"]), *_ids("account-mail", email))


def _send_lock_notice(email: str, territory=None) -> None:
    from marketplace.services.accounts import find_user_by_email
    from marketplace.services.mail import external_url, send_mail

    user = find_user_by_email(email)
    if user is None or user.deleted_at is not None or user.email.endswith(".invalid"):
        return  # no account, or one whose address receives nothing (help desk, phone only)
    values = {"territory": territory.slug} if territory is not None else {}
    config = current_app.config
    send_mail(user.email, "login_locked", locale=user.locale, territory=territory, user=user,
              link=external_url("account.forgot_password", **values),
              attempts=int(config["ACCOUNT_LOCK_ATTEMPTS"]),
              minutes=max(1, int(config["ACCOUNT_LOCK_WINDOW"]) // 60))
