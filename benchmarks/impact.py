"""Impact dashboard at scale: 1,000,000 delivery records of one territory on PostgreSQL.

Loads the rows with one ``INSERT ... SELECT generate_series`` per table (the fast path),
then times the coordinators' dashboard aggregate (``marketplace.services.impact.dashboard``
for the last twelve months, median of ``--repeat`` runs after one warm-up) against a
hand-written single SQL ``GROUP BY`` over the same rows (the floor), and reports the peak
memory of the process: the dashboard must aggregate in the database, never load the rows.

Also times the rendicontazione of the funder that paid half of the rows (its figures and
the PDF). Prints ``dashboard_ms=<n> report_ms=<n> floor_ms=<n> dashboard_vs_floor=<ratio>
rows=<n> load_s=<n> peak_rss_mb=<n> rss_growth_mb=<n>``. Needs DATABASE_URL (PostgreSQL) and REDIS_URL; it works in its own
scratch database next to DATABASE_URL's and exits non-zero without them.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python -m benchmarks.impact [--rows 1000000] [--repeat 5]
"""
from __future__ import annotations

import argparse
import datetime as dt
import resource
import statistics
import time

from benchmarks.common import require_services, scratch_database

FLOOR_SQL = """
SELECT date_trunc('month', d.delivered_on) AS month, d.municipality_id,
       count(*) AS deliveries, sum(d.duration_minutes) AS minutes, sum(d.cost_cents) AS cost,
       count(DISTINCT d.beneficiary_id) AS beneficiaries
FROM delivery_record d
WHERE d.territory_id = :territory AND d.delivered_on BETWEEN :start AND :end
GROUP BY 1, 2
"""


def _load(conn, territory_id: int, coop_id: int, service_ids: list[int], municipality_ids: list[int],
          rows: int, beneficiaries: int, funder_id: int) -> None:
    from sqlalchemy import text

    conn.execute(text("""
        INSERT INTO beneficiary (territory_id, cooperative_id, pseudonym, external_ref, display_name,
                                 age_band, sex, municipality_id, income_band, consent_at, created_at)
        SELECT :t, :c, 'B-' || lpad(g::text, 10, '0'), 'BEN-' || g, '',
               (ARRAY['0-2','3-5','6-10','18-29','30-49','50-64','65-74','75-84','85+'])[1 + g % 9],
               (ARRAY['f','m'])[1 + g % 2], (:m)[1 + g % cardinality(CAST(:m AS int[]))],
               (ARRAY['isee_0_7000','isee_7000_15000','isee_15000_25000'])[1 + g % 3], now(), now()
        FROM generate_series(1, :n) AS g
    """), {"t": territory_id, "c": coop_id, "m": municipality_ids, "n": beneficiaries})
    first = conn.execute(text("SELECT min(id) FROM beneficiary WHERE territory_id = :t"), {"t": territory_id}).scalar()
    conn.execute(text("""
        INSERT INTO delivery_record (territory_id, cooperative_id, service_id, beneficiary_id, external_id,
            delivered_on, duration_minutes, at_home, location, municipality_id, operator, activity_type,
            funding_source, funder_id, cost_cents, notes, source, created_at)
        SELECT :t, :c, (:s)[1 + g % cardinality(CAST(:s AS int[]))], :first + ((g::bigint * 7919) % :b)::int, 'BENCH-' || g,
               current_date - (g % 365), 30 + (g % 8) * 15, g % 3 = 0, '',
               (:m)[1 + (g / 7) % cardinality(CAST(:m AS int[]))], 'OSS', 'Visita',
               (ARRAY['citizen','municipal_voucher','municipal_contract','employer_credit'])[1 + g % 4],
               CASE WHEN g % 4 IN (1, 2) THEN :f END, (30 + (g % 8) * 15) * 40, '', 'import', now()
        FROM generate_series(1, :n) AS g
    """), {"t": territory_id, "c": coop_id, "s": service_ids, "m": municipality_ids, "n": rows,
           "first": first, "b": beneficiaries, "f": funder_id})
    conn.execute(text("ANALYZE beneficiary"))
    conn.execute(text("ANALYZE delivery_record"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--beneficiaries", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    database_url, redis_url = require_services()
    url = scratch_database(database_url, "bench_impact")

    from flask_migrate import upgrade
    from sqlalchemy import text

    from marketplace.app import create_app
    from marketplace.extensions import db
    from marketplace.models import Cooperative, Funder, Municipality, Service, Territory
    from tenants.scoping import territory_scope, unscoped

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, REDIS_URL=redis_url, JOBS_INLINE=True)
    with app.app_context():
        upgrade()
        with unscoped():
            territory = Territory(slug="bench", name="Bench", contact_email="bench@example.org")
            db.session.add(territory)
            db.session.flush()
            coop = Cooperative(territory_id=territory.id, name="Coop Bench", status=Cooperative.ACCREDITED)
            db.session.add(coop)
            db.session.flush()
            towns = [Municipality(territory_id=territory.id, name=f"Comune {n}", population=5_000 + n * 1_000)
                     for n in range(40)]
            services = [Service(territory_id=territory.id, cooperative_id=coop.id, title=f"Servizio {n}",
                                vertical=("elderly", "disability", "childcare")[n % 3], status=Service.PUBLISHED)
                        for n in range(30)]
            funder = Funder(territory_id=territory.id, name="Comune di Bench", kind=Funder.MUNICIPALITY)
            db.session.add_all(towns + services + [funder])
            db.session.commit()
            ids = dict(t=territory.id, c=coop.id, s=[s.id for s in services], m=[m.id for m in towns], f=funder.id)
        started = time.perf_counter()
        with db.engine.begin() as conn:
            _load(conn, ids["t"], ids["c"], ids["s"], ids["m"], args.rows, args.beneficiaries, ids["f"])
        load_s = time.perf_counter() - started
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        from marketplace.services import impact, rendicontazione

        end = dt.date.today()
        start = end - dt.timedelta(days=365)

        def timed(fn) -> float:
            fn()  # warm-up: plans, caches
            samples = []
            for _ in range(args.repeat):
                began = time.perf_counter()
                fn()
                samples.append((time.perf_counter() - began) * 1000)
            return statistics.median(samples)

        def dashboard():
            with territory_scope(ids["t"]):
                impact.dashboard(start, end)
                db.session.rollback()

        def report():
            # The rendicontazione of the funder (half the rows are its), figures and PDF.
            with app.test_request_context(), territory_scope(ids["t"]):
                rendicontazione.render_pdf(rendicontazione.compute(db.session.get(Funder, ids["f"]), start, end))
                db.session.rollback()

        def floor():
            with db.engine.connect() as conn:
                conn.execute(text(FLOOR_SQL), {"territory": ids["t"], "start": start, "end": end}).all()

        dashboard_ms = timed(dashboard)
        report_ms = timed(report)
        floor_ms = timed(floor)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"dashboard_ms={dashboard_ms:.0f} report_ms={report_ms:.0f} floor_ms={floor_ms:.0f} "
              f"dashboard_vs_floor={dashboard_ms / floor_ms:.2f} rows={args.rows} load_s={load_s:.1f} "
              f"peak_rss_mb={peak_mb:.0f} rss_growth_mb={(peak_mb - rss_before / 1024):.0f}")


if __name__ == "__main__":
    main()
