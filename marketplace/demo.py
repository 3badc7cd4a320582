"""Demo data for `flask seed-demo`: idempotent, realistic, clearly fictional."""
from __future__ import annotations

from sqlalchemy import select
from stdnum import luhn

from marketplace.demo_catalogue import seed_catalogue
from marketplace.demo_delivery import seed_deliveries
from marketplace.demo_funding import seed_funding
from marketplace.extensions import db
from marketplace.models import Cooperative, Membership, Territory, User
from marketplace.models.base import utcnow
from marketplace.services import territories
from tenants.scoping import territory_scope, unscoped

DEMO_PASSWORD = "demo-password"

TERRITORIES = [
    {
        "slug": "cremona", "name": "Welfare Cremona", "color": "#0b5394",
        "welcome": "Servizi di cura nel territorio cremonese",
        "intro": "Nidi, assistenza agli anziani e sostegno alla disabilità offerti dalle "
                 "cooperative sociali del consorzio, in un unico posto.",
        "province": "CR",
        "coops": [
            ("Cooperativa Sociale Il Girasole", "Cremona", "Via Dante 12", "26100"),
            ("Igea Servizi alla Persona", "Crema", "Via Mazzini 4", "26013"),
            ("La Cura Insieme Società Cooperativa Sociale", "Casalmaggiore", "Piazza Garibaldi 7", "26041"),
        ],
    },
    {
        "slug": "milano", "name": "Welfare Milano", "color": "#1f5e8c",
        "welcome": "Il welfare di comunità della città metropolitana",
        "intro": "Prenota servizi per l'infanzia, per gli anziani e per la disabilità, "
                 "e visite guidate all'Abbazia di Chiaravalle.",
        "province": "MI",
        "coops": [
            ("Cooperativa Sociale Chiaravalle Cultura", "Milano", "Via Sant'Arialdo 102", "20139"),
            ("Spazio Bimbi Società Cooperativa Sociale", "Milano", "Viale Monza 140", "20127"),
            ("Domicilio Sereno Cooperativa Sociale", "Sesto San Giovanni", "Via Roma 55", "20099"),
        ],
    },
    {
        "slug": "sondrio", "name": "Welfare Sondrio", "color": "#2e6b30",
        "welcome": "Servizi alla persona in Valtellina",
        "intro": "Le cooperative sociali della provincia di Sondrio per famiglie, anziani "
                 "e persone con disabilità.",
        "province": "SO",
        "coops": [
            ("Cooperativa Sociale Valtellina Solidale", "Sondrio", "Via Trieste 21", "23100"),
            ("Alpi Accoglienza Società Cooperativa Sociale", "Morbegno", "Via Vanoni 8", "23017"),
            ("Il Sentiero Cooperativa Sociale", "Tirano", "Piazza Cavour 3", "23037"),
        ],
    },
]


def _vat(seed: int) -> str:
    body = f"{seed:07d}" + "019"  # 7 progressive digits + office code 019 (Cremona)
    return body + luhn.calc_check_digit(body)


def _user(email: str, name: str, admin: bool = False) -> User:
    user = db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()
    if user is None:
        user = User(email=email, full_name=name, locale="it", email_confirmed_at=utcnow(),
                    is_platform_admin=admin)
        user.set_password(DEMO_PASSWORD)
        db.session.add(user)
        db.session.flush()
    return user


def _membership(territory: Territory, user: User, role: str, cooperative=None) -> None:
    with territory_scope(territory.id):
        exists = db.session.execute(
            select(Membership.id).where(
                Membership.user_id == user.id, Membership.role == role,
                Membership.cooperative_id == (cooperative.id if cooperative else None)
                if cooperative else Membership.cooperative_id.is_(None),
            )
        ).first()
        if not exists:
            db.session.add(Membership(territory_id=territory.id, user_id=user.id, role=role,
                                      cooperative_id=cooperative.id if cooperative else None))


# Bookable dates for services that sell tickets: (title starts with, weekday, hour, seats,
# ticket types as (name, price in cents, quota)). Weekday: Monday 0 ... Sunday 6.
DEMO_DATES = [
    ("Visite guidate all'Abbazia di Chiaravalle", 5, 15, 25,
     [("Intero", 700, None), ("Ridotto (over 65, studenti)", 500, None), ("Bambini sotto i 12 anni", 0, 10)]),
    ("Centro estivo", 0, 8, 20, [("Settimana", 9500, None)]),
    ("Laboratorio", 2, 17, 12, [("Partecipante", 0, None)]),
]


def seed_dates(territory: Territory) -> None:
    """Dates for the next six weeks on a few demo services (skipped if they have dates)."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from marketplace.models import Service, Slot, TicketType

    rome = ZoneInfo("Europe/Rome")
    today = dt.datetime.now(rome).date()
    for prefix, weekday, hour, seats, types in DEMO_DATES:
        services = db.session.execute(
            select(Service).where(Service.title.startswith(prefix), Service.status == Service.PUBLISHED)
            .order_by(Service.id).limit(2)
        ).scalars().all()
        for service in services:
            if db.session.execute(select(Slot.id).where(Slot.service_id == service.id)).first():
                continue
            first = today + dt.timedelta(days=(weekday - today.weekday()) % 7 or 7)
            for week in range(6):
                day = first + dt.timedelta(weeks=week)
                starts = dt.datetime(day.year, day.month, day.day, hour, tzinfo=rome).astimezone(dt.timezone.utc)
                slot = Slot(territory_id=territory.id, service_id=service.id, starts_at=starts,
                            ends_at=starts + dt.timedelta(hours=2), capacity=seats,
                            location_id=service.locations[0].id if service.locations else None)
                db.session.add(slot)
                db.session.flush()
                for position, (name, price, quota) in enumerate(types):
                    db.session.add(TicketType(territory_id=territory.id, slot_id=slot.id, name=name,
                                              price_cents=price, quota=quota, position=position))


# Demo requests of citizen@demo.test: (status, beneficiary, age, preferred times, message,
# days until the date given / reason).
DEMO_REQUESTS = [
    ("requested", "Anna Rossi", 86, "Mattina, dal lunedì al venerdì",
     "Mia madre vive da sola e ha bisogno di aiuto per l'igiene personale e la spesa.", None),
    ("accepted", "Anna Rossi", 86, "Pomeriggio", "Servirebbe compagnia due pomeriggi a settimana.", 9),
    ("declined", "Luca Rossi", 7, "Sabato sera", "",
     "Nel periodo indicato non abbiamo operatori liberi: riprovi dal mese prossimo."),
]


def seed_requests(territory: Territory, citizen: User, staff: User) -> None:
    """Home services (given only at home, without dates) are asked for, not booked; a few
    requests of the demo citizen in different states (skipped if the territory has some)."""
    import datetime as dt

    from marketplace.models import Service, ServiceRequest, Slot

    if db.session.execute(select(ServiceRequest.id).limit(1)).first() is not None:
        return
    home_only = db.session.execute(
        select(Service).where(Service.delivery_modes == "at_home", Service.booking_mode == "slots",
                              ~select(Slot.id).where(Slot.service_id == Service.id).exists())
        .order_by(Service.id)
    ).scalars().all()
    for service in home_only:
        service.booking_mode = "request"
    published = [s for s in home_only if s.status == Service.PUBLISHED and s.areas]
    now = utcnow()
    for index, (status, name, age, times, message, extra) in enumerate(DEMO_REQUESTS):
        if not published:
            break
        service = published[index % len(published)]
        item = ServiceRequest(
            territory_id=territory.id, service_id=service.id, user_id=citizen.id, email=citizen.email,
            phone="+39 333 000 0000", beneficiary_name=name, beneficiary_age=age,
            municipality_id=service.areas[0].municipality_id, preferred_times=times, message=message,
            status=status, consent_at=now - dt.timedelta(days=3 + index),
            created_at=now - dt.timedelta(days=3 + index))
        if status != ServiceRequest.REQUESTED:
            item.decided_by_id, item.decided_at = staff.id, now - dt.timedelta(days=1)
        if status == ServiceRequest.ACCEPTED:
            item.starts_at = (now + dt.timedelta(days=extra)).replace(minute=0, second=0, microsecond=0)
            item.staff_message = "Verrà l'operatrice Sara; la prima visita dura circa un'ora."
        elif status == ServiceRequest.DECLINED:
            item.decline_reason = extra
        db.session.add(item)


def seed_bookings(territory: Territory, citizen: User, staff: User) -> None:
    """A past workshop the demo citizen attended (checked in) and an upcoming booking, so
    "My bookings", the attendee list and check-in have something to show. Skipped if the
    citizen already has bookings in the territory."""
    import datetime as dt

    from marketplace.models import Order, Service, Slot, Ticket, TicketType
    from marketplace.services import booking

    if db.session.execute(select(Order.id).where(Order.user_id == citizen.id)).first():
        return
    now = utcnow()
    upcoming = db.session.execute(
        select(Slot).join(Service, Service.id == Slot.service_id)
        .where(Service.title.startswith("Laboratorio"), Service.status == Service.PUBLISHED,
               Slot.starts_at > now + dt.timedelta(days=2))
        .order_by(Slot.starts_at, Slot.id).limit(1)
    ).scalar_one_or_none()
    if upcoming is None:
        return
    starts = upcoming.starts_at - dt.timedelta(weeks=(upcoming.starts_at - now).days // 7 + 2)
    past = Slot(territory_id=territory.id, service_id=upcoming.service_id, location_id=upcoming.location_id,
                starts_at=starts, ends_at=starts + dt.timedelta(hours=2), capacity=upcoming.capacity)
    db.session.add(past)
    db.session.flush()
    free = TicketType(territory_id=territory.id, slot_id=past.id, name="Partecipante", price_cents=0)
    db.session.add(free)
    db.session.flush()
    order = Order(territory_id=territory.id, user_id=citizen.id, email=citizen.email, status=Order.PAID,
                  total_cents=0, created_at=starts - dt.timedelta(days=5), paid_at=starts - dt.timedelta(days=5))
    order.tickets.append(Ticket(territory_id=territory.id, slot_id=past.id, ticket_type_id=free.id,
                                price_cents=0, participant_name=citizen.full_name,
                                checked_in_at=starts + dt.timedelta(minutes=4), checked_in_by_id=staff.id))
    db.session.add(order)
    quantities = {t.id: 1 for t in upcoming.ticket_types[:1]}
    if quantities:
        held = booking.hold(upcoming.id, quantities, user=citizen, participants=[citizen.full_name])
        if held.total_cents == 0:
            booking.confirm_free(held)
    db.session.flush()


def seed_demo() -> list[tuple[str, str]]:
    """Create the demo once (re-running adds nothing). Returns (login, role) pairs."""
    logins: list[tuple[str, str]] = []
    with unscoped():
        _user("admin@demo.test", "Amministrazione Piattaforma", admin=True)
        logins.append(("admin@demo.test", "platform operator"))
        citizen = _user("citizen@demo.test", "Giulia Rossi")
        seq = 1000
        for spec in TERRITORIES:
            territory = db.session.execute(
                select(Territory).where(Territory.slug == spec["slug"])
            ).scalar_one_or_none()
            if territory is None:
                territory = territories.create_territory(
                    spec["slug"], spec["name"], f"info.{spec['slug']}@demo.test",
                    primary_color=spec["color"], welcome_title=spec["welcome"],
                    intro_text=spec["intro"],
                )
            coordinator = _user(f"coordinator.{spec['slug']}@demo.test",
                                f"Coordinamento {spec['name']}")
            _membership(territory, coordinator, Membership.COORDINATOR)
            staff = _user(f"staff.{spec['slug']}@demo.test", f"Operatrice {spec['name']}")
            desk = _user(f"helpdesk.{spec['slug']}@demo.test", f"Sportello Social Point {spec['name']}")
            _membership(territory, desk, Membership.HELP_DESK)
            coops = []
            with territory_scope(territory.id):
                for index, (name, town, address, cap) in enumerate(spec["coops"]):
                    seq += 1
                    coop = db.session.execute(
                        select(Cooperative).where(Cooperative.name == name)
                    ).scalar_one_or_none()
                    if coop is None:
                        vat = _vat(seq)
                        coop = Cooperative(
                            territory_id=territory.id, name=name, legal_name=name, fiscal_code=vat,
                            vat_number=vat, address=address, postal_code=cap, municipality=town,
                            province=spec["province"], email=f"info{index + 1}.{spec['slug']}@demo.test",
                            phone="+39 0372 000 00%d" % index, status=Cooperative.ACCREDITED,
                            status_changed_at=utcnow(), logo_text=name.split()[-1][:20],
                            description=f"{name} offre servizi alla persona a {town} e dintorni.",
                        )
                        db.session.add(coop)
                        db.session.flush()
                    if index == 0:
                        _membership(territory, staff, Membership.STAFF, coop)
                    coops.append(coop)
                # Municipalities, sub-categories and services (skipped if already there).
                seed_catalogue(territory, coops, staff, coordinator)
                seed_dates(territory)
                seed_requests(territory, citizen, staff)
                seed_bookings(territory, citizen, staff)
                funder_logins = seed_funding(territory, _user)
                seed_deliveries(territory)
            logins.append((coordinator.email, f"coordinator of {spec['slug']}"))
            logins.append((staff.email, f"staff of a cooperative in {spec['slug']}"))
            logins.append((desk.email, f"help desk (Social Point) of {spec['slug']}"))
            logins.extend(funder_logins)
        logins.append(("citizen@demo.test", "citizen"))
    db.session.commit()
    return logins
