"""Factories for every model: committed rows, created outside any request."""
from __future__ import annotations

import datetime as dt
import itertools

from marketplace.extensions import db
from marketplace.models import Cooperative, Domain, Invitation, Membership, Territory, User
from marketplace.models.base import utcnow
from marketplace.services.tokens import new_token
from tenants.scoping import unscoped

PASSWORD = "a-strong-password-1"
_seq = itertools.count(1)


class Factory:
    def __init__(self, app):
        self.app = app

    def _save(self, obj):
        with self.app.app_context(), unscoped():
            db.session.add(obj)
            db.session.commit()
            db.session.refresh(obj)
            db.session.expunge(obj)
        return obj

    def territory(self, slug: str | None = None, **kw) -> Territory:
        n = next(_seq)
        slug = slug or f"territory-{n}"
        kw.setdefault("name", f"Territorio {slug.title()}")
        kw.setdefault("contact_email", f"info@{slug}.example")
        kw.setdefault("logo_text", kw["name"])
        return self._save(Territory(slug=slug, **kw))

    def domain(self, territory: Territory, hostname: str) -> Domain:
        return self._save(Domain(territory_id=territory.id, hostname=hostname))

    def user(self, email: str | None = None, password: str = PASSWORD, confirmed: bool = True,
             **kw) -> User:
        n = next(_seq)
        user = User(email=email or f"user{n}@example.org", full_name=kw.pop("full_name", f"Utente {n}"),
                    locale=kw.pop("locale", "it"), **kw)
        user.set_password(password)
        if confirmed:
            user.email_confirmed_at = utcnow()
        return self._save(user)

    def cooperative(self, territory: Territory, status: str = Cooperative.ACCREDITED, **kw) -> Cooperative:
        n = next(_seq)
        kw.setdefault("name", f"Cooperativa Sociale {n}")
        kw.setdefault("email", f"coop{n}@example.org")
        return self._save(Cooperative(territory_id=territory.id, status=status, **kw))

    def membership(self, territory: Territory, user: User, role: str, cooperative=None) -> Membership:
        return self._save(Membership(territory_id=territory.id, user_id=user.id, role=role,
                                     cooperative_id=cooperative.id if cooperative else None))

    def coordinator(self, territory: Territory, **kw) -> User:
        user = self.user(**kw)
        self.membership(territory, user, Membership.COORDINATOR)
        return user

    def staff(self, cooperative: Cooperative, **kw) -> User:
        user = self.user(**kw)
        with self.app.app_context(), unscoped():
            territory = db.session.get(Territory, cooperative.territory_id)
        self.membership(territory, user, Membership.STAFF, cooperative)
        return user

    def invitation(self, territory: Territory, email: str = "invited@example.org",
                   role: str = Membership.COORDINATOR, cooperative=None,
                   expires_in: dt.timedelta = dt.timedelta(days=7)) -> tuple[Invitation, str]:
        raw, digest = new_token()
        invitation = self._save(Invitation(
            territory_id=territory.id, email=email, role=role,
            cooperative_id=cooperative.id if cooperative else None, token_hash=digest,
            expires_at=utcnow() + expires_in,
        ))
        return invitation, raw
