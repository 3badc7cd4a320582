"""Coordinators see their territory's picture, cooperative staff their cooperative's: every
figure of the dashboard is checked against the same figure computed here, in plain Python,
from the small data set below; small cells show "<5" on the page and in the CSV; filters
narrow what they say they narrow; bad dates are refused next to the field; only the right
people get in.

The data set (year 2026):
- Cooperative Aurora (elderly care): beneficiaries b1-b6; Betulla (childcare): c1-c4.
- Municipalities: Alfa (2,000 residents), Beta (population not entered).
- Deliveries below (``RECORDS``) plus one of December 2025 (outside the period).
- Slot S1 (Aurora, capacity 10, ended): order o1 paid 2 seats (one checked in), o2 paid 1
  seat, o3 cancelled 1 seat. Slot S2 (Betulla, capacity 5): o4 paid 3 seats, all checked
  in; waiting list: one waiting, one expired, one booked. Slot S3 (Aurora, capacity 4)
  cancelled.
- Survey answers: six for Aurora, two for Betulla.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import ROUND_HALF_UP, Decimal

import pytest

from marketplace.extensions import db as _db
from marketplace.models import (
    DeliveryRecord, Order, Slot, SurveyResponse, Ticket, WaitlistEntry,
)
from marketplace.services import booking, impact
from tenants.scoping import territory_scope
from tests.conftest import login

PERIOD = "from=2026-01-01&to=2026-12-31"
FROM, TO = dt.date(2026, 1, 1), dt.date(2026, 12, 31)

# (cooperative, beneficiary, date, minutes, municipality, funding source, cost in cents)
RECORDS = [
    ("A", "b1", "2026-01-10", 90, "Alfa", "municipal_contract", 3750),
    ("A", "b2", "2026-01-12", 60, "Alfa", "municipal_contract", 2500),
    ("A", "b3", "2026-01-20", 120, "Alfa", "citizen", 4000),
    ("A", "b4", "2026-02-03", 45, "Alfa", "municipal_voucher", 1800),
    ("A", "b5", "2026-02-10", 60, "Alfa", "foundation_grant", 2000),
    ("A", "b1", "2026-02-15", 30, "Alfa", "municipal_contract", 1250),
    ("A", "b6", "2026-03-01", 60, "Beta", "citizen", 2200),
    ("B", "c1", "2026-03-05", 180, "Beta", "employer_credit", 5400),
    ("B", "c2", "2026-03-06", 180, "Beta", "employer_credit", 5400),
    ("B", "c3", "2026-03-07", 120, "Beta", "citizen", 3000),
    ("B", "c4", "2026-03-08", 100, None, "citizen", 2500),
]
OUTSIDE = ("A", "b1", "2025-12-31", 60, "Alfa", "citizen", 999)
POPULATION = {"Alfa": 2000, "Beta": None}
VERTICAL = {"A": "elderly", "B": "childcare"}
# (cooperative, quality, punctuality, kindness, usefulness, recommend)
ANSWERS = [("A", 5, 5, 4, 5, 10), ("A", 4, 4, 4, 4, 9), ("A", 3, 4, 3, 3, 6), ("A", 5, 4, 5, 5, 8),
           ("A", 2, 3, 2, 2, 3), ("A", 5, 5, 5, 5, 10), ("B", 4, 4, 4, 4, 7), ("B", 1, 1, 1, 1, 0)]
# slot -> (cooperative, capacity, cancelled); orders: (slot, seats, paid?, checked in)
SLOTS = {"S1": ("A", 10, False), "S2": ("B", 5, False), "S3": ("A", 4, True)}
ORDERS = [("S1", 2, True, 1), ("S1", 1, True, 0), ("S1", 1, False, 0), ("S2", 3, True, 3)]
WAITLIST = [("S2", WaitlistEntry.WAITING), ("S2", WaitlistEntry.EXPIRED), ("S2", WaitlistEntry.BOOKED)]


# --- the expected figures, in plain Python --------------------------------------------

def _d(value) -> Decimal:
    return Decimal(value).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _cells(n: int) -> str:
    return "<5" if n < 5 else str(n)


def expected(coop=None, vertical=None, town=None, source=None) -> dict:
    rows = [r for r in RECORDS
            if (coop is None or r[0] == coop) and (vertical is None or VERTICAL[r[0]] == vertical)
            and (town is None or r[4] == town) and (source is None or r[5] == source)]
    people = {r[1] for r in rows}
    minutes = sum(r[3] for r in rows)
    cost = sum(r[6] for r in rows)
    coops = {c for c in ("A", "B") if (coop is None or c == coop) and (vertical is None or VERTICAL[c] == vertical)}
    slots = {k for k, (c, _cap, _x) in SLOTS.items() if c in coops}
    paid = [o for o in ORDERS if o[0] in slots and o[2]]
    seats = sum(o[1] for o in paid if not SLOTS[o[0]][2])
    capacity = sum(cap for k, (_c, cap, cancelled) in SLOTS.items() if k in slots and not cancelled)
    answers = [a for a in ANSWERS if a[0] in coops]
    months = {}
    for m in range(1, 13):
        key = f"2026-{m:02d}"
        in_month = [r for r in rows if r[2].startswith(key)]
        months[key] = (len(in_month), _d(Decimal(sum(r[3] for r in in_month)) / 60),
                       _cells(len({r[1] for r in in_month})), sum(r[6] for r in in_month))
    towns = {}
    for name in {r[4] for r in rows}:
        in_town = [r for r in rows if r[4] == name]
        n = len({r[1] for r in in_town})
        label = name or "Comune non indicato"
        if n < 5:
            towns[label] = ("<5", "<5", "<5", "<5" if POPULATION.get(name) else "", None)
        else:
            pop = POPULATION.get(name)
            towns[label] = (str(len(in_town)), str(_d(Decimal(sum(r[3] for r in in_town)) / 60)), str(n),
                            str(_d(Decimal(n) * 1000 / pop)) if pop else "", sum(r[6] for r in in_town))
    funding = {}
    for r in rows:
        count, amount = funding.get(r[5], (0, 0))
        funding[r[5]] = (count + 1, amount + r[6])
    n_answers = len(answers)
    return {
        "deliveries": len(rows),
        "beneficiaries": _cells(len(people)),
        "hours": _d(Decimal(minutes) / 60),
        "cost": cost,
        "cost_per_hour": int((Decimal(cost) * 60 / minutes).quantize(Decimal("1"), ROUND_HALF_UP)) if minutes else None,
        "cost_per_beneficiary": (None if len(people) < 5
                                 else int((Decimal(cost) / len(people)).quantize(Decimal("1"), ROUND_HALF_UP))),
        "bookings": len(paid),
        "cancellations": len([o for o in ORDERS if o[0] in slots and not o[2]]),
        "fill_rate": _d(Decimal(seats) * 100 / capacity) if capacity else None,
        "no_shows": sum(o[1] - o[3] for o in paid if o[0] == "S1"),   # S1 ended, S2 all checked in
        "waitlist": len([w for w in WAITLIST if w[0] in slots and w[1] in ("waiting", "expired")]),
        "responses": _cells(n_answers),
        "satisfaction": (str(_d(Decimal(sum(sum(a[1:5]) for a in answers)) / (4 * n_answers)))
                         if n_answers >= 5 else "<5"),
        "nps": (str(int((Decimal(len([a for a in answers if a[5] >= 9]) - len([a for a in answers if a[5] <= 6]))
                         * 100 / n_answers).quantize(Decimal("1"), ROUND_HALF_UP))) if n_answers >= 5 else "<5"),
        "funding": {s: (c, a, _d(Decimal(a) * 100 / cost)) for s, (c, a) in funding.items()},
        "months": months,
        "towns": towns,
    }


# --- the world ------------------------------------------------------------------------

@pytest.fixture
def world(app, make):
    class W:
        pass

    w = W()
    w.territory = make.territory()
    w.other = make.territory()
    w.coops = {"A": make.cooperative(w.territory, name="Aurora"), "B": make.cooperative(w.territory, name="Betulla")}
    w.services = {k: make.service(c, status="published", vertical=VERTICAL[k]) for k, c in w.coops.items()}
    w.towns = {name: make.municipality(w.territory, name=name, population=pop) for name, pop in POPULATION.items()}
    people = {}
    for coop_key, refs in (("A", ("b1", "b2", "b3", "b4", "b5", "b6")), ("B", ("c1", "c2", "c3", "c4"))):
        for ref in refs:
            people[ref] = make.beneficiary(w.coops[coop_key], ref)
    w.coordinator = make.coordinator(w.territory, locale="en")
    w.staff_a = make.staff(w.coops["A"], locale="en")
    w.citizen = make.user(locale="en")
    w.foreign_coop = make.cooperative(w.other, name="Lontana")
    w.foreign_coordinator = make.coordinator(w.other, locale="en")
    foreign_service = make.service(w.foreign_coop, status="published", vertical="elderly")
    foreign_person = make.beneficiary(w.foreign_coop, "z1")
    slots = {key: make.slot(w.services[coop], capacity=capacity, types=(("Intero", 0, None),))
             for key, (coop, capacity, _cancelled) in SLOTS.items()}
    with app.app_context():
        with territory_scope(w.territory.id):
            for n, (coop, ref, day, minutes, town, source, cost) in enumerate(RECORDS + [OUTSIDE]):
                _db.session.add(DeliveryRecord(
                    territory_id=w.territory.id, cooperative_id=w.coops[coop].id, service_id=w.services[coop].id,
                    beneficiary_id=people[ref].id, external_id=f"R-{n}", delivered_on=dt.date.fromisoformat(day),
                    duration_minutes=minutes, municipality_id=w.towns[town].id if town else None,
                    funding_source=source, cost_cents=cost))
            for coop, q, p, k, u, rec in ANSWERS:
                _db.session.add(SurveyResponse(
                    territory_id=w.territory.id, service_id=w.services[coop].id, cooperative_id=w.coops[coop].id,
                    answered_on=dt.date(2026, 4, 2), quality=q, punctuality=p, kindness=k, usefulness=u,
                    recommend=rec))
            # an answer outside the period
            _db.session.add(SurveyResponse(
                territory_id=w.territory.id, service_id=w.services["A"].id, cooperative_id=w.coops["A"].id,
                answered_on=dt.date(2025, 6, 1), quality=1, punctuality=1, kindness=1, usefulness=1, recommend=0))
            for slot_key, seats, paid, checked_in in ORDERS:
                slot = _db.session.get(Slot, slots[slot_key].id)
                order = booking.hold(slot.id, {slot.ticket_types[0].id: seats}, email="someone@example.org")
                booking.confirm_free(order)
                if not paid:
                    booking.cancel_free(order)
                for ticket in order.tickets[:checked_in]:
                    ticket.checked_in_at = dt.datetime(2026, 10, 10, 10, tzinfo=dt.timezone.utc)
            for slot_key, status in WAITLIST:
                _db.session.add(WaitlistEntry(territory_id=w.territory.id, slot_id=slots[slot_key].id,
                                              email="wait@example.org", status=status))
            when = {"S1": dt.datetime(2026, 10, 10, 9, tzinfo=dt.timezone.utc),
                    "S2": dt.datetime(2026, 11, 20, 9, tzinfo=dt.timezone.utc),
                    "S3": dt.datetime(2026, 9, 1, 9, tzinfo=dt.timezone.utc)}
            for key, slot in slots.items():
                row = _db.session.get(Slot, slot.id)
                row.starts_at, row.ends_at = when[key], when[key] + dt.timedelta(hours=2)
                if SLOTS[key][2]:
                    row.status = Slot.CANCELLED
            _db.session.commit()
        with territory_scope(w.other.id):
            _db.session.add(DeliveryRecord(
                territory_id=w.other.id, cooperative_id=w.foreign_coop.id, service_id=foreign_service.id,
                beneficiary_id=foreign_person.id, external_id="F-1", delivered_on=dt.date(2026, 2, 1),
                duration_minutes=600, funding_source="citizen", cost_cents=99999))
            _db.session.commit()
    w.base = f"/t/{w.territory.slug}"
    return w


def _report(app, w, **filters):
    with app.app_context(), territory_scope(w.territory.id):
        return impact.dashboard(FROM, TO, **filters)


def _compare(report, exp):
    assert report.deliveries == exp["deliveries"]
    assert report.beneficiaries == exp["beneficiaries"]
    assert report.hours == exp["hours"]
    assert report.cost_cents == exp["cost"]
    assert report.cost_per_hour_cents == exp["cost_per_hour"]
    assert report.cost_per_beneficiary_cents == exp["cost_per_beneficiary"]
    assert report.cost_per_beneficiary_suppressed == (exp["beneficiaries"] == "<5")
    assert report.bookings == exp["bookings"]
    assert report.cancellations == exp["cancellations"]
    assert report.fill_rate == exp["fill_rate"]
    assert report.no_shows == exp["no_shows"]
    assert report.waitlist_unserved == exp["waitlist"]
    assert report.responses == exp["responses"]
    assert report.satisfaction == exp["satisfaction"]
    assert report.nps == exp["nps"]
    assert {f.source: (f.deliveries, f.cost_cents, f.share) for f in report.funding} == exp["funding"]
    assert {m.month: (m.deliveries, m.hours, m.beneficiaries, m.cost_cents) for m in report.months} == exp["months"]
    assert {m.name: (m.deliveries, m.hours, m.beneficiaries, m.per_thousand, m.cost_cents)
            for m in report.municipalities} == exp["towns"]


# --- the figures ----------------------------------------------------------------------

def test_every_figure_matches_the_independent_computation(app, world):
    exp = expected()
    # a sanity check of the hand-made data set itself
    assert (exp["deliveries"], exp["beneficiaries"], exp["cost"], exp["bookings"]) == (11, "10", 33800, 3)
    assert exp["fill_rate"] == Decimal("40.0") and exp["no_shows"] == 2 and exp["waitlist"] == 2
    assert exp["towns"]["Alfa"][2] == "5" and exp["towns"]["Beta"][2] == "<5"
    _compare(_report(app, world), exp)


@pytest.mark.parametrize("filters,args", [
    ({"coop": "A"}, "A"),
    ({"coop": "B"}, "B"),
    ({"vertical": "childcare"}, None),
    ({"town": "Alfa"}, None),
    ({"source": "employer_credit"}, None),
    ({"coop": "A", "source": "citizen"}, "A"),
])
def test_filters_narrow_what_they_touch(app, world, filters, args):
    kwargs = {}
    if "coop" in filters:
        kwargs["cooperative_id"] = world.coops[filters["coop"]].id
    if "vertical" in filters:
        kwargs["vertical"] = filters["vertical"]
    if "town" in filters:
        kwargs["municipality_id"] = world.towns[filters["town"]].id
    if "source" in filters:
        kwargs["funding_source"] = filters["source"]
    _compare(_report(app, world, **kwargs), expected(**filters))


def _page(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def _csv(client, url) -> list[list[str]]:
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:]), delimiter=";"))


def _summary(rows) -> dict[str, str]:
    out = {}
    for row in rows:
        if not row:
            break
        if len(row) == 2:
            out[row[0]] = row[1]
    return out


def test_the_coordinator_sees_the_figures_and_downloads_them(client, world):
    login(client, world.coordinator.email)
    home = _page(client, f"{world.base}/coordinator/")
    assert f"{world.base}/coordinator/territory" in home
    html = _page(client, f"{world.base}/coordinator/territory?{PERIOD}")
    assert 'id="figure-deliveries">11<' in html
    assert 'id="figure-beneficiaries">10<' in html
    assert 'id="figure-hours">17.4<' in html
    assert 'id="figure-fill-rate">40.0%<' in html
    assert 'id="figure-nps">' + expected()["nps"] + "<" in html
    assert "<caption" in html and 'id="table-municipalities"' in html and 'id="table-months"' in html
    # another territory's delivery is not counted
    assert "99999" not in html and "Lontana" not in html

    rows = _csv(client, f"{world.base}/coordinator/territory.csv?{PERIOD}")
    summary = _summary(rows[2:])
    assert summary["Deliveries"] == "11"
    assert summary["Unique beneficiaries"] == "10"
    assert summary["Hours delivered"] == "17,4"
    assert summary["Cost of deliveries (EUR)"] == "338,00"
    assert summary["Cost per beneficiary (EUR)"] == "33,80"
    towns = {row[0]: row for row in rows if row and row[0] in ("Alfa", "Beta", "Municipality not given")}
    assert towns["Alfa"][2:] == ["6", "6,8", "5", "2,5", "153,00"]
    assert towns["Beta"][2:] == ["<5", "<5", "<5", "", "<5"]
    assert towns["Municipality not given"][2:] == ["<5", "<5", "<5", "", "<5"]


def test_the_default_period_is_the_last_twelve_months(client, world):
    login(client, world.coordinator.email)
    html = _page(client, f"{world.base}/coordinator/territory")
    start, end = impact.default_period()
    assert f'value="{start.isoformat()}"' in html and f'value="{end.isoformat()}"' in html
    assert start.day == 1 and len(impact.months_between(start, end)) == 12


def test_four_beneficiaries_are_suppressed_five_are_shown(client, world):
    login(client, world.coordinator.email)
    betulla = world.coops["B"].id     # c1-c4
    html = _page(client, f"{world.base}/coordinator/territory?{PERIOD}&cooperative={betulla}")
    assert 'id="figure-beneficiaries">&lt;5<' in html
    assert 'id="figure-cost-beneficiary">&lt;5<' in html
    assert 'id="figure-satisfaction">&lt;5<' in html     # two answers
    summary = _summary(_csv(client, f"{world.base}/coordinator/territory.csv?{PERIOD}&cooperative={betulla}")[2:])
    assert summary["Unique beneficiaries"] == "<5"
    assert summary["Cost per beneficiary (EUR)"] == "<5"
    assert summary["Average satisfaction (1-5)"] == "<5"
    assert summary["Cooperative"] == "Betulla"

    alfa = world.towns["Alfa"].id     # b1-b5
    html = _page(client, f"{world.base}/coordinator/territory?{PERIOD}&municipality={alfa}")
    assert 'id="figure-beneficiaries">5<' in html
    summary = _summary(_csv(client, f"{world.base}/coordinator/territory.csv?{PERIOD}&municipality={alfa}")[2:])
    assert summary["Unique beneficiaries"] == "5"


@pytest.mark.parametrize("query,field", [
    ("from=2026-02-30&to=2026-12-31", "from"),
    ("from=2026-01-01&to=yesterday", "to"),
    ("from=2026-12-01&to=2026-01-01", "from"),
    (f"{PERIOD}&vertical=astrology", "vertical"),
    (f"{PERIOD}&funding_source=lottery", "funding_source"),
    (f"{PERIOD}&municipality=999999", "municipality"),
    (f"{PERIOD}&cooperative=abc", "cooperative"),
])
def test_bad_filters_are_refused_next_to_the_field(client, world, query, field):
    login(client, world.coordinator.email)
    html = _page(client, f"{world.base}/coordinator/territory?{query}", status=422)
    assert f'id="filter-{field}-error"' in html
    assert 'id="figure-deliveries"' not in html
    assert client.get(f"{world.base}/coordinator/territory.csv?{query}").status_code == 422


def test_another_territorys_cooperative_is_not_a_filter(client, world):
    login(client, world.coordinator.email)
    html = _page(client, f"{world.base}/coordinator/territory?{PERIOD}&cooperative={world.foreign_coop.id}",
                 status=422)
    assert 'id="filter-cooperative-error"' in html


def test_only_coordinators_get_the_territory_dashboard(app, world):
    url = f"{world.base}/coordinator/territory?{PERIOD}"
    for user in (world.staff_a, world.citizen, world.foreign_coordinator):
        client = app.test_client()
        login(client, user.email)
        assert client.get(url).status_code == 403
        assert client.get(url.replace("/territory?", "/territory.csv?")).status_code == 403


def test_staff_see_only_their_cooperative(client, world):
    login(client, world.staff_a.email)
    aurora = world.coops["A"].id
    home = _page(client, f"{world.base}/cooperative/{aurora}/")
    assert f"{world.base}/cooperative/{aurora}/dashboard" in home
    # the cooperative in the query string is ignored: the URL's cooperative is fixed
    html = _page(client, f"{world.base}/cooperative/{aurora}/dashboard?{PERIOD}&cooperative={world.coops['B'].id}")
    exp = expected(coop="A")
    assert f'id="figure-deliveries">{exp["deliveries"]}<' in html
    assert f'id="figure-beneficiaries">{exp["beneficiaries"]}<' in html
    assert f'id="figure-bookings">{exp["bookings"]}<' in html
    assert 'id="filter-cooperative"' not in html
    summary = _summary(_csv(client, f"{world.base}/cooperative/{aurora}/dashboard.csv?{PERIOD}")[2:])
    assert summary["Deliveries"] == str(exp["deliveries"]) and summary["Cooperative"] == "Aurora"
    assert _page(client, f"{world.base}/cooperative/{aurora}/dashboard?from=nope", status=422)

    # another cooperative of the territory: 403; another territory's: 404
    assert client.get(f"{world.base}/cooperative/{world.coops['B'].id}/dashboard").status_code == 403
    assert client.get(f"{world.base}/cooperative/{world.foreign_coop.id}/dashboard").status_code == 404
    assert client.get(f"/t/{world.other.slug}/cooperative/{aurora}/dashboard").status_code == 404
    assert client.get(f"{world.base}/cooperative/{world.coops['B'].id}/dashboard.csv").status_code == 403


def test_coordinators_and_citizens_do_not_get_a_cooperatives_dashboard(app, world):
    aurora = world.coops["A"].id
    for user in (world.citizen, world.coordinator):
        client = app.test_client()
        login(client, user.email)
        assert client.get(f"{world.base}/cooperative/{aurora}/dashboard").status_code == 403


def test_the_csv_is_formula_safe(app, world):
    with app.app_context(), territory_scope(world.territory.id):
        from marketplace.models import Municipality

        town = _db.session.get(Municipality, world.towns["Alfa"].id)
        town.name = "=HYPERLINK(\"x\")"
        _db.session.commit()
        body = impact.dashboard_csv(impact.dashboard(FROM, TO))
    cells = [row[0] for row in csv.reader(io.StringIO(body[1:]), delimiter=";") if row]
    assert "'=HYPERLINK(\"x\")" in cells and not any(cell.startswith("=") for cell in cells)


def test_numbers_follow_the_readers_language(app, make, world):
    client = app.test_client()
    italian = make.coordinator(world.territory, locale="it")
    login(client, italian.email)
    html = _page(client, f"{world.base}/coordinator/territory?{PERIOD}")
    assert 'id="figure-hours">17,4<' in html and 'id="figure-fill-rate">40,0%<' in html


def test_charts_are_served_locally_beside_their_tables(client, world):
    login(client, world.coordinator.email)
    html = _page(client, f"{world.base}/coordinator/territory?{PERIOD}")
    assert 'data-table="table-funding"' in html and 'data-table="table-months"' in html
    assert 'src="/static/vendor/chartjs/chart.umd.js"' in html and "https://" not in html.split("<main", 1)[-1]
    for name in ("chart.umd.js", "impact-charts.js", "LICENSE.md"):
        assert client.get(f"/static/vendor/chartjs/{name}").status_code == 200
