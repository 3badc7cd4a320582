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


    # --- funding: funders, programmes, vouchers, employees, welfare credits -----------------

    def funder(self, territory: Territory, kind: str = "municipality", **kw):
        from marketplace.models import Funder

        n = next(_seq)
        kw.setdefault("name", f"Comune di Prova {n}" if kind != "employer" else f"Azienda {n} S.p.A.")
        return self._save(Funder(territory_id=territory.id, kind=kind, **kw))

    def funder_officer(self, funder, **kw) -> User:
        """A user holding the funder role for ``funder`` in its territory."""
        user = self.user(**kw)
        self._save(Membership(territory_id=funder.territory_id, user_id=user.id, role=Membership.FUNDER,
                              funder_id=funder.id))
        return user

    def delegation(self, funder, level: str = "review", **kw):
        """The funder's delegation of ``level`` ("read" or "review") to its territory's coordinators."""
        from marketplace.models import FunderDelegation

        return self._save(FunderDelegation(territory_id=funder.territory_id, funder_id=funder.id, level=level, **kw))

    def programme(self, funder, **kw):
        """An open programme of ``funder``: 1,000 EUR budget, 100 EUR fixed vouchers, valid and
        open for applications from a month ago to a month from now, for any service."""
        from marketplace.models import Programme

        today = dt.date.today()
        kw.setdefault("title", f"Buoni servizio {next(_seq)}")
        kw.setdefault("status", Programme.OPEN)
        kw.setdefault("budget_cents", 100_000)
        kw.setdefault("value_kind", Programme.FIXED)
        kw.setdefault("value_cents", 10_000)
        kw.setdefault("starts_on", today - dt.timedelta(days=30))
        kw.setdefault("ends_on", today + dt.timedelta(days=60))
        kw.setdefault("applications_open_on", today - dt.timedelta(days=30))
        kw.setdefault("applications_close_on", today + dt.timedelta(days=30))
        return self._save(Programme(territory_id=funder.territory_id, funder_id=funder.id, **kw))

    def voucher(self, programme, holder: User | None = None, amount_cents: int | None = None, **kw):
        """An active voucher of ``programme`` held by ``holder``, at full balance (no budget
        check: tests of the budget go through ``services.programmes``)."""
        from marketplace.models import Voucher

        amount = programme.voucher_value_cents if amount_cents is None else amount_cents
        kw.setdefault("valid_from", programme.starts_on)
        kw.setdefault("valid_until", programme.ends_on)
        kw.setdefault("channel", Voucher.BULK)
        if programme.value_kind == "percent":
            kw.setdefault("percent", programme.percent)
        return self._save(Voucher(territory_id=programme.territory_id, programme_id=programme.id,
                                  funder_id=programme.funder_id, holder_id=holder.id if holder else None,
                                  amount_cents=amount, balance_cents=amount, **kw))

    def employee(self, employer, user: User | None = None, **kw):
        """An employee of ``employer``; active and linked to ``user`` when given."""
        from marketplace.models import Employee

        n = next(_seq)
        kw.setdefault("email", user.email if user else f"employee{n}@example.org")
        kw.setdefault("status", Employee.ACTIVE if user else Employee.INVITED)
        if user is not None:
            kw.setdefault("joined_at", utcnow())
        return self._save(Employee(territory_id=employer.territory_id, funder_id=employer.id,
                                   user_id=user.id if user else None, **kw))

    def welfare_credit(self, employee, amount_cents: int = 20_000, expires_on: dt.date | None = None, **kw):
        """A welfare credit for ``employee``, loaded through the ledger (CREDIT_LOAD)."""
        from marketplace.models import LedgerEntry, WelfareCredit
        from payments import ledger
        from tenants.scoping import territory_scope

        with self.app.app_context(), territory_scope(employee.territory_id):
            credit = WelfareCredit(territory_id=employee.territory_id, funder_id=employee.funder_id,
                                   employee_id=employee.id, amount_cents=amount_cents, balance_cents=0,
                                   expires_on=expires_on or dt.date.today() + dt.timedelta(days=90), **kw)
            db.session.add(credit)
            db.session.flush()
            ledger.record_credit(credit, LedgerEntry.CREDIT_LOAD, amount_cents, f"test-load-{credit.id}")
            db.session.commit()
            db.session.refresh(credit)
            db.session.expunge(credit)
        return credit


    # --- deliveries: outcome indicators, beneficiaries -----------------------------------

    def indicator(self, territory: Territory, code: str | None = None, kind: str = "number", **kw):
        from marketplace.models import OutcomeIndicator

        n = next(_seq)
        kw.setdefault("name", f"Indicatore {n}")
        return self._save(OutcomeIndicator(territory_id=territory.id, code=code or f"ind_{n}", kind=kind, **kw))

    def service_indicator(self, service: Service, indicator):
        from marketplace.models import ServiceIndicator

        return self._save(ServiceIndicator(territory_id=service.territory_id, service_id=service.id,
                                           indicator_id=indicator.id))

    def beneficiary(self, cooperative: Cooperative, external_ref: str | None = None, **kw):
        from marketplace.models import Beneficiary

        return self._save(Beneficiary(territory_id=cooperative.territory_id, cooperative_id=cooperative.id,
                                      external_ref=external_ref or f"REF-{next(_seq)}", **kw))


def png_bytes(width: int = 8, height: int = 6, color=(0, 102, 204)) -> bytes:
    """A valid PNG image, made with Pillow."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()
