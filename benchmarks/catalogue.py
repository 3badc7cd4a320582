"""Catalogue search throughput against a hello-world floor, on PostgreSQL with gunicorn.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python -m benchmarks.catalogue [--services 10000] [--seconds 5]

Creates a scratch database next to DATABASE_URL's (``<name>_bench_catalogue``), loads N
published services into one territory, serves the app and a hello-world app with gunicorn
(4 sync workers, one at a time) and drives each for a few seconds with 16 connections.
Prints one ``target=...`` line per target and ``catalogue_vs_hello=<ratio>`` last.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from benchmarks.common import Gunicorn, line, load, require_services, scratch_database

MUNICIPALITIES = [
    ("Cremona", 45.1333, 10.0227), ("Crema", 45.3640, 9.6830), ("Casalmaggiore", 44.9894, 10.4178),
    ("Soresina", 45.2868, 9.8573), ("Pizzighettone", 45.1867, 9.7889), ("Castelleone", 45.2957, 9.7627),
    ("Pandino", 45.4053, 9.5524), ("Rivolta d'Adda", 45.4707, 9.5127), ("Vescovato", 45.1747, 10.1656),
    ("Piadena Drizzona", 45.1303, 10.3703), ("Sospiro", 45.1084, 10.1581), ("Casalbuttano", 45.2536, 9.9627),
]


def load_data(url: str, services: int) -> dict:
    """Migrations, then a territory with N published services, in a few bulk statements."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from marketplace.app import create_app
    from marketplace.extensions import db
    from tenants.scoping import unscoped

    app = create_app("production", SQLALCHEMY_DATABASE_URI=url)
    with app.app_context(), unscoped():
        upgrade()
        started = time.perf_counter()
        s = db.session
        tid = s.execute(text("INSERT INTO territory (slug, name, default_language, contact_email, primary_color,"
                             " logo_text, status, welcome_title, intro_text, about_text, created_at)"
                             " VALUES ('bench', 'Welfare Bench', 'it', 'bench@example.org', '#0066cc', 'Bench',"
                             " 'active', '', '', '', now()) RETURNING id")).scalar_one()
        for name, lat, lon in MUNICIPALITIES:
            s.execute(text("INSERT INTO municipality (territory_id, name, province, istat_code, latitude, longitude)"
                           " VALUES (:t, :n, 'CR', '', :lat, :lon)"), {"t": tid, "n": name, "lat": lat, "lon": lon})
        s.execute(text(
            "INSERT INTO cooperative (territory_id, name, legal_name, fiscal_code, vat_number, address, postal_code,"
            " municipality, province, email, phone, website, description, logo_text, status, created_at, updated_at)"
            " SELECT :t, 'Cooperativa Sociale ' || g, '', '', '', '', '', 'Cremona', 'CR', '', '', '', '', '',"
            " 'accredited', now(), now() FROM generate_series(1, 60) g"), {"t": tid})
        s.execute(text(
            "INSERT INTO service (territory_id, public_id, cooperative_id, title, summary, description, vertical,"
            " target_group, age_min, age_max, eligibility, documents, delivery_modes, schedule_text, languages,"
            " accessibility, wheelchair_accessible, price_model, price_cents, price_from_cents, accepts_card,"
            " accepts_voucher, accepts_welfare_credit, contact_email, contact_phone, status, review_comment,"
            " search_text, published_at, created_at, updated_at)"
            " SELECT :t, gen_random_uuid()::text,"
            "  (SELECT min(id) FROM cooperative WHERE territory_id = :t) + g % 60,"
            "  (ARRAY['Nido d''infanzia','Centro estivo','Assistenza domiciliare anziani','Centro diurno',"
            "         'Trasporto disabili','Assistenza scolastica','Babysitting','Doposcuola',"
            "         'Visite guidate','Laboratorio creativo','Sportello famiglie','Pasti a domicilio'])[1 + g % 12]"
            "   || ' ' || (ARRAY['Il Girasole','La Quercia','Arcobaleno','Il Melograno','Sole','Aurora',"
            "         'La Rondine','Il Faro','Primavera','Il Ponte'])[1 + (g / 12) % 10] || ' ' || g,"
            "  (ARRAY['Servizio per bambini e famiglie','Aiuto a casa per persone anziane',"
            "         'Sostegno a persone con disabilità','Attività culturali per tutti'])[1 + g % 4],"
            "  repeat('Descrizione del servizio con attività, orari e modalità di accesso. ', 6),"
            "  (ARRAY['childcare','childcare','elderly','elderly','disability','disability','childcare','childcare',"
            "         'culture','culture','other','elderly'])[1 + g % 12],"
            "  '', CASE WHEN g % 12 IN (0,1,6,7) THEN 0 ELSE NULL END,"
            "  CASE WHEN g % 12 IN (0,1,6,7) THEN 14 ELSE NULL END, '', '', 'at_location', '', 'it', '',"
            "  g % 3 = 0, CASE WHEN g % 5 = 0 THEN 'free' ELSE 'per_session' END,"
            "  CASE WHEN g % 5 = 0 THEN NULL ELSE 500 + (g % 40) * 100 END,"
            "  CASE WHEN g % 5 = 0 THEN 0 ELSE 500 + (g % 40) * 100 END,"
            "  true, g % 2 = 0, g % 4 = 0, '', '', 'published', '', '', now(), now(), now()"
            " FROM generate_series(1, :n) g"), {"t": tid, "n": services})
        s.execute(text(
            "INSERT INTO service_location (territory_id, public_id, service_id, name, address, postal_code,"
            " municipality_id)"
            " SELECT :t, gen_random_uuid()::text, sv.id, '', 'Via Roma ' || (sv.id % 90 + 1), '26100',"
            "  (SELECT min(id) FROM municipality WHERE territory_id = :t) + (sv.id / 12) % :m"
            " FROM service sv WHERE sv.territory_id = :t"), {"t": tid, "m": len(MUNICIPALITIES)})
        s.commit()
        s.execute(text("ANALYZE"))  # planner statistics (transactional: committed below)
        s.commit()
        municipality_id = s.execute(text("SELECT id FROM municipality WHERE territory_id = :t AND name = 'Crema'"),
                                    {"t": tid}).scalar_one()
        seconds = time.perf_counter() - started
    return {"municipality_id": municipality_id, "load_seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    database_url, redis_url = require_services()
    name = database_url.rsplit("/", 1)[-1].split("?")[0] + "_bench_catalogue"
    url = scratch_database(database_url, name)
    data = load_data(url, args.services)
    print(f"loaded services={args.services} in {data['load_seconds']:.1f}s database={name}", flush=True)
    query = f"q=nido&vertical=childcare&municipality={data['municipality_id']}"
    env = {"DATABASE_URL": url, "REDIS_URL": redis_url, "MARKETPLACE_ENV": "production",
           "SECRET_KEY": os.environ.get("SECRET_KEY", "benchmark-only-secret"), "QUEUE_PREFIX": "bench-"}
    results = {}
    with Gunicorn("benchmarks.hello_app:app", env) as server:
        results["hello"] = load(server.url("/"), args.seconds, args.connections)
    print(line("hello", results["hello"]), flush=True)
    page, api = f"/t/bench/services?{query}", f"/api/v1/territories/bench/services?{query}"
    with Gunicorn("wsgi:app", env) as server:
        # A first-time visitor or crawler (no cookie): answered from the shared-page cache.
        results["catalogue_page"] = load(server.url(page), args.seconds, args.connections)
        print(line("catalogue_page", results["catalogue_page"]), flush=True)
        results["api_search"] = load(server.url(api), args.seconds, args.connections)
        print(line("api_search", results["api_search"]), flush=True)
        # A returning visitor with a (language) cookie: through Flask, page cache in Redis.
        results["catalogue_page_cookie"] = load(server.url(page), args.seconds, args.connections,
                                                headers={"Cookie": "session=returning-visitor"})
        print(line("catalogue_page_cookie", results["catalogue_page_cookie"]), flush=True)
    # No caches at all: every request runs the full-text search and the facet counts.
    cold_env = dict(env, PAGE_CACHE_SECONDS="0", SEARCH_CACHE="0")
    with Gunicorn("wsgi:app", cold_env) as server:
        results["catalogue_page_nocache"] = load(server.url(page), args.seconds, args.connections)
        print(line("catalogue_page_nocache", results["catalogue_page_nocache"]), flush=True)
    hello = results["hello"]["rps"]
    print(f"api_vs_hello={results['api_search']['rps'] / hello:.3f}")
    print(f"cookie_vs_hello={results['catalogue_page_cookie']['rps'] / hello:.3f}")
    print(f"nocache_vs_hello={results['catalogue_page_nocache']['rps'] / hello:.3f}")
    print(f"catalogue_vs_hello={results['catalogue_page']['rps'] / hello:.3f}")
    if any(r["non_2xx"] for r in results.values()):
        sys.exit("some requests failed (non-2xx answers)")


if __name__ == "__main__":
    main()
