"""Factories for every model: committed rows, created outside any request."""
from __future__ import annotations

import datetime as dt
import itertools

from marketplace.extensions import db
from marketplace.models import (
    Category, Cooperative, Domain, Invitation, Membership, Municipality, Service, ServiceImage, Slot, Territory,
    TicketType, User,
)
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

    def municipality(self, territory: Territory, name: str | None = None, **kw) -> Municipality:
        n = next(_seq)
        kw.setdefault("province", "CR")
        return self._save(Municipality(territory_id=territory.id, name=name or f"Comune {n}", **kw))

    def category(self, territory: Territory, vertical: str = "childcare", name: str | None = None,
                 **kw) -> Category:
        n = next(_seq)
        return self._save(Category(territory_id=territory.id, vertical=vertical,
                                   name=name or f"Sottocategoria {n}", **kw))

    def service(self, cooperative: Cooperative, **kw) -> Service:
        """A listing of ``cooperative`` (draft unless ``status`` says otherwise), saved as is."""
        n = next(_seq)
        kw.setdefault("title", f"Servizio {n}")
        kw.setdefault("vertical", "childcare")
        kw.setdefault("summary", f"Sintesi del servizio {n}")
        kw.setdefault("delivery_modes", "online")
        kw.setdefault("status", Service.DRAFT)
        from marketplace.services.search_index import index_text

        kw.setdefault("search_text", index_text(kw["title"], kw["summary"], kw.get("description", "")))
        return self._save(Service(territory_id=cooperative.territory_id, cooperative_id=cooperative.id, **kw))

    def service_image(self, service: Service, alt_text: str = "Bambini che giocano in giardino",
                      **kw) -> ServiceImage:
        """A small real PNG attached to ``service``."""
        data = png_bytes()
        return self._save(ServiceImage(territory_id=service.territory_id, service_id=service.id,
                                       alt_text=alt_text, content_type="image/png", width=8, height=6,
                                       data=data, **kw))

    def slot(self, service: Service, capacity: int = 10, starts_in: dt.timedelta = dt.timedelta(days=7),
             types=(("Intero", 0, None),), **kw) -> Slot:
        """A two-hour slot of ``service`` with one ticket type per (name, price_cents, quota)."""
        start = (utcnow() + starts_in).replace(microsecond=0)
        slot = Slot(territory_id=service.territory_id, service_id=service.id, starts_at=start,
                    ends_at=start + dt.timedelta(hours=2), capacity=capacity, **kw)
        for position, (name, price, quota) in enumerate(types):
            slot.ticket_types.append(TicketType(territory_id=service.territory_id, name=name, price_cents=price,
                                                quota=quota, position=position))
        return self._save(slot)


def png_bytes(width: int = 8, height: int = 6, color=(0, 102, 204)) -> bytes:
    """A valid PNG image, made with Pillow."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()
