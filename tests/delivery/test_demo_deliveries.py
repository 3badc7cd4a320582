"""`flask seed-demo` adds about twelve months of delivery records, outcomes and survey
answers (at least 20,000 records in all) and population figures, once."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from marketplace.models import (
    Beneficiary, DeliveryRecord, Municipality, OutcomeValue, ServiceIndicator, SurveyResponse, Territory,
)
from tenants.scoping import territory_scope, unscoped


def test_seed_demo_adds_a_year_of_deliveries(app, db):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0

    def counts():
        with unscoped():
            return tuple(db.session.execute(select(func.count(model.id))).scalar_one()
                         for model in (DeliveryRecord, Beneficiary, OutcomeValue, SurveyResponse))

    first = counts()
    assert first[0] >= 20_000
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert counts() == first  # idempotent
    today = dt.date.today()
    for slug in ("cremona", "milano", "sondrio"):
        territory = db.session.execute(select(Territory).where(Territory.slug == slug)).scalar_one()
        with territory_scope(territory.id):
            oldest, newest = db.session.execute(
                select(func.min(DeliveryRecord.delivered_on), func.max(DeliveryRecord.delivered_on))).one()
            assert oldest >= today - dt.timedelta(days=366) and newest <= today
            assert len(set(db.session.execute(select(DeliveryRecord.funding_source)).scalars())) >= 4
            assert db.session.execute(select(func.count(SurveyResponse.id))).scalar_one() > 500
            assert db.session.execute(select(func.count(ServiceIndicator.id))).scalar_one() > 0
            assert db.session.execute(select(func.count(OutcomeValue.id))).scalar_one() > 0
            with_population = db.session.execute(select(func.count(Municipality.id)).where(
                Municipality.population.is_not(None))).scalar_one()
            assert with_population >= 12
            # Profile bands only with consent.
            assert db.session.execute(select(func.count(Beneficiary.id)).where(
                Beneficiary.consent_at.is_(None), Beneficiary.age_band.is_not(None))).scalar_one() == 0
