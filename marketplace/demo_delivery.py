"""Demo deliveries for `flask seed-demo`: about twelve months of services actually given,
with outcomes and satisfaction answers, so every figure of the impact pages has something
true to show. Deterministic (a seeded random generator), written in bulk, skipped when the
territory already has delivery records. Population figures come with the municipalities.
"""
from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import insert, select

from marketplace.extensions import db
from marketplace.models import (
    Beneficiary, Cooperative, DeliveryRecord, Funder, Municipality, OutcomeIndicator, OutcomeValue, Service,
    ServiceIndicator, SurveyResponse, Territory,
)
from marketplace.models.base import utcnow
from marketplace.models.delivery import AGE_BANDS, INCOME_BANDS
from tenants.scoping import unscoped

RECORDS_PER_TERRITORY = 7_200
BENEFICIARIES_PER_COOPERATIVE = 120
INDICATORS = [
    ("respite_hours", "Ore di sollievo per chi assiste", OutcomeIndicator.NUMBER, "ore",
     "Ore in cui il familiare che assiste è stato libero grazie al servizio."),
    ("autonomy", "Autonomia nelle attività quotidiane", OutcomeIndicator.SCALE, "1-5",
     "Valutazione dell'operatore: 1 nessuna autonomia, 5 piena autonomia."),
    ("goal_reached", "Obiettivo del piano raggiunto", OutcomeIndicator.YES_NO, "",
     "L'obiettivo concordato nel piano individuale è stato raggiunto."),
]
# How each vertical is usually given: (minutes, at home share, cost per hour in cents,
# funding sources with weights, activity types).
PROFILES = {
    "elderly": (90, 0.8, 2_300, [("municipal_contract", 5), ("citizen", 3), ("municipal_voucher", 2),
                                 ("employer_credit", 1)], ["Igiene personale", "Compagnia", "Spesa e commissioni"]),
    "disability": (120, 0.5, 2_600, [("municipal_contract", 6), ("foundation_grant", 2), ("citizen", 1)],
                   ["Assistenza scolastica", "Trasporto", "Sollievo"]),
    "childcare": (240, 0.0, 900, [("citizen", 5), ("municipal_voucher", 3), ("employer_credit", 2)],
                  ["Nido", "Centro estivo", "Laboratorio"]),
    "culture": (120, 0.0, 600, [("citizen", 6), ("foundation_grant", 1)], ["Visita guidata", "Laboratorio"]),
    "other": (60, 0.3, 1_500, [("citizen", 3), ("other", 1)], ["Sportello", "Colloquio"]),
}


def _age_band(rng: random.Random, vertical: str) -> str:
    if vertical == "childcare":
        return rng.choice(AGE_BANDS[:4])
    if vertical == "elderly":
        return rng.choice(AGE_BANDS[8:])
    return rng.choice(AGE_BANDS[2:9])


def seed_deliveries(territory: Territory) -> int:
    """Indicators, beneficiaries, delivery records over the last twelve months, outcomes and
    survey answers for one territory (run in its scope). Returns the records written."""
    if db.session.execute(select(DeliveryRecord.id).limit(1)).first() is not None:
        return 0
    rng = random.Random(f"demo-deliveries-{territory.slug}")
    indicators = {}
    for code, name, kind, unit, description in INDICATORS:
        indicator = db.session.execute(select(OutcomeIndicator).where(OutcomeIndicator.code == code)).scalar_one_or_none()
        if indicator is None:
            indicator = OutcomeIndicator(territory_id=territory.id, code=code, name=name, kind=kind, unit=unit,
                                         description=description)
            db.session.add(indicator)
            db.session.flush()
        indicators[code] = indicator
    municipalities = db.session.execute(select(Municipality).order_by(Municipality.id)).scalars().all()
    weights = [max(1, (m.population or 1_000) // 1_000) for m in municipalities]
    funders = db.session.execute(select(Funder)).scalars().all()
    funder_of = {"municipal_voucher": next((f.id for f in funders if f.kind == Funder.MUNICIPALITY), None),
                 "municipal_contract": next((f.id for f in funders if f.kind == Funder.MUNICIPALITY), None),
                 "employer_credit": next((f.id for f in funders if f.kind == Funder.EMPLOYER), None)}
    services = db.session.execute(select(Service).where(Service.status == Service.PUBLISHED)
                                  .order_by(Service.id)).scalars().all()
    if not services or not municipalities:
        return 0
    for service in services:
        if service.vertical in ("elderly", "disability"):
            for code in ("respite_hours", "autonomy", "goal_reached"):
                db.session.add(ServiceIndicator(territory_id=territory.id, service_id=service.id,
                                                indicator_id=indicators[code].id))
    now = utcnow()
    today = now.date()
    cooperatives = db.session.execute(select(Cooperative).order_by(Cooperative.id)).scalars().all()
    people: dict[int, list[tuple[int, str]]] = {}
    with unscoped():  # bulk Core inserts; every row names its territory explicitly
        for coop in cooperatives:
            coop_services = [s for s in services if s.cooperative_id == coop.id]
            if not coop_services:
                continue
            rows = []
            for n in range(BENEFICIARIES_PER_COOPERATIVE):
                vertical = rng.choice(coop_services).vertical
                consent = rng.random() < 0.85
                rows.append(dict(
                    territory_id=territory.id, cooperative_id=coop.id, external_ref=f"DEMO-{coop.id}-{n:04d}",
                    pseudonym=f"B-{territory.id:02d}{coop.id:03d}{n:05d}", display_name="", created_at=now,
                    age_band=_age_band(rng, vertical) if consent else None,
                    sex=rng.choices("fmx", [49, 49, 2])[0] if consent else None,
                    municipality_id=rng.choices(municipalities, weights)[0].id,
                    disability=(vertical == "disability" or rng.random() < 0.1) if consent else None,
                    income_band=rng.choices(INCOME_BANDS, [3, 4, 3, 2, 1])[0] if consent else None,
                    consent_at=now if consent else None))
            db.session.execute(insert(Beneficiary), rows)
            people[coop.id] = [(b.id, b.municipality_id) for b in db.session.execute(
                select(Beneficiary).where(Beneficiary.cooperative_id == coop.id)).scalars()]
        records, outcomes, answers = [], [], []
        per_service = max(1, RECORDS_PER_TERRITORY // len(services))
        serial = 0
        for service in services:
            if service.cooperative_id not in people:
                continue
            minutes, home_share, hourly, sources, activities = PROFILES.get(service.vertical, PROFILES["other"])
            regulars = rng.sample(people[service.cooperative_id], min(25, len(people[service.cooperative_id])))
            for _ in range(per_service):
                serial += 1
                beneficiary_id, municipality_id = rng.choice(regulars)
                day = today - dt.timedelta(days=rng.randint(1, 365))
                duration = max(15, int(rng.gauss(minutes, minutes / 4)) // 15 * 15)
                source = rng.choices([s for s, _w in sources], [w for _s, w in sources])[0]
                at_home = rng.random() < home_share
                records.append(dict(
                    territory_id=territory.id, cooperative_id=service.cooperative_id, service_id=service.id,
                    beneficiary_id=beneficiary_id, external_id=f"DEMO-{serial:06d}", delivered_on=day,
                    duration_minutes=duration, at_home=at_home, location="" if at_home else "Sede della cooperativa",
                    municipality_id=municipality_id, operator=rng.choice(["OSS", "Educatrice", "Infermiere", "ASA"]),
                    activity_type=rng.choice(activities), funding_source=source, funder_id=funder_of.get(source),
                    cost_cents=hourly * duration // 60, notes="", source=DeliveryRecord.IMPORT, created_at=now))
                if rng.random() < 0.2:
                    base = rng.randint(3, 5)
                    answers.append(dict(
                        territory_id=territory.id, service_id=service.id, cooperative_id=service.cooperative_id,
                        answered_on=min(today, day + dt.timedelta(days=rng.randint(1, 10))),
                        quality=base, punctuality=min(5, max(1, base + rng.choice([-1, 0, 0, 1]))),
                        kindness=min(5, base + rng.choice([0, 0, 1])), usefulness=min(5, max(1, base - rng.choice([0, 0, 1]))),
                        recommend=min(10, max(0, base * 2 + rng.choice([-2, -1, 0, 0, 1]))), comment=""))
        db.session.execute(insert(DeliveryRecord), records)
        if services and any(s.vertical in ("elderly", "disability") for s in services):
            measured = db.session.execute(
                select(DeliveryRecord.id, DeliveryRecord.beneficiary_id).join(Service, Service.id == DeliveryRecord.service_id)
                .where(DeliveryRecord.territory_id == territory.id, Service.vertical.in_(("elderly", "disability")))
            ).all()
            for record_id, beneficiary_id in measured:
                if rng.random() < 0.3:
                    progress = (beneficiary_id + record_id) % 3
                    outcomes.append(dict(territory_id=territory.id, record_id=record_id,
                                         indicator_id=indicators["autonomy"].id, value=min(5, 2 + progress)))
                    outcomes.append(dict(territory_id=territory.id, record_id=record_id,
                                         indicator_id=indicators["respite_hours"].id, value=rng.randint(1, 4)))
                    outcomes.append(dict(territory_id=territory.id, record_id=record_id,
                                         indicator_id=indicators["goal_reached"].id, value=int(rng.random() < 0.6)))
            if outcomes:
                db.session.execute(insert(OutcomeValue), outcomes)
        if answers:
            db.session.execute(insert(SurveyResponse), answers)
    db.session.flush()
    return len(records)
