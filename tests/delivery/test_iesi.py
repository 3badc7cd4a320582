"""The impact view's figures on a small data set whose answers are worked out by hand:
reach per 1,000 residents, waiting time, satisfaction and NPS, relevance and unmet
waiting-list demand, fairness with the concentration index, cost, outcomes before/after;
small cells suppressed; coordinators only."""
from __future__ import annotations

import datetime as dt

import pytest

from marketplace.models import (
    Beneficiary, Cooperative, ServiceRequest, Slot, SurveyResponse, TicketType, WaitlistEntry,
)
from marketplace.services import deliveries, iesi
from tenants.scoping import territory_scope, unscoped
from tests.conftest import login

UTC = dt.timezone.utc


@pytest.fixture
def world(app, make, db):
    territory = make.territory()
    coop = make.cooperative(territory)
    care = make.service(coop, status="published", title="Assistenza", vertical="elderly")
    nursery = make.service(coop, status="published", title="Nido", vertical="childcare")
    crema = make.municipality(territory, name="Crema", population=34_000)
    lodi = make.municipality(territory, name="Lodi", population=45_000)
    autonomy = make.indicator(territory, "autonomy", kind="scale_1_5", name="Autonomia")
    make.service_indicator(care, autonomy)
    users = [make.user() for _ in range(5)]
    # 5 poorest people in Crema (linked to accounts), 5 in the next band, 2 in Lodi without consent.
    people = []
    for n in range(5):
        people.append(make.beneficiary(coop, f"A{n}", municipality_id=crema.id, income_band="isee_0_7000",
                                       user_id=users[n].id))
    for n in range(5):
        people.append(make.beneficiary(coop, f"B{n}", municipality_id=crema.id, income_band="isee_7000_15000"))
    for n in range(2):
        people.append(make.beneficiary(coop, f"L{n}", municipality_id=lodi.id))
    rows = []
    for n in range(5):   # band A: two visits of 60 min, 25 EUR, autonomy 2 then 4
        rows.append(dict(external_id=f"A{n}-1", service_id=str(care.id), beneficiary_ref=f"A{n}", date="2026-03-11",
                         duration_minutes="60", at_home="yes", municipality="Crema",
                         funding_source="municipal_contract", cost_eur="25", autonomy="2"))
        rows.append(dict(external_id=f"A{n}-2", service_id=str(care.id), beneficiary_ref=f"A{n}", date="2026-04-15",
                         duration_minutes="60", at_home="yes", municipality="Crema",
                         funding_source="municipal_contract", cost_eur="25", autonomy="4"))
        rows.append(dict(external_id=f"B{n}", service_id=str(nursery.id), beneficiary_ref=f"B{n}",
                         date="2026-03-20", duration_minutes="60", at_home="no", municipality="Crema",
                         funding_source="citizen", cost_eur="20"))
    for n in range(2):
        rows.append(dict(external_id=f"L{n}", service_id=str(nursery.id), beneficiary_ref=f"L{n}",
                         date="2026-05-02", duration_minutes="30", at_home="no", municipality="Lodi",
                         funding_source="foundation_grant", cost_eur="10"))
    rows.append(dict(external_id="OLD", service_id=str(care.id), beneficiary_ref="A0", date="2025-06-01",
                     duration_minutes="600", at_home="yes", municipality="Crema", cost_eur="999"))
    with app.app_context(), territory_scope(territory.id):
        lookup = deliveries.Lookup.load(db.session.get(Cooperative, coop.id))
        for row in rows:
            clean, errors = deliveries.validate(row, lookup, today=dt.date(2026, 11, 25))
            assert not errors, (row, errors)
            deliveries.save(clean, lookup, "import")
        for n, user in enumerate(users):   # each asked for care 10 days before the first visit
            db.session.add(ServiceRequest(territory_id=territory.id, service_id=care.id, user_id=user.id,
                                          email=user.email, municipality_id=crema.id,
                                          created_at=dt.datetime(2026, 3, 1, 9, tzinfo=UTC)))
        for quality, recommend in ((5, 10), (4, 9), (4, 8), (3, 6), (5, 10), (2, 3)):
            db.session.add(SurveyResponse(territory_id=territory.id, service_id=care.id, cooperative_id=coop.id,
                                          answered_on=dt.date(2026, 4, 20), quality=quality, punctuality=4,
                                          kindness=5, usefulness=4, recommend=recommend))
        slot = Slot(territory_id=territory.id, service_id=nursery.id, capacity=5,
                    starts_at=dt.datetime(2026, 6, 1, 8, tzinfo=UTC), ends_at=dt.datetime(2026, 6, 1, 12, tzinfo=UTC))
        slot.ticket_types.append(TicketType(territory_id=territory.id, name="Posto", price_cents=0))
        db.session.add(slot)
        db.session.flush()
        for quantity, status in ((1, "waiting"), (2, "expired"), (4, "booked")):
            db.session.add(WaitlistEntry(territory_id=territory.id, slot_id=slot.id, email="x@example.org",
                                         quantity=quantity, status=status))
        db.session.commit()
    return territory, coop


def test_every_dimension_matches_the_figures_worked_out_by_hand(app, db, world):
    territory, _coop = world
    with territory_scope(territory.id):
        result = iesi.impact(dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert result.beneficiaries == 12
    # Access: 10 people of Crema / 34,000 x 1,000 = 0.29; Lodi's 2 are hidden.
    access = {row.label: row.cells for row in result.access}
    assert access["Crema"] == {"beneficiaries": "10", "population": 34_000, "per_1000": "0.3"}
    assert access["Lodi"]["per_1000"] == "<5" and access["Lodi"]["beneficiaries"] == "<5"
    assert result.waiting_days_median == "10" and result.waiting_requests == 5
    # Satisfaction: 6 answers; quality 23/6 = 3.8; NPS: 3 promoters, 2 detractors -> 1/6 = 17.
    assert result.satisfaction == {"answers": "6", "quality": "3.8", "punctuality": "4.0", "kindness": "5.0",
                                   "usefulness": "4.0", "nps": "17"}
    # Relevance: 5 requests for elderly care in Crema, 10 visits, 10 hours; 3 places never served.
    relevance = {row.label: row.cells for row in result.relevance}
    assert relevance["Assistenza agli anziani · Crema"] == {"requests": 5, "deliveries": 10, "hours": "10.0"} or \
        relevance["Elderly care · Crema"] == {"requests": 5, "deliveries": 10, "hours": "10.0"}
    assert result.unmet_waitlist == "3"
    # Fairness: band A 5 people 10 h, band B 5 people 5 h: index = 0.5*(4/3)*(-0.5) + 0.5*(2/3)*0.5 = -1/6.
    income = {row.label: row.cells for row in result.fairness_income}
    assert income["isee_0_7000"] == {"beneficiaries": "5", "hours": "10.0", "hours_each": "2.0"}
    assert income["isee_7000_15000"] == {"beneficiaries": "5", "hours": "5.0", "hours_each": "1.0"}
    assert income[""] == {"beneficiaries": "<5", "hours": "<5", "hours_each": "<5"}  # Lodi, no consent
    assert result.concentration_index == "-0.167"
    # Cost: 250 + 100 + 20 = 370 EUR over 16 h and 12 people; public 270 of 370.
    assert result.cost["total_cents"] == 37_000 and result.cost["hours"] == "16.0"
    assert result.cost["per_hour_cents"] == 2_312 and result.cost["per_beneficiary_cents"] == 3_083
    assert result.cost["public_share"] == "73%"
    # Outcomes: autonomy 2 -> 4 for 5 people.
    (autonomy,) = result.outcomes
    assert autonomy.cells == {"beneficiaries": "5", "unit": "", "before": "2.0", "after": "4.0", "change": "+2.0"}


def test_small_groups_are_suppressed(app, db, world):
    territory, _coop = world
    with app.app_context(), unscoped():
        db.session.query(SurveyResponse).filter(SurveyResponse.recommend < 8).delete()
        db.session.query(Beneficiary).filter(Beneficiary.external_ref == "B0").update({"income_band": None})
        db.session.commit()
    with territory_scope(territory.id):
        result = iesi.impact(dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert result.satisfaction["answers"] == "<5" and result.satisfaction["nps"] == "<5"
    income = {row.label: row.cells for row in result.fairness_income}
    assert income["isee_7000_15000"]["beneficiaries"] == "<5" and income["isee_7000_15000"]["hours"] == "<5"
    assert result.concentration_index == "—"  # a band under 5 people could be told apart


def test_the_page_for_coordinators_only(app, client, make, world):
    territory, coop = world
    url = f"/t/{territory.slug}/coordinator/impact?from=2026-01-01&to=2026-12-31"
    coordinator = make.coordinator(territory)
    login(client, coordinator.email)
    page = client.get(url)
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "-0.167" in body and "A0" not in body and "B-" not in body
    assert client.get(f"/t/{territory.slug}/coordinator/impact?from=2026-12-31&to=2026-01-01").status_code == 422
    staff_client = app.test_client()
    login(staff_client, make.staff(coop).email)
    assert staff_client.get(url).status_code == 403
