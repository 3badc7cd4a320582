"""Booking under contention and booking throughput, on PostgreSQL with gunicorn.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python -m benchmarks.booking [--seconds 10] [--clients 32] [--workers 4]

Creates a scratch database next to DATABASE_URL's (``<name>_bench_booking``) with a
territory, an accredited cooperative, a published *free* service (bookings confirm at once,
no Stripe), one date with 50 seats (contention) and 100 dates with ample seats
(throughput), and 200 confirmed citizens. Serves the app (rate limiting off, see
``benchmarks/booking_wsgi.py``) with gunicorn sync workers on 127.0.0.1, then:

(a) contention: 200 logged-in citizens wait on a barrier and POST one ticket each for the
    50-seat date at the same moment; confirmed tickets are counted in the database;
(b) throughput: 32 citizens book one seat on random dates among the 100 for N seconds;
    then the hello-world app under the same gunicorn settings, driven by the same 32
    threads for the same time.

What is timed is the booking POST alone, up to its answer (302 to the booking page when
confirmed, 422 when full); the redirect is not followed. Logging in and fetching the CSRF
token happen before. Prints ``contention ...``, ``booking_rps=``, ``booking_vs_hello=``;
exits non-zero if a seat is oversold or any answer is a 5xx.
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import random
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

from benchmarks.common import Gunicorn, require_services, scratch_database

SLUG = "bench"
PASSWORD = "bench-password-1"
QUEUE_PREFIX = "bench-booking-"


def load_data(url: str, users: int, slots: int, seats: int) -> dict:
    """Migrations, then the territory, service, dates and citizens (one password hash)."""
    from flask_migrate import upgrade
    from sqlalchemy import insert, text
    from werkzeug.security import generate_password_hash

    from marketplace.app import create_app
    from marketplace.extensions import db
    from marketplace.models import Cooperative, Service, Slot, Territory, TicketType, User
    from marketplace.models.base import utcnow
    from tenants.scoping import unscoped

    app = create_app("production", SQLALCHEMY_DATABASE_URI=url)
    with app.app_context(), unscoped():
        upgrade()
        s = db.session
        territory = Territory(slug=SLUG, name="Welfare Bench", contact_email="bench@example.org",
                              logo_text="Bench")
        s.add(territory)
        s.flush()
        coop = Cooperative(territory_id=territory.id, name="Cooperativa Bench", email="coop@example.org",
                           status=Cooperative.ACCREDITED)
        s.add(coop)
        s.flush()
        service = Service(territory_id=territory.id, cooperative_id=coop.id, title="Visita guidata gratuita",
                          summary="Visita guidata", vertical="culture", price_model="free", booking_mode="slots",
                          status=Service.PUBLISHED, published_at=utcnow())
        s.add(service)
        s.flush()
        start = (utcnow() + dt.timedelta(days=7)).replace(microsecond=0)

        def new_slot(capacity: int, day: int) -> tuple[int, int]:
            begins = start + dt.timedelta(days=day)
            slot = Slot(territory_id=territory.id, service_id=service.id, starts_at=begins,
                        ends_at=begins + dt.timedelta(hours=2), capacity=capacity)
            slot.ticket_types.append(TicketType(territory_id=territory.id, name="Ingresso", price_cents=0))
            s.add(slot)
            s.flush()
            return slot.id, slot.ticket_types[0].id

        contended = new_slot(seats, 0)
        free = [new_slot(1_000_000, 1 + n) for n in range(slots)]
        password_hash = generate_password_hash(PASSWORD)  # once: each hash costs tens of ms
        now = utcnow()
        emails = [f"citizen{n}@bench.example.org" for n in range(users)]
        s.execute(insert(User), [
            {"email": email, "password_hash": password_hash, "full_name": f"Cittadino {n}", "locale": "it",
             "email_confirmed_at": now, "created_at": now}
            for n, email in enumerate(emails)])
        s.commit()
        s.execute(text("ANALYZE"))
        s.commit()
    return {"contended": contended, "free": free, "emails": emails}


def count_confirmed(url: str, slot_ids: list[int]) -> int:
    """Valid tickets of paid (confirmed) orders on these dates, read straight from the database."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(sa.text(
            "SELECT count(*) FROM ticket t JOIN booking_order o ON o.id = t.order_id"
            " WHERE t.slot_id = ANY(:ids) AND t.status = 'valid' AND o.status = 'paid'"), {"ids": slot_ids}).scalar_one()
    engine.dispose()
    return int(n)


class Citizen:
    """One browser: logs in with ``requests``, then books over a bare keep-alive-less
    ``http.client`` connection carrying the session cookie and CSRF token it got."""

    TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')

    def __init__(self, port: int, email: str):
        self.port, self.email = port, email
        self.cookie = self.token = ""
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def sign_in(self, any_slot: int) -> None:
        import requests

        with requests.Session() as web:
            page = web.get(self.url(f"/t/{SLUG}/account/login"), timeout=60)
            answer = web.post(self.url(f"/t/{SLUG}/account/login"), allow_redirects=False, timeout=60, data={
                "csrf_token": self._token(page.text), "email": self.email, "password": PASSWORD, "next": ""})
            if answer.status_code != 302:
                raise SystemExit(f"login of {self.email} answered {answer.status_code}")
            # Logging in starts a new session: take the CSRF token from the booking form.
            page = web.get(self.url(f"/t/{SLUG}/book/{any_slot}"), timeout=60)
            if page.status_code != 200:
                raise SystemExit(f"booking page answered {page.status_code}")
            self.token = self._token(page.text)
            self.cookie = "; ".join(f"{c.name}={c.value}" for c in web.cookies)

    def _token(self, html: str) -> str:
        match = self.TOKEN.search(html)
        if not match:
            raise SystemExit("no csrf_token in the page")
        return match.group(1)

    def book(self, slot_id: int, ticket_type_id: int) -> tuple[int, float]:
        """POST one ticket; (status, milliseconds). The session cookie the answer sets
        (with a flash message for the page it redirects to) is not kept: the next booking
        is made from the logged-in session as it was, like a citizen who read that page."""
        body = urlencode({"csrf_token": self.token, f"qty-{ticket_type_id}": "1"})
        headers = {"Cookie": self.cookie, "Content-Type": "application/x-www-form-urlencoded"}
        started = time.perf_counter()
        self.conn.request("POST", f"/t/{SLUG}/book/{slot_id}", body=body, headers=headers)
        response = self.conn.getresponse()
        response.read()
        return response.status, (time.perf_counter() - started) * 1000

    def get(self, path: str) -> tuple[int, float]:
        started = time.perf_counter()
        self.conn.request("GET", path)
        response = self.conn.getresponse()
        response.read()
        return response.status, (time.perf_counter() - started) * 1000


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def contention(server: Gunicorn, citizens: list[Citizen], slot: tuple[int, int]) -> dict:
    barrier = threading.Barrier(len(citizens))
    results: list[tuple[int, float]] = []
    lock = threading.Lock()

    def buy(citizen: Citizen):
        barrier.wait()
        result = citizen.book(*slot)
        with lock:
            results.append(result)

    threads = [threading.Thread(target=buy, args=(c,)) for c in citizens]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses: dict[int, int] = {}
    for status, _ms in results:
        statuses[status] = statuses.get(status, 0) + 1
    return {"statuses": statuses, "p99_ms": percentile([ms for _s, ms in results], 0.99),
            "errors_5xx": sum(n for s, n in statuses.items() if s >= 500)}


def drive(clients: list[Citizen], action, seconds: float, warmup: float = 1.0) -> dict:
    """Each client repeats ``action(client)`` -> (status, ms) for warmup + seconds; only the
    last ``seconds`` count."""
    begin = time.perf_counter()
    count_from, stop = begin + warmup, begin + warmup + seconds
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def worker(client):
        mine, seen = [], {}
        while True:
            sent = time.perf_counter()
            if sent >= stop:
                break
            status, ms = action(client)
            if sent >= count_from:
                mine.append(ms)
                seen[status] = seen.get(status, 0) + 1
        with lock:
            latencies.extend(mine)
            for status, n in seen.items():
                statuses[status] = statuses.get(status, 0) + n

    threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"rps": len(latencies) / seconds, "p50_ms": percentile(latencies, 0.5),
            "p99_ms": percentile(latencies, 0.99), "statuses": statuses,
            "errors_5xx": sum(n for s, n in statuses.items() if s >= 500)}


def empty_queues(redis_url: str) -> None:
    """The confirmation e-mails the bookings queued (no worker runs here): thrown away."""
    from redis import Redis
    from rq import Queue

    connection = Redis.from_url(redis_url)
    for name in ("default", "emails", "reports"):
        Queue(QUEUE_PREFIX + name, connection=connection).empty()


def fmt_statuses(statuses: dict[int, int]) -> str:
    return ",".join(f"{s}:{n}" for s, n in sorted(statuses.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients for the throughput run")
    parser.add_argument("--buyers", type=int, default=200, help="citizens racing for the contended date")
    parser.add_argument("--seats", type=int, default=50)
    parser.add_argument("--slots", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 2),
                        help="gunicorn sync workers (default: 2 per core)")
    args = parser.parse_args()
    database_url, redis_url = require_services()
    name = database_url.rsplit("/", 1)[-1].split("?")[0] + "_bench_booking"
    url = scratch_database(database_url, name)
    started = time.perf_counter()
    data = load_data(url, max(args.buyers, args.clients), args.slots, args.seats)
    print(f"loaded citizens={len(data['emails'])} dates={args.slots + 1} in {time.perf_counter() - started:.1f}s "
          f"database={name} workers={args.workers}", flush=True)
    env = {"DATABASE_URL": url, "REDIS_URL": redis_url, "MARKETPLACE_ENV": "production",
           "SECRET_KEY": os.environ.get("SECRET_KEY", "benchmark-only-secret"), "QUEUE_PREFIX": QUEUE_PREFIX,
           "SESSION_COOKIE_SECURE": "0", "PAGE_CACHE_SECONDS": "0"}
    failed = False
    try:
        with Gunicorn("benchmarks.booking_wsgi:app", env, workers=args.workers) as server:
            citizens = [Citizen(server.port, email) for email in data["emails"]]
            started = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda c: c.sign_in(data["contended"][0]), citizens))
            print(f"logged in citizens={len(citizens)} in {time.perf_counter() - started:.1f}s", flush=True)

            # (a) contention: everyone at once for the last 50 seats.
            race = contention(server, citizens[:args.buyers], data["contended"])
            confirmed = count_confirmed(url, [data["contended"][0]])
            oversold = max(0, confirmed - args.seats)
            print(f"contention answers={fmt_statuses(race['statuses'])}", flush=True)
            print(f"contention confirmed={confirmed} capacity={args.seats} oversold={oversold} "
                  f"errors_5xx={race['errors_5xx']} p99_ms={race['p99_ms']:.0f}", flush=True)
            failed |= oversold > 0 or race["errors_5xx"] > 0

            # (b) throughput: one seat at a time on random dates with room.
            free = data["free"]
            rng = random.Random(1)
            booking = drive(citizens[:args.clients], lambda c: c.book(*rng.choice(free)), args.seconds)
            confirmed_free = count_confirmed(url, [slot for slot, _type in free])
        print(f"target=booking clients={args.clients} rps={booking['rps']:.0f} p50_ms={booking['p50_ms']:.1f} "
              f"p99_ms={booking['p99_ms']:.1f} answers={fmt_statuses(booking['statuses'])} "
              f"confirmed_in_db={confirmed_free}", flush=True)
        with Gunicorn("benchmarks.hello_app:app", env, workers=args.workers) as server:
            floor = [Citizen(server.port, "") for _ in range(args.clients)]
            hello = drive(floor, lambda c: c.get("/"), args.seconds)
        print(f"target=hello clients={args.clients} rps={hello['rps']:.0f} p50_ms={hello['p50_ms']:.1f} "
              f"p99_ms={hello['p99_ms']:.1f} answers={fmt_statuses(hello['statuses'])}", flush=True)
        booked = booking["statuses"].get(302, 0) / args.seconds
        print(f"booking_rps={booked:.0f}")
        print(f"booking_vs_hello={booked / hello['rps']:.3f}")
        print(f"booking_p99_ms={booking['p99_ms']:.0f} target_p99_ms=250 "
              f"{'met' if booking['p99_ms'] < 250 else 'missed'}")
        failed |= booking["errors_5xx"] > 0 or set(booking["statuses"]) != {302}
    finally:
        empty_queues(redis_url)
    if failed:
        sys.exit("oversold seats, 5xx answers or failed bookings: see above")


if __name__ == "__main__":
    main()
