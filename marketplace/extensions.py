"""Flask extensions, created unbound here and initialised in ``create_app``."""
from __future__ import annotations

from flask import current_app
from flask.json.provider import DefaultJSONProvider
from flask_babel import Babel
from flask_babel.speaklater import LazyString
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSQLAlchemySession
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData

from tenants.scoping import ScopedSessionMixin, install


class MarketplaceSession(ScopedSessionMixin, FlaskSQLAlchemySession):
    """Flask-SQLAlchemy session with territory scoping and after-commit callbacks."""


install(MarketplaceSession)

# Deterministic constraint names keep Alembic migrations portable (SQLite batch mode).
naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(
    metadata=MetaData(naming_convention=naming_convention),
    session_options={"class_": MarketplaceSession},
)


def _lazy_strings_are_text() -> None:
    """Make flask-babel's ``LazyString`` (what ``lazy_gettext`` returns) plain text to Jinja.

    It defines ``__html__``, so Jinja, ``markupsafe.escape`` and WTForms (labels, field
    errors, choices) trust it as ready-made HTML: ``_l("“%(value)s” is not a date",
    value=typed)`` shown as a form error put whatever the user typed into the page
    unescaped. Without ``__html__`` a lazy string is escaped like the ``str`` it becomes,
    everywhere at once, including strings added later. No message of ours is meant to
    carry markup (templates build their markup around the text); ``Markup(_l(...))`` is
    the way to say otherwise. Idempotent, applied once at import."""
    if "__html__" in vars(LazyString):
        del LazyString.__html__


_lazy_strings_are_text()


class MarketplaceJSONProvider(DefaultJSONProvider):
    """Flask's JSON, with lazy strings written as the text they translate to (Flask knew
    them only through ``__html__``, removed above): API error messages, and flashed
    messages in the session, which now come back as plain text to escape, not Markup."""

    @staticmethod
    def default(o):
        if isinstance(o, LazyString):
            return str(o)
        return DefaultJSONProvider.default(o)

migrate = Migrate()
login_manager = LoginManager()
babel = Babel()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def after_commit(callback) -> None:
    """Run ``callback()`` once the current transaction commits; dropped on rollback."""
    db.session.info.setdefault("after_commit", []).append(callback)


def rate_limit(config_key: str):
    """A Flask-Limiter limit read from config at request time (POSTs only)."""
    return limiter.limit(
        lambda: current_app.config[config_key],
        methods=["POST"],
    )
