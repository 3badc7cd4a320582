"""One validation for every way delivery records come in: each bad value is named with its
column and reason, a good row is saved once, a repeated external id changes nothing."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from marketplace.models import Beneficiary, Cooperative, DeliveryRecord
from marketplace.services import deliveries
from tenants.scoping import territory_scope


@pytest.fixture
def coop_world(app, make):
    territory = make.territory()
    coop = make.cooperative(territory)
    other = make.cooperative(territory)
    service = make.service(coop, status="published", title="Assistenza domiciliare")
    foreign = make.service(other, status="published")
    town = make.municipality(territory, name="Crema", istat_code="019035")
    autonomy = make.indicator(territory, "autonomy", kind="scale_1_5", name="Autonomia")
    make.service_indicator(service, autonomy)
    make.indicator(territory, "respite_hours", name="Ore di sollievo")
    make.funder(territory, name="Comune di Crema")
    return territory, coop, service, foreign, town


def _row(service, **kw):
    row = {"external_id": "GEST-1", "service_id": str(service.id), "beneficiary_ref": "PZ-001",
           "date": "03/11/2026", "start_time": "9:30", "duration_minutes": "90", "at_home": "sì",
           "municipality": "crema", "operator": "OSS", "funding_source": "municipal_contract",
           "funder": "Comune di Crema", "cost_eur": "37,50", "autonomy": "4"}
    row.update(kw)
    return row


def test_a_good_row_is_saved_once_with_its_outcomes(app, db, coop_world):
    territory, coop, service, _foreign, town = coop_world
    with territory_scope(territory.id):
        lookup = deliveries.Lookup.load(db.session.get(Cooperative, coop.id))
        clean, errors = deliveries.validate(_row(service), lookup, today=dt.date(2026, 11, 25))
        assert errors == []
        record, created = deliveries.save(clean, lookup, DeliveryRecord.IMPORT)
        assert created and record.duration_minutes == 90 and record.cost_cents == 3750
        assert record.municipality_id == town.id and record.at_home
        assert record.starts_at == dt.datetime(2026, 11, 3, 8, 30, tzinfo=dt.timezone.utc)  # 9:30 in Rome
        assert [(o.indicator.code, o.value) for o in record.outcomes] == [("autonomy", 4)]
        again, created = deliveries.save(clean, lookup, DeliveryRecord.IMPORT)
        assert not created and again.id == record.id
        db.session.commit()
        assert db.session.execute(select(func.count(DeliveryRecord.id))).scalar_one() == 1
        assert db.session.execute(select(Beneficiary.external_ref)).scalars().all() == ["PZ-001"]


@pytest.mark.parametrize("change,column", [
    ({"external_id": ""}, "external_id"),
    ({"external_id": "has space"}, "external_id"),
    ({"service_id": "999999"}, "service_id"),
    ({"date": "31/02/2026"}, "date"),
    ({"date": "01/12/2026"}, "date"),          # in the future
    ({"start_time": "25:00"}, "start_time"),
    ({"duration_minutes": "0"}, "duration_minutes"),
    ({"duration_minutes": "2000"}, "duration_minutes"),
    ({"at_home": "forse"}, "at_home"),
    ({"municipality": "Atlantide"}, "municipality"),
    ({"municipality": ""}, "municipality"),   # at home: where?
    ({"funding_source": "lottery"}, "funding_source"),
    ({"funder": "Comune di Nessuno"}, "funder"),
    ({"cost_eur": "-3"}, "cost_eur"),
    ({"cost_eur": "tre euro"}, "cost_eur"),
    ({"autonomy": "7"}, "autonomy"),
    ({"respite_hours": "3"}, "respite_hours"),  # not an outcome of this service
])
def test_each_bad_value_is_named_with_its_column(app, db, coop_world, change, column):
    territory, coop, service, _foreign, _town = coop_world
    with territory_scope(territory.id):
        lookup = deliveries.Lookup.load(db.session.get(Cooperative, coop.id))
        clean, errors = deliveries.validate(_row(service, **change), lookup, today=dt.date(2026, 11, 25))
        assert clean is None and [c for c, _m in errors] == [column], errors
        assert all(message for _c, message in errors)


def test_another_cooperatives_service_is_refused(app, db, coop_world):
    territory, coop, service, foreign, _town = coop_world
    with territory_scope(territory.id):
        lookup = deliveries.Lookup.load(db.session.get(Cooperative, coop.id))
        clean, errors = deliveries.validate(_row(service, service_id=str(foreign.id), autonomy=""), lookup,
                                            today=dt.date(2026, 11, 25))
        assert clean is None and errors[0][0] == "service_id"
