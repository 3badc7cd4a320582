"""`flask seed-demo` gives each territory a municipal programme with applications in every
status and vouchers, an employer with credits for citizen@demo.test, and funder logins."""
from __future__ import annotations

from sqlalchemy import func, select

from marketplace.models import (
    Application, ApplicationDocument, Employee, Funder, LedgerEntry, Membership, Programme, Territory, User, Voucher,
    WelfareCredit,
)
from tenants.scoping import territory_scope, unscoped
from tests.conftest import login


def test_seed_demo_adds_funders_programmes_vouchers_and_credits(app, db, client):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    for slug in ("cremona", "milano", "sondrio"):
        assert f"funder.{slug}@demo.test" in result.output and f"hr.{slug}@demo.test" in result.output

    def counts():
        with unscoped():
            return tuple(db.session.execute(select(func.count(model.id))).scalar_one()
                         for model in (Funder, Programme, Application, Voucher, Employee, WelfareCredit, LedgerEntry))

    before = counts()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert counts() == before  # idempotent

    citizen = db.session.execute(select(User).where(User.email == "citizen@demo.test")).scalar_one()
    for slug in ("cremona", "milano", "sondrio"):
        territory = db.session.execute(select(Territory).where(Territory.slug == slug)).scalar_one()
        with territory_scope(territory.id):
            statuses = set(db.session.execute(select(Application.status)).scalars())
            assert statuses == set(Application.STATUSES)
            for programme in db.session.execute(select(Programme)).scalars():
                committed = db.session.execute(select(func.coalesce(func.sum(Voucher.amount_cents), 0)).where(
                    Voucher.programme_id == programme.id, Voucher.status == Voucher.ACTIVE)).scalar_one()
                assert committed <= programme.budget_cents
            mine = db.session.execute(select(Voucher).where(Voucher.holder_id == citizen.id)).scalars().all()
            assert mine and all(v.balance_cents == v.amount_cents > 0 for v in mine)
            assert db.session.execute(select(func.count(Voucher.id)).where(
                Voucher.channel == Voucher.PRINTED, Voucher.holder_id.is_(None))).scalar_one() >= 5
            credits = db.session.execute(select(WelfareCredit).join(Employee).where(
                Employee.user_id == citizen.id)).scalars().all()
            assert credits and all(c.balance_cents == c.amount_cents for c in credits)
            loads = db.session.execute(select(func.sum(LedgerEntry.amount_cents)).where(
                LedgerEntry.kind == LedgerEntry.CREDIT_LOAD)).scalar_one()
            assert loads == db.session.execute(select(func.sum(WelfareCredit.amount_cents))).scalar_one()
            documents = db.session.execute(select(ApplicationDocument)).scalars().all()
            assert documents
            from marketplace import storage

            assert storage.read(documents[0].storage_key).startswith(b"%PDF-")
            roles = {(m.role, m.funder.kind if m.funder else None)
                     for m in db.session.execute(select(Membership).where(Membership.role == Membership.FUNDER)).scalars()}
            assert roles == {("funder", "municipality"), ("funder", "employer")}

    login(client, "funder.milano@demo.test", "demo-password")
    page = client.get("/t/milano/funders/").get_data(as_text=True)
    assert "Comune di Milano" in page and "Navigli Software" not in page  # only their own funder

    # The demo coordinator sees every funder in the list, the municipality's dashboard (it
    # delegated "read aggregates"), not its review queue, and nothing of the employer's.
    coordinator = client.application.test_client()
    login(coordinator, "coordinator.milano@demo.test", "demo-password")
    page = coordinator.get("/t/milano/funders/").get_data(as_text=True)
    assert "Comune di Milano" in page and "Navigli Software" in page
    milano = db.session.execute(select(Territory).where(Territory.slug == "milano")).scalar_one()
    with territory_scope(milano.id):
        comune = db.session.execute(select(Funder).where(Funder.kind == "municipality")).scalar_one()
        employer = db.session.execute(select(Funder).where(Funder.kind == "employer")).scalar_one()
        programme = db.session.execute(select(Programme).where(Programme.funder_id == comune.id)).scalars().first()
    assert coordinator.get(f"/t/milano/funders/{comune.id}/dashboard").status_code == 200
    assert coordinator.get(f"/t/milano/funders/{comune.id}/programmes/{programme.id}/applications").status_code == 403
    assert coordinator.get(f"/t/milano/funders/{employer.id}/dashboard").status_code == 403
