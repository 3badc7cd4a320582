"""The automatic territory scope: fails closed, filters every way of reading tenant rows."""
import pytest
from sqlalchemy import select, text, update

from marketplace.models import Cooperative, Membership, Territory
from tenants.scoping import TenantScopeError, territory_scope, unscoped


@pytest.fixture
def two(make):
    a, b = make.territory("alpha"), make.territory("beta")
    coop_a = make.cooperative(a, name="Coop Alpha")
    coop_b = make.cooperative(b, name="Coop Beta")
    return a, b, coop_a, coop_b


def test_query_on_tenant_data_without_a_territory_raises(db, two):
    with pytest.raises(TenantScopeError):
        db.session.execute(select(Cooperative)).all()


def test_session_get_without_a_territory_raises(db, two):
    _, _, coop_a, _ = two
    with pytest.raises(TenantScopeError):
        db.session.get(Cooperative, coop_a.id)


def test_platform_models_need_no_scope(db, two):
    assert {t.slug for t in db.session.execute(select(Territory)).scalars()} == {"alpha", "beta"}


def test_scoped_select_sees_only_its_territory(db, two):
    a, b, _, _ = two
    with territory_scope(a.id):
        names = db.session.execute(select(Cooperative.name)).scalars().all()
    assert names == ["Coop Alpha"]
    with territory_scope(b.id):
        names = db.session.execute(select(Cooperative.name)).scalars().all()
    assert names == ["Coop Beta"]


def test_session_get_of_another_territory_is_none_even_from_identity_map(db, two):
    a, _, _, coop_b = two
    with unscoped():
        loaded = db.session.get(Cooperative, coop_b.id)  # now in the identity map
        assert loaded is not None
    with territory_scope(a.id):
        assert db.session.get(Cooperative, coop_b.id) is None


def test_joined_tenant_entities_are_filtered(db, make, two):
    a, b, coop_a, coop_b = two
    user = make.user()
    make.membership(a, user, Membership.STAFF, coop_a)
    make.membership(b, user, Membership.STAFF, coop_b)
    with territory_scope(a.id):
        rows = db.session.execute(
            select(Cooperative.name).join(Membership, Membership.cooperative_id == Cooperative.id)
        ).scalars().all()
    assert rows == ["Coop Alpha"]


def test_relationship_loads_are_filtered(db, make, two):
    a, b, coop_a, _ = two
    user = make.user()
    make.membership(a, user, Membership.STAFF, coop_a)
    with territory_scope(a.id):
        coop = db.session.get(Cooperative, coop_a.id)
        assert [m.user_id for m in coop.memberships] == [user.id]


def test_bulk_update_touches_only_its_territory(db, two):
    a, _, _, coop_b = two
    with territory_scope(a.id):
        db.session.execute(update(Cooperative).values(phone="000"))
        db.session.commit()
    with unscoped():
        phones = dict(db.session.execute(select(Cooperative.name, Cooperative.phone)).all())
    assert phones == {"Coop Alpha": "000", "Coop Beta": ""}


def test_core_and_text_sql_on_tenant_tables_raise_unless_unscoped(db, two):
    a, _, _, _ = two
    table = Cooperative.__table__
    with territory_scope(a.id):
        with pytest.raises(TenantScopeError):
            db.session.execute(select(table.c.name)).all()
        with pytest.raises(TenantScopeError):
            db.session.execute(text("SELECT name FROM cooperative")).all()
    with unscoped():
        assert len(db.session.execute(text("SELECT name FROM cooperative")).all()) == 2


def test_new_rows_belong_to_the_territory_in_scope(db, two):
    a, _, _, _ = two
    with territory_scope(a.id):
        coop = Cooperative(name="Nuova")
        db.session.add(coop)
        db.session.commit()
        assert coop.territory_id == a.id


def test_scope_is_restored_after_the_block(db, two):
    a, b, _, _ = two
    with territory_scope(a.id):
        with territory_scope(b.id):
            pass
        assert [c.name for c in db.session.execute(select(Cooperative)).scalars()] == ["Coop Alpha"]
    with pytest.raises(TenantScopeError):
        db.session.execute(select(Cooperative)).all()
