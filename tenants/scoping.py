"""Automatic, fail-closed territory scoping of ORM queries.

Every model that inherits :class:`TenantMixin` carries ``territory_id``. While a
territory is in scope (``territory_scope(id)``), every ORM SELECT, lazy load,
``session.get`` and bulk UPDATE/DELETE touching such a model is filtered to that
territory. With no territory in scope such a query raises :class:`TenantScopeError`;
platform-wide work says so with ``with unscoped(): ...``.

Core statements on tenant tables and ``text()`` that mention them cannot be filtered
automatically, so they raise too unless run inside ``unscoped()`` (where the caller
filters by territory explicitly).
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, declared_attr, with_loader_criteria

_territory_id: ContextVar[int | None] = ContextVar("territory_id", default=None)
_unscoped: ContextVar[bool] = ContextVar("unscoped", default=False)


class TenantScopeError(RuntimeError):
    """A query reached tenant data with no territory in scope."""


class TenantMixin:
    """Marks a model as owned by one territory; its queries are scoped automatically."""

    @declared_attr
    def territory_id(cls):  # noqa: N805 - SQLAlchemy declared_attr
        return sa.Column(
            sa.Integer,
            sa.ForeignKey("territory.id", ondelete="RESTRICT"),
            nullable=False,
            index=True,
        )

    def __init__(self, **kwargs):
        # A new tenant row belongs to the territory in scope unless told otherwise.
        if "territory_id" not in kwargs and "territory" not in kwargs:
            tid = _territory_id.get()
            if tid is not None:
                kwargs["territory_id"] = tid
        super().__init__(**kwargs)


def current_territory_id() -> int | None:
    return _territory_id.get()


def is_unscoped() -> bool:
    return _unscoped.get()


@contextmanager
def territory_scope(territory_id: int) -> Iterator[int]:
    """Run the block with queries restricted to ``territory_id``."""
    if territory_id is None:
        raise TenantScopeError("territory_scope() needs a territory id")
    token = _territory_id.set(int(territory_id))
    unscoped_token = _unscoped.set(False)
    try:
        yield int(territory_id)
    finally:
        _unscoped.reset(unscoped_token)
        _territory_id.reset(token)


@contextmanager
def unscoped() -> Iterator[None]:
    """Explicitly step outside territory scoping (platform admin, seed, migrations)."""
    token = _unscoped.set(True)
    try:
        yield
    finally:
        _unscoped.reset(token)


def enter_territory(territory_id: int | None):
    """Set the scope for the rest of this context (a request); returns reset tokens."""
    return _territory_id.set(territory_id), _unscoped.set(False)


def leave_territory(tokens) -> None:
    tid_token, unscoped_token = tokens
    _unscoped.reset(unscoped_token)
    _territory_id.reset(tid_token)


def _tenant_tables() -> set[str]:
    from marketplace.extensions import db

    return {
        mapper.local_table.name
        for mapper in db.Model.registry.mappers
        if issubclass(mapper.class_, TenantMixin)
    }


def _touches_tenant_model(state: ORMExecuteState) -> bool:
    return any(issubclass(m.class_, TenantMixin) for m in state.all_mappers)


def _mentions_tenant_table(statement) -> bool:
    try:
        sql = str(statement)
    except Exception:  # pragma: no cover - uncompilable statements go on to fail anyway
        return True
    tables = _tenant_tables()
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", sql.lower()))
    return bool(words & tables)


def _on_execute(state: ORMExecuteState) -> None:
    if _unscoped.get() or state.is_column_load:
        # Column loads refresh an object this session already loaded legitimately.
        return
    tid = _territory_id.get()
    if state.is_relationship_load or state.all_mappers:
        if not (state.is_select or state.is_update or state.is_delete):
            return
        if tid is None:
            if _touches_tenant_model(state):
                raise TenantScopeError(
                    "Query on tenant-owned data with no territory in scope; "
                    "use territory_scope() or unscoped()."
                )
            return
        # Added to every ORM statement so joined and eagerly loaded tenant entities
        # are filtered as well as the top-level one.
        state.statement = state.statement.options(
            with_loader_criteria(
                TenantMixin,
                lambda cls: cls.territory_id == tid,
                include_aliases=True,
            )
        )
        return
    # Core select()/update()/delete() on tables, or text(): cannot be scoped automatically.
    if _mentions_tenant_table(state.statement):
        raise TenantScopeError(
            "Core/text SQL on tenant tables must run inside unscoped() "
            "with an explicit territory filter."
        )


class ScopedSessionMixin:
    """Session behaviour: scoped ``get`` and callbacks run after a successful commit."""

    def get(self, entity, ident, **kwargs):
        obj = super().get(entity, ident, **kwargs)
        if obj is None or not isinstance(obj, TenantMixin) or _unscoped.get():
            return obj
        tid = _territory_id.get()
        if tid is None:
            raise TenantScopeError("session.get() on tenant data with no territory in scope")
        # The identity map may hold a row of another territory loaded earlier (unscoped).
        return obj if obj.territory_id == tid else None

    def commit(self):
        super().commit()
        callbacks = self.info.pop("after_commit", [])
        for callback in callbacks:
            callback()

    def rollback(self, *args, **kwargs):
        self.info.pop("after_commit", None)
        return super().rollback(*args, **kwargs)

    def close(self, *args, **kwargs):
        self.info.pop("after_commit", None)
        return super().close(*args, **kwargs)


def install(session_class: type[Session]) -> None:
    """Attach the scoping hook to every session of ``session_class``."""
    if not event.contains(session_class, "do_orm_execute", _on_execute):
        event.listen(session_class, "do_orm_execute", _on_execute)
