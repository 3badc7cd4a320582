"""Settings from the environment, with embedded defaults.

With nothing set the app uses a SQLite file in ``instance/`` and runs jobs inline;
``DATABASE_URL`` (PostgreSQL via psycopg 3) and ``REDIS_URL`` switch to the real
services. ``MARKETPLACE_ENV`` picks ``production`` (default), ``development`` or
``testing``.
"""
from __future__ import annotations

import datetime as _dt
import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {value!r}")


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once into instance/."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    INSTANCE.mkdir(exist_ok=True)
    path = INSTANCE / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def normalise_database_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` and use the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


class Config:
    ENV_NAME = "production"
    DEBUG = False
    TESTING = False

    SQLALCHEMY_DATABASE_URI = normalise_database_url(
        os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE / 'marketplace.db'}"
    )
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    REDIS_URL = os.environ.get("REDIS_URL") or None
    # Jobs run inline (in the request, after commit) unless Redis is configured.
    JOBS_INLINE = _bool("JOBS_INLINE", default=not os.environ.get("REDIS_URL"))
    QUEUE_PREFIX = os.environ.get("QUEUE_PREFIX", "")

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", True)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", True)
    PERMANENT_SESSION_LIFETIME = 60 * 60 * 8
    # Server-side sessions (services/sessions.py): idle timeouts, the absolute lifetime of a
    # login, and remember-me (citizens only; never for operators, coordinators, funder and
    # HR officers, help desks and cooperative staff).
    SESSION_IDLE_MINUTES_CITIZEN = int(os.environ.get("SESSION_IDLE_MINUTES_CITIZEN", "120"))
    SESSION_IDLE_MINUTES_PRIVILEGED = int(os.environ.get("SESSION_IDLE_MINUTES_PRIVILEGED", "30"))
    SESSION_ABSOLUTE_HOURS = int(os.environ.get("SESSION_ABSOLUTE_HOURS", "12"))
    REMEMBER_DAYS = min(int(os.environ.get("REMEMBER_DAYS", "30")), 30)
    REMEMBER_COOKIE_DURATION = _dt.timedelta(days=REMEMBER_DAYS)
    # A TOTP second factor is required of those roles (services/mfa.py); citizens may opt in.
    MFA_REQUIRED = _bool("MFA_REQUIRED", True)
    MFA_ISSUER = os.environ.get("MFA_ISSUER", "Welfare Marketplace")
    PREFERRED_URL_SCHEME = os.environ.get("PREFERRED_URL_SCHEME", "https")
    # Where links in e-mails point when no request is around (jobs, CLI).
    BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:5000")
    # Every absolute link the platform writes (e-mails, payment return URLs, stored links)
    # is built from BASE_URL, or from a territory's mapped domain with this scheme (empty:
    # BASE_URL's scheme). Never from the request's Host header. See services/mail.py.
    TERRITORY_DOMAIN_SCHEME = os.environ.get("TERRITORY_DOMAIN_SCHEME", "")
    # Host names the app answers (comma-separated; ".example.org" also allows its
    # subdomains). BASE_URL's host and every mapped territory domain are always trusted;
    # unset in development/testing, 127.0.0.1 and localhost are trusted too. Any other
    # Host gets 400 (see marketplace/edge.py). Read from TRUSTED_HOSTS, kept under another
    # key: Flask 3.1 uses its own TRUSTED_HOSTS for a static check that would refuse the
    # mapped domains, which change at run time.
    TRUSTED_HOST_NAMES = os.environ.get("TRUSTED_HOSTS", "")
    # Number of reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host
    # are trusted (werkzeug ProxyFix). 0: forwarded headers are ignored.
    PROXY_HOPS = int(os.environ.get("PROXY_HOPS", "0"))

    WTF_CSRF_TIME_LIMIT = 60 * 60 * 4
    MAX_CONTENT_LENGTH = 3 * 1024 * 1024  # images are at most 2 MB; bigger requests get the 413 page
    # Uploaded application documents (private, see marketplace/storage.py); at most 2 MB each.
    UPLOAD_DIR = os.environ.get("UPLOAD_DIR") or None
    UPLOAD_MAX_BYTES = 2 * 1024 * 1024
    # JSON bodies (the push API, webhooks): at most this many bytes (413) and levels of
    # nesting (400); see marketplace/input_guard.py.
    API_MAX_BODY_BYTES = int(os.environ.get("API_MAX_BODY_BYTES", str(1024 * 1024)))
    JSON_MAX_DEPTH = int(os.environ.get("JSON_MAX_DEPTH", "20"))
    # XLSX imports: refused before parsing beyond this total uncompressed size or any member's
    # compression ratio; parsed in the job for at most this many seconds and rows.
    IMPORT_MAX_UNCOMPRESSED = int(os.environ.get("IMPORT_MAX_UNCOMPRESSED", str(50 * 1000 * 1000)))
    IMPORT_MAX_RATIO = int(os.environ.get("IMPORT_MAX_RATIO", "100"))
    IMPORT_PARSE_SECONDS = int(os.environ.get("IMPORT_PARSE_SECONDS", "120"))
    IMPORT_MAX_ROWS = int(os.environ.get("IMPORT_MAX_ROWS", "200000"))

    BABEL_DEFAULT_LOCALE = "it"
    BABEL_DEFAULT_TIMEZONE = "Europe/Rome"
    BABEL_TRANSLATION_DIRECTORIES = str(ROOT / "marketplace" / "translations")
    LANGUAGES = ("it", "en")

    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or (
        os.environ.get("REDIS_URL") or "memory://"
    )
    RATELIMIT_KEY_PREFIX = os.environ.get("RATELIMIT_KEY_PREFIX", "marketplace")
    # How many processes serve requests (gunicorn reads the same variable; gunicorn.conf.py
    # sets it to the real worker count). With more than one, production refuses memory://
    # rate-limit storage: each process would count on its own.
    WEB_CONCURRENCY = _int("WEB_CONCURRENCY", 1)
    RATELIMIT_HEADERS_ENABLED = True
    # A moving window: no burst of double the limit around a window boundary.
    RATELIMIT_STRATEGY = "moving-window"
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute;50 per hour")
    SIGNUP_RATE_LIMIT = os.environ.get("SIGNUP_RATE_LIMIT", "5 per minute;30 per hour")
    RESET_RATE_LIMIT = os.environ.get("RESET_RATE_LIMIT", "5 per minute;20 per hour")
    # Per account, from any IP (services/throttle.py): this many failed logins within the
    # window lock the account's logins (429) until the oldest failure leaves the window.
    ACCOUNT_LOCK_ATTEMPTS = _int("ACCOUNT_LOCK_ATTEMPTS", 10)
    ACCOUNT_LOCK_WINDOW = _int("ACCOUNT_LOCK_WINDOW", 15 * 60)
    # The holder of a locked account is told by e-mail at most once in this many seconds.
    ACCOUNT_LOCK_NOTICE_SECONDS = _int("ACCOUNT_LOCK_NOTICE_SECONDS", 24 * 60 * 60)
    # E-mails an anonymous visitor can make us send to one account (reset links,
    # "someone tried to register with your address"); beyond it they are silently dropped.
    ACCOUNT_MAIL_RATE_LIMIT = os.environ.get("ACCOUNT_MAIL_RATE_LIMIT", "5 per hour")
    CHECKOUT_RATE_LIMIT = os.environ.get("CHECKOUT_RATE_LIMIT", "20 per minute;200 per hour")
    SURVEY_RATE_LIMIT = os.environ.get("SURVEY_RATE_LIMIT", "20 per minute;200 per hour")
    # Citizen look-ups (and registrations) at help desks and cooperative counters, per operator.
    LOOKUP_RATE_LIMIT = os.environ.get("LOOKUP_RATE_LIMIT", "30 per minute;300 per hour")
    BOOKING_HOLD_SECONDS = int(os.environ.get("BOOKING_HOLD_SECONDS", str(15 * 60)))

    MAIL_FROM = os.environ.get("MAIL_FROM", "Welfare Marketplace <no-reply@localhost>")
    SMTP_HOST = os.environ.get("SMTP_HOST") or None
    SMTP_PORT = int(os.environ.get("SMTP_PORT", "587"))
    SMTP_USERNAME = os.environ.get("SMTP_USERNAME") or None
    SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD") or None
    SMTP_STARTTLS = _bool("SMTP_STARTTLS", True)
    # A PEM file of the CA that signed the mail server's certificate (a private CA);
    # empty: the system's trusted CAs. The certificate is always verified.
    SMTP_CA_FILE = os.environ.get("SMTP_CA_FILE") or None

    TOKEN_TTL_CONFIRM = 60 * 60 * 48
    TOKEN_TTL_RESET = 60 * 60
    INVITATION_TTL = 60 * 60 * 24 * 14
    TERRITORY_CACHE_SECONDS = 10
    # Anonymous public pages and API answers kept in Redis (0 disables); see page_cache.py.
    PAGE_CACHE_SECONDS = int(os.environ.get("PAGE_CACHE_SECONDS", "60"))
    # Search answers (ids, totals, facets) kept in Redis, keyed on the catalogue's state.
    SEARCH_CACHE = _bool("SEARCH_CACHE", True)

    # The public JSON API (flask-smorest): OpenAPI document and ReDoc served by us, ReDoc's
    # script from static/vendor/redoc (no CDN: the CSP allows scripts from our origin only).
    API_TITLE = "Welfare marketplace API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_REDOC_PATH = "/docs"
    OPENAPI_REDOC_URL = "/static/vendor/redoc/redoc.standalone.js"
    API_SPEC_OPTIONS = {"info": {"description": "Read-only, anonymous access to the territories' "
                                                "published catalogue and accredited cooperatives."}}

    # Card payments (Stripe PaymentIntents). No secret key: card payments are off.
    # STRIPE_API_BASE points the client elsewhere (localstripe in tests); empty: Stripe itself.
    STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
    STRIPE_PUBLISHABLE_KEY = os.environ.get("STRIPE_PUBLISHABLE_KEY", "")
    STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
    STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "")
    STRIPE_JS_URL = os.environ.get("STRIPE_JS_URL", "https://js.stripe.com/v3/")
    # How long a seat freed for the first in a waiting list stays held for them.
    WAITLIST_OFFER_HOURS = int(os.environ.get("WAITLIST_OFFER_HOURS", "24"))
    # How long seats booked at a help desk stay held while the citizen pays by the e-mailed
    # link (never past the date's start).
    ASSISTED_HOLD_HOURS = int(os.environ.get("ASSISTED_HOLD_HOURS", "24"))

    def __init__(self) -> None:
        self.SECRET_KEY = _secret_key()


class DevelopmentConfig(Config):
    ENV_NAME = "development"
    DEBUG = True
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    PREFERRED_URL_SCHEME = "http"
    MFA_REQUIRED = _bool("MFA_REQUIRED", False)  # the demo's one-step logins (make run)


class TestingConfig(Config):
    ENV_NAME = "testing"
    TESTING = True
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_SECURE = False
    PREFERRED_URL_SCHEME = "http"
    WTF_CSRF_ENABLED = True
    LOGIN_RATE_LIMIT = "1000 per minute"
    SIGNUP_RATE_LIMIT = "1000 per minute"
    RESET_RATE_LIMIT = "1000 per minute"
    CHECKOUT_RATE_LIMIT = "1000 per minute"
    TERRITORY_CACHE_SECONDS = 0
    PAGE_CACHE_SECONDS = 0  # enabled by the tests that test it
    MFA_REQUIRED = False  # tests/test_mfa.py turns it on

    def __init__(self) -> None:
        self.SECRET_KEY = "testing-secret-key-not-for-production"


CONFIGS = {
    "production": Config,
    "development": DevelopmentConfig,
    "testing": TestingConfig,
}


def shared_storage_problem(env_name: str, storage_uri: str, workers: int) -> str | None:
    """Why rate limits would not hold with these settings, or None: in production, more
    than one worker process must share the limiter's counters (Redis), since with
    ``memory://`` every process counts logins and bookings on its own."""
    if env_name == "production" and workers > 1 and (storage_uri or "memory://").startswith("memory"):
        return (f"{workers} worker processes with rate-limit storage {storage_uri or 'memory://'}: "
                "each would keep its own counters, so login and booking limits would not hold. "
                "Set REDIS_URL (or RATELIMIT_STORAGE_URI) to a Redis server, or run one worker.")
    return None


def load_config(name: str | None = None) -> Config:
    name = name or os.environ.get("MARKETPLACE_ENV") or "production"
    try:
        return CONFIGS[name]()
    except KeyError:
        raise SystemExit(f"MARKETPLACE_ENV must be one of {sorted(CONFIGS)}, not {name!r}")
