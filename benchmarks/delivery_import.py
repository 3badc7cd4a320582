"""A 50,000-row CSV of delivery records imported through the real job function
(``delivery_import.run``), timed once, on PostgreSQL in a scratch database.

Prints ``rows=<n> bytes=<n> seconds=<n> rows_per_second=<n> imported=<n> errors=<n>``.
Needs DATABASE_URL (PostgreSQL) and REDIS_URL; exits non-zero without them.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python -m benchmarks.delivery_import [--rows 50000]
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import tempfile
import time

from benchmarks.common import require_services, scratch_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    database_url, redis_url = require_services()
    url = scratch_database(database_url, "bench_import")

    from flask_migrate import upgrade

    from marketplace.app import create_app
    from marketplace.extensions import db
    from marketplace.models import Cooperative, DeliveryImport
    from marketplace.services import delivery_import
    from tenants.scoping import territory_scope
    from tests.factories import Factory

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, REDIS_URL=redis_url, JOBS_INLINE=True,
                     UPLOAD_DIR=tempfile.mkdtemp(prefix="bench-import-"))
    with app.app_context():
        upgrade()
        make = Factory(app)
        territory = make.territory("bench")
        coop = make.cooperative(territory)
        service = make.service(coop, status="published")
        make.municipality(territory, name="Crema", istat_code="019035")
        make.service_indicator(service, make.indicator(territory, "autonomy", kind="scale_1_5"))
        day = (dt.date.today() - dt.timedelta(days=10)).strftime("%d/%m/%Y")
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";")
        writer.writerow(["external_id", "service_id", "beneficiary_ref", "date", "start_time", "duration_minutes",
                         "at_home", "municipality", "funding_source", "cost_eur", "notes", "autonomy"])
        for n in range(args.rows):
            writer.writerow([f"GEST-{n}", service.id, f"PZ-{n % 2000}", day, "9:30", "60", "sì", "Crema",
                             "municipal_contract", "25,50", "Visita domiciliare", str(1 + n % 5)])
        data = ("\ufeff" + out.getvalue()).encode()
        with app.test_request_context(), territory_scope(territory.id):
            item = delivery_import.start(db.session.get(Cooperative, coop.id), "bench.csv", data)
            db.session.info.pop("after_commit", None)  # the job is run here, by hand, to time it
            db.session.commit()
            started = time.perf_counter()
            delivery_import.run(item.id)
            seconds = time.perf_counter() - started
            item = db.session.get(DeliveryImport, item.id)
            print(f"rows={args.rows} bytes={len(data)} seconds={seconds:.1f} rows_per_second={args.rows / seconds:.0f} "
                  f"imported={item.imported} errors={item.error_count}")


if __name__ == "__main__":
    main()
