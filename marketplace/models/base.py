"""Shared column types and helpers for models."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator


# Schema objects that exist only on PostgreSQL (created by migrations, not mapped):
# the stored full-text vector of services and its GIN index.
POSTGRES_ONLY = {"search_vector", "ix_service_search_vector"}


def include_in_autogenerate(obj, name, type_, reflected, compare_to) -> bool:
    return name not in POSTGRES_ONLY


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = sa.DateTime
    cache_ok = True

    def __init__(self, timezone: bool = True):
        super().__init__(timezone=True)

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


def created_at_column():
    return sa.Column(UTCDateTime(), nullable=False, default=utcnow)
