"""A small published catalogue for the API and HSDS tests: two active territories, a suspended
one, services in every status and price model, and data that must never reach the public
(staff, review comments)."""
from __future__ import annotations

import dataclasses

from marketplace.extensions import db
from marketplace.models import Cooperative, Municipality, Service, Territory, User
from marketplace.services import catalogue
from tenants.scoping import territory_scope

STAFF_EMAIL = "staff.private@example.org"
STAFF_NAME = "Giuseppina Riservata"
REVIEW_NOTE = "NOTA INTERNA: verificare la fideiussione"


@dataclasses.dataclass
class World:
    territory: Territory
    other: Territory
    suspended: Territory
    coop: Cooperative
    coop2: Cooperative
    pending: Cooperative
    services: dict[str, int]
    municipalities: dict[str, int]
    category_id: int


def municipality(territory: Territory, name: str, lat: float | None, lon: float | None) -> int:
    with territory_scope(territory.id):
        row = Municipality(name=name, province="CR", istat_code="", latitude=lat, longitude=lon,
                           territory_id=territory.id)
        db.session.add(row)
        db.session.commit()
        return row.id


def publish(coop: Cooperative, coordinator: User, status: str = "published", locations=(), home=(),
            bands=None, **data) -> int:
    """A listing made the way cooperatives make them (catalogue service), moved to ``status``."""
    base = {"title": "Servizio", "vertical": "other", "price_model": "free",
            "delivery_modes": "at_location" if locations else ("at_home" if home else "online"),
            "languages": "it"}
    base.update(data)
    with territory_scope(coop.territory_id):
        service = catalogue.create_service(
            coop, base, None,
            locations=[{"name": "Sede", "address": "Via Roma 1", "postal_code": "26100",
                        "municipality_id": m} for m in locations],
            home_municipalities=list(home), bands=bands)
        if status in ("in_review", "published"):
            catalogue.change_status(service, "in_review", None, as_coordinator=False)
        if status == "published":
            user = db.session.get(User, coordinator.id)
            catalogue.change_status(service, "published", user, as_coordinator=True)
        db.session.commit()
        return service.id


def build(make) -> World:
    """Call inside an app context (the ``db`` fixture)."""
    t = make.territory("cremona")
    other = make.territory("milano")
    suspended = make.territory("sondrio")
    coop = make.cooperative(t, name="Il Girasole", legal_name="Il Girasole Società Cooperativa Sociale",
                            vat_number="01234567890", fiscal_code="01234567890", phone="0372 123456",
                            address="Via Dante 12", postal_code="26100", municipality="Cremona",
                            province="CR", website="https://girasole.example.org",
                            description="Cooperativa sociale di tipo A.")
    coop2 = make.cooperative(t, name="Igea", website="igea.example.org")
    pending = make.cooperative(t, name="In attesa", status=Cooperative.PENDING)
    make.staff(coop, email=STAFF_EMAIL, full_name=STAFF_NAME)
    boss = make.coordinator(t)
    cremona = municipality(t, "Cremona", 45.1333, 10.0227)
    crema = municipality(t, "Crema", 45.3640, 9.6830)
    casal = municipality(t, "Casalmaggiore", 44.9894, 10.4178)
    category = make.category(t, vertical="childcare", name="Nido", name_en="Nursery")
    ids = {
        "nido": publish(coop, boss, title="Nido d'infanzia Il Girasole", vertical="childcare",
                        category_id=category.id,
                        summary="Asilo nido per bambini da 3 mesi a 3 anni", age_min=0, age_max=3,
                        description="Un **nido** con giardino.", target_group="Famiglie con bambini piccoli",
                        eligibility="Residenti nel distretto",
                        documents="- ISEE in corso di validità\n- Certificato vaccinale",
                        schedule_text="Dal lunedì al venerdì, 7:30-16:30",
                        contact_email="nido@girasole.example.org",
                        contact_phone="0372 654321", accessibility="Ingresso senza gradini",
                        price_model="income_based", locations=[cremona], accepts_voucher=True,
                        accepts_welfare_credit=True, wheelchair_accessible=True, languages="it,en,lis",
                        bands=[{"label": "Fascia A", "isee_max_cents": 1_000_000, "price_cents": 15000},
                               {"label": "", "isee_max_cents": None, "price_cents": 45050}]),
        "estivo": publish(coop2, boss, title="Centro estivo al parco", vertical="childcare",
                          summary="Giochi e laboratori per l'estate dei bambini", age_min=6, age_max=11,
                          price_model="per_session", price_cents=2500, locations=[crema],
                          languages="it,en", accepts_welfare_credit=True),
        "sad": publish(coop, boss, title="Assistenza domiciliare anziani", vertical="elderly",
                       summary="Aiuto a casa per persone anziane", age_min=65,
                       price_model="per_hour", price_cents=2100, home=[cremona, casal],
                       accepts_voucher=True),
        "trasporto": publish(coop2, boss, title="Trasporto disabili", vertical="disability",
                             summary="Accompagnamento con mezzi attrezzati", wheelchair_accessible=True,
                             price_model="fixed", price_cents=800, locations=[casal]),
        "sportello": publish(coop2, boss, title="Sportello online per le famiglie", vertical="other",
                             summary="Consulenza a distanza", languages="it,ar"),
        "bozza": publish(coop, boss, status="draft", title="Nido in bozza", vertical="childcare"),
        "revisione": publish(coop, boss, status="in_review", title="Nido in revisione",
                             vertical="childcare"),
    }
    with territory_scope(t.id):
        # Left over from an earlier review round: the public must never see it.
        db.session.get(Service, ids["sad"]).review_comment = REVIEW_NOTE
        db.session.commit()
    other_coop = make.cooperative(other, name="Cooperativa Milanese")
    ids["milano"] = publish(other_coop, make.coordinator(other), title="Nido di Milano",
                            vertical="childcare")
    sondrio_coop = make.cooperative(suspended, name="Cooperativa Valtellina")
    ids["sondrio"] = publish(sondrio_coop, make.coordinator(suspended), title="Nido di Sondrio")
    with territory_scope(suspended.id):
        db.session.get(Territory, suspended.id).status = Territory.SUSPENDED
        db.session.commit()
    return World(territory=t, other=other, suspended=suspended, coop=coop, coop2=coop2,
                 pending=pending, services=ids,
                 municipalities={"cremona": cremona, "crema": crema, "casal": casal},
                 category_id=category.id)


PUBLISHED = ("nido", "estivo", "sad", "trasporto", "sportello")
