"""Demo funding for `flask seed-demo`: in each territory a municipality with a voucher
programme (applications in every status, vouchers issued, printed codes for the help desk),
an employer with welfare credits (some for citizen@demo.test), and their officers' logins. The
municipality delegates "read aggregates" to the territory's coordinators.

Run inside the territory's scope; skipped when the territory already has funders. Money
goes through the ledger (credit loads) like everything else; vouchers are issued within
the programme's budget.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from marketplace import storage
from marketplace.extensions import db
from marketplace.models import (
    Application, ApplicationDocument, Employee, Funder, FunderDelegation, LedgerEntry, Membership, Municipality,
    Programme, Territory, User, Voucher, WelfareCredit,
)
from marketplace.models.base import utcnow
from payments import ledger

MUNICIPALITIES = {"cremona": "Comune di Cremona", "milano": "Comune di Milano", "sondrio": "Comune di Sondrio"}
EMPLOYERS = {"cremona": ("Latterie Padane S.p.A.", 7101), "milano": ("Navigli Software S.r.l.", 7102),
             "sondrio": ("Funivie Valtellina S.p.A.", 7103)}


def _vat(seed: int) -> str:
    """A well-formed, fictional partita IVA (7 digits, office code, Luhn check digit)."""
    from stdnum import luhn

    body = f"{seed:07d}" + "019"
    return body + luhn.calc_check_digit(body)

# (status, applicant e-mail, beneficiary, age of the beneficiary, ISEE in euros, officer's message)
APPLICATIONS = [
    ("approved", "citizen@demo.test", "Luca Rossi", 7, 14_500, ""),
    ("submitted", "famiglia.bianchi@demo.test", "Sofia Bianchi", 5, 9_800, ""),
    ("submitted", "famiglia.colombo@demo.test", "Marco Colombo", 9, 21_300, ""),
    ("needs_info", "famiglia.ferrari@demo.test", "Giulia Ferrari", 4, 12_000,
     "Manca l'attestazione ISEE in corso di validità: può caricarla dalla pagina della domanda?"),
    ("rejected", "famiglia.esposito@demo.test", "Andrea Esposito", 13, 31_000,
     "Il bambino supera l'età prevista dal bando (3-11 anni)."),
    ("withdrawn", "famiglia.ricci@demo.test", "Chiara Ricci", 6, 15_000, ""),
    ("draft", "famiglia.romano@demo.test", "Matteo Romano", 8, None, ""),
    ("approved", "famiglia.gallo@demo.test", "Elena Gallo", 10, 8_700, ""),
]
EMPLOYEES = [("citizen@demo.test", "Giulia Rossi", 30_000), ("dipendente.uno@demo.test", "Paolo Verdi", 25_000),
             ("dipendente.due@demo.test", "Sara Neri", 25_000), ("dipendente.tre@demo.test", "Luigi Conti", 0)]


def demo_pdf(title: str) -> bytes:
    """A small, valid one-page PDF standing in for an uploaded certificate."""
    text = title.replace("\\", "").replace("(", "").replace(")", "")
    stream = f"BT /F1 14 Tf 72 760 Td ({text}) Tj ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _funder_membership(territory: Territory, user: User, funder: Funder) -> None:
    exists = db.session.execute(select(Membership.id).where(
        Membership.user_id == user.id, Membership.role == Membership.FUNDER, Membership.funder_id == funder.id)).first()
    if not exists:
        db.session.add(Membership(territory_id=territory.id, user_id=user.id, role=Membership.FUNDER,
                                  funder_id=funder.id))


def seed_funding(territory: Territory, make_user) -> list[tuple[str, str]]:
    """Funders, a programme with applications and vouchers, an employer with credits.
    ``make_user(email, name)`` finds or creates a demo account. Returns the new logins."""
    slug = territory.slug
    officer = make_user(f"funder.{slug}@demo.test", f"Ufficio Servizi Sociali – {MUNICIPALITIES.get(slug, slug)}")
    hr = make_user(f"hr.{slug}@demo.test", f"Risorse Umane – {EMPLOYERS.get(slug, ('Azienda',))[0]}")
    logins = [(officer.email, f"funder: municipality officer in {slug}"),
              (hr.email, f"funder: employer's HR in {slug}")]
    if db.session.execute(select(Funder.id).limit(1)).first() is not None:
        return logins
    today = dt.date.today()
    now = utcnow()
    municipality = Funder(territory_id=territory.id, kind=Funder.MUNICIPALITY,
                          name=MUNICIPALITIES.get(slug, f"Comune di {territory.name}"),
                          email=f"servizisociali.{slug}@demo.test")
    employer_name, seed = EMPLOYERS.get(slug, ("Azienda Demo S.p.A.", 7100))
    employer = Funder(territory_id=territory.id, kind=Funder.EMPLOYER, name=employer_name, vat_number=_vat(seed),
                      email=f"hr.{slug}@demo.test")
    db.session.add_all([municipality, employer])
    db.session.flush()
    _funder_membership(territory, officer, municipality)
    _funder_membership(territory, hr, employer)
    # The municipality lets the territory's coordinators see its aggregates (dashboard,
    # statements); its applications stay with its officers. The employer delegates nothing.
    db.session.add(FunderDelegation(territory_id=territory.id, funder_id=municipality.id,
                                    level=FunderDelegation.READ, granted_by_id=officer.id, granted_at=now))
    towns = db.session.execute(select(Municipality).order_by(Municipality.id).limit(8)).scalars().all()
    programme = Programme(
        territory_id=territory.id, funder_id=municipality.id, status=Programme.OPEN,
        title="Buoni servizio per l'infanzia e l'estate 2026",
        description="Il Comune contribuisce alle spese per nidi, centri estivi e attività educative dei "
                    "bambini dai 3 agli 11 anni delle famiglie residenti con ISEE fino a 25.000 euro.",
        budget_cents=2_000_000, starts_on=today - dt.timedelta(days=60), ends_on=today + dt.timedelta(days=300),
        applications_open_on=today - dt.timedelta(days=60), applications_close_on=today + dt.timedelta(days=90),
        eligible_verticals=["childcare"], value_kind=Programme.FIXED, value_cents=15_000,
        municipality_ids=[m.id for m in towns], min_age=3, max_age=11, max_isee_cents=2_500_000,
        declarations=["Dichiaro che il bambino è residente nel Comune insieme a chi presenta la domanda.",
                      "Dichiaro di non ricevere altri contributi per lo stesso servizio."],
        documents=["Attestazione ISEE"], created_by_id=officer.id, created_at=now - dt.timedelta(days=60))
    elderly = Programme(
        territory_id=territory.id, funder_id=municipality.id, status=Programme.OPEN,
        title="Voucher assistenza domiciliare anziani",
        description="Ore di assistenza a domicilio per persone sopra i 75 anni che vivono sole.",
        budget_cents=1_200_000, starts_on=today - dt.timedelta(days=10), ends_on=today + dt.timedelta(days=355),
        applications_open_on=today - dt.timedelta(days=10), applications_close_on=today + dt.timedelta(days=60),
        eligible_verticals=["elderly"], value_kind=Programme.HOURS, hours=20, value_cents=2_200,
        min_age=75, declarations=["Dichiaro che la persona assistita vive da sola."],
        documents=[], created_by_id=officer.id, created_at=now - dt.timedelta(days=10))
    db.session.add_all([programme, elderly])
    db.session.flush()
    for index, (status, email, beneficiary, age, isee, message) in enumerate(APPLICATIONS):
        applicant = make_user(email, "Giulia Rossi" if email == "citizen@demo.test"
                              else f"Famiglia {email.split('.')[1].split('@')[0].title()}")
        created = now - dt.timedelta(days=40 - index * 4)
        application = Application(
            territory_id=territory.id, programme_id=programme.id, user_id=applicant.id,
            beneficiary_name=beneficiary, beneficiary_birth_date=today.replace(year=today.year - age) - dt.timedelta(days=30),
            municipality_id=towns[index % len(towns)].id if towns else None,
            isee_cents=isee * 100 if isee is not None else None,
            declarations_accepted=[0, 1] if status != "draft" else [], status=status, officer_message=message,
            created_at=created, updated_at=created,
            submitted_at=created + dt.timedelta(hours=2) if status != "draft" else None)
        if status in ("approved", "rejected", "needs_info"):
            application.decided_by_id, application.decided_at = officer.id, created + dt.timedelta(days=3)
        db.session.add(application)
        db.session.flush()
        if status not in ("draft", "needs_info"):
            stored = storage.save(territory.id, demo_pdf(f"Attestazione ISEE - {beneficiary}"), "pdf")
            db.session.add(ApplicationDocument(
                territory_id=territory.id, application_id=application.id, label="Attestazione ISEE",
                filename=f"isee-{beneficiary.split()[0].lower()}.pdf", content_type="application/pdf",
                size_bytes=stored.size, storage_key=stored.key, sha256=stored.sha256))
        if status == "approved":
            db.session.add(Voucher(
                territory_id=territory.id, programme_id=programme.id, funder_id=municipality.id,
                application_id=application.id, holder_id=applicant.id, beneficiary_name=beneficiary,
                amount_cents=programme.voucher_value_cents, balance_cents=programme.voucher_value_cents,
                valid_from=programme.starts_on, valid_until=programme.ends_on, channel=Voucher.APPLICATION,
                issued_by_id=officer.id, issued_at=application.decided_at))
    # Printed codes for people who are not online, handed out at the help desk.
    for _ in range(5):
        db.session.add(Voucher(
            territory_id=territory.id, programme_id=programme.id, funder_id=municipality.id,
            beneficiary_name="", amount_cents=programme.voucher_value_cents,
            balance_cents=programme.voucher_value_cents, valid_from=programme.starts_on,
            valid_until=programme.ends_on, channel=Voucher.PRINTED, issued_by_id=officer.id))
    # The employer's staff and their credits, loaded through the ledger.
    for email, name, cents in EMPLOYEES:
        user = make_user(email, name)
        employee = Employee(territory_id=territory.id, funder_id=employer.id, user_id=user.id, email=email,
                            full_name=name, status=Employee.ACTIVE, joined_at=now - dt.timedelta(days=50))
        db.session.add(employee)
        db.session.flush()
        if cents:
            credit = WelfareCredit(territory_id=territory.id, funder_id=employer.id, employee_id=employee.id,
                                   amount_cents=cents, balance_cents=0, expires_on=today + dt.timedelta(days=180),
                                   note="Premio di risultato 2026 convertito in welfare", loaded_by_id=hr.id)
            db.session.add(credit)
            db.session.flush()
            ledger.record_credit(credit, LedgerEntry.CREDIT_LOAD, cents, f"demo:load:{credit.id}")
    db.session.add(Employee(territory_id=territory.id, funder_id=employer.id, email=f"neoassunto.{slug}@demo.test",
                            full_name="Neoassunto da invitare", status=Employee.INVITED))
    db.session.flush()
    _seed_spending(territory, make_user)
    return logins


def _seed_spending(territory: Territory, make_user) -> None:
    """Money at work, so dashboards and statements have something true to show: a family
    books a summer-camp week with its voucher through the checkout's own functions, and an
    employee's week that already took place was paid by welfare credit and the desk."""
    from marketplace.models import Order, Payment, Service, Slot, Ticket, TicketType
    from marketplace.services import booking, funding

    now = utcnow()
    camp = db.session.execute(
        select(Slot).join(Service, Service.id == Slot.service_id)
        .where(Service.title.startswith("Centro estivo"), Service.status == Service.PUBLISHED,
               Service.accepts_voucher.is_(True), Slot.starts_at > now)
        .order_by(Slot.starts_at, Slot.id).limit(1)
    ).scalar_one_or_none()
    if camp is None or not camp.ticket_types:
        return
    week = camp.ticket_types[0]
    family = make_user("famiglia.gallo@demo.test", "Famiglia Gallo")
    voucher = db.session.execute(select(Voucher).where(Voucher.holder_id == family.id)).scalars().first()
    if voucher is not None:
        order = booking.hold(camp.id, {week.id: 1}, user=family, participants=["Elena Gallo"])
        funding.reserve(order, family, [voucher.id], use_credit=False, notify=False)
    # A week that already took place, paid by an employee's welfare credit and the rest at
    # the desk: it shows in the employer's dashboard and the cooperative's statement.
    employee_user = make_user("dipendente.uno@demo.test", "Paolo Verdi")
    credit = db.session.execute(select(WelfareCredit).join(Employee).where(
        Employee.user_id == employee_user.id)).scalars().first()
    if credit is None or not camp.service.accepts_welfare_credit:
        return
    starts = camp.starts_at - dt.timedelta(weeks=(camp.starts_at - now).days // 7 + 3)
    past = Slot(territory_id=territory.id, service_id=camp.service_id, location_id=camp.location_id,
                starts_at=starts, ends_at=starts + dt.timedelta(hours=8), capacity=camp.capacity)
    db.session.add(past)
    db.session.flush()
    past_type = TicketType(territory_id=territory.id, slot_id=past.id, name=week.name, price_cents=week.price_cents)
    db.session.add(past_type)
    db.session.flush()
    order = Order(territory_id=territory.id, user_id=employee_user.id, email=employee_user.email,
                  status=Order.PAID, total_cents=past_type.price_cents, paid_at=starts - dt.timedelta(days=10),
                  created_at=starts - dt.timedelta(days=10))
    order.tickets.append(Ticket(territory_id=territory.id, slot_id=past.id, ticket_type_id=past_type.id,
                                price_cents=past_type.price_cents, participant_name="Giorgio Verdi",
                                checked_in_at=starts + dt.timedelta(minutes=10)))
    db.session.add(order)
    db.session.flush()
    by_credit = min(credit.balance_cents, order.total_cents)
    for provider, amount in (("welfare_credit", by_credit), ("desk", order.total_cents - by_credit)):
        if amount <= 0:
            continue
        payment = Payment(territory_id=territory.id, order_id=order.id, provider=provider, amount_cents=amount,
                          status=Payment.PENDING, credit_id=credit.id if provider == "welfare_credit" else None,
                          provider_ref=f"demo-{provider}-{order.code}")
        db.session.add(payment)
        db.session.flush()
        ledger.record(payment, LedgerEntry.CHARGE, amount, f"demo:{provider}:{order.code}",
                      provider_ref=payment.provider_ref)
