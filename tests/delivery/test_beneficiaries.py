"""Cooperative staff keep a register of beneficiaries: profile bands only with consent, each
look logged for the coordinators' audit log; coordinators never see the register."""
from __future__ import annotations

from sqlalchemy import select

from marketplace.models import AuditEntry, Beneficiary
from tenants.scoping import territory_scope
from tests.conftest import login, post


def _world(make):
    alpha = make.territory("alpha")
    coop = make.cooperative(alpha, name="Il Girasole")
    staff = make.staff(coop, locale="en", full_name="Giulia Staff")
    town = make.municipality(alpha, name="Crema")
    return alpha, coop, staff, town


def _beneficiaries(db, territory_id):
    db.session.expire_all()
    with territory_scope(territory_id):
        return {b.external_ref: b for b in db.session.execute(select(Beneficiary)).scalars()}


PROFILE = {"age_band": "75-84", "sex": "f", "disability": "yes", "income_band": "isee_7000_15000"}


def test_profile_bands_are_saved_only_with_consent_and_cleared_without(client, db, make):
    alpha, coop, staff, town = _world(make)
    login(client, staff.email)
    base = f"/t/alpha/cooperative/{coop.id}/beneficiaries"
    assert base in client.get(f"/t/alpha/cooperative/{coop.id}/").get_data(as_text=True)
    new = base + "/new"
    form = client.get(new).get_data(as_text=True)
    assert "ISEE 7.000–15.000 €" in form and 'for="consent"' in form

    no_consent = post(client, new, {"external_ref": "PZ-001", "display_name": "Maria Rossi",
                                    "municipality_id": str(town.id), **PROFILE}, token_from=new,
                      follow_redirects=True)
    assert no_consent.status_code == 200
    assert "The profile was not saved: the person&#39;s consent is not recorded." in no_consent.get_data(as_text=True)
    saved = _beneficiaries(db, alpha.id)["PZ-001"]
    assert saved.display_name == "Maria Rossi" and saved.pseudonym.startswith("B-")
    assert (saved.age_band, saved.sex, saved.municipality_id, saved.disability, saved.income_band,
            saved.consent_at) == (None, None, None, None, None, None)

    edit = f"{base}/{saved.id}"
    with_consent = post(client, edit, {"external_ref": "PZ-001", "display_name": "Maria Rossi", "consent": "y",
                                       "municipality_id": str(town.id), **PROFILE}, token_from=edit)
    assert with_consent.status_code == 302
    saved = _beneficiaries(db, alpha.id)["PZ-001"]
    assert (saved.age_band, saved.sex, saved.municipality_id, saved.disability, saved.income_band) == \
        ("75-84", "f", town.id, True, "isee_7000_15000")
    assert saved.consent_at is not None and saved.consent_by_id == staff.id
    listing = client.get(base).get_data(as_text=True)
    assert saved.pseudonym in listing and "PZ-001" in listing and "Maria Rossi" in listing
    assert "ISEE 7.000–15.000 €" in listing and "75-84" in listing and "Crema" in listing

    withdrawn = post(client, edit, {"external_ref": "PZ-001", "display_name": "Maria Rossi", **PROFILE},
                     token_from=edit)
    assert withdrawn.status_code == 302
    saved = _beneficiaries(db, alpha.id)["PZ-001"]
    assert (saved.age_band, saved.sex, saved.disability, saved.income_band, saved.consent_at,
            saved.consent_by_id) == (None, None, None, None, None, None)
    assert "No consent to the profile" in client.get(base).get_data(as_text=True)


def test_a_reference_is_required_valid_and_unique_in_the_cooperative(client, db, make):
    alpha, coop, staff, _town = _world(make)
    other = make.cooperative(alpha)
    make.beneficiary(coop, "PZ-001")
    make.beneficiary(other, "PZ-002")   # another cooperative may use the same reference
    login(client, staff.email)
    new = f"/t/alpha/cooperative/{coop.id}/beneficiaries/new"
    for ref, message in (("", "reference for this person"), ("PZ 1", "no spaces"),
                         ("PZ-001", "Another beneficiary of the cooperative has this reference")):
        refused = post(client, new, {"external_ref": ref}, token_from=new)
        assert refused.status_code == 422 and message in refused.get_data(as_text=True), ref
    bad_band = post(client, new, {"external_ref": "PZ-009", "consent": "y", "income_band": "rich"}, token_from=new)
    assert bad_band.status_code == 422 and "income band" in bad_band.get_data(as_text=True)
    assert post(client, new, {"external_ref": "PZ-002"}, token_from=new).status_code == 302
    with territory_scope(alpha.id):
        refs = sorted(db.session.execute(select(Beneficiary.external_ref).where(
            Beneficiary.cooperative_id == coop.id)).scalars())
    assert refs == ["PZ-001", "PZ-002"]


def test_every_look_is_audited_and_coordinators_read_the_audit_log(client, db, make):
    alpha, coop, staff, _town = _world(make)
    person = make.beneficiary(coop, "PZ-007", display_name="Luca Bianchi")
    coordinator = make.coordinator(alpha, locale="en")
    login(client, staff.email)
    base = f"/t/alpha/cooperative/{coop.id}/beneficiaries"
    assert client.get(base).status_code == 200
    page = client.get(f"{base}/{person.id}")
    assert page.status_code == 200 and "Luca Bianchi" in page.get_data(as_text=True)
    with territory_scope(alpha.id):
        entries = db.session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars().all()
        assert [(e.action, e.subject, e.user_id, e.cooperative_id) for e in entries] == [
            ("viewed", "beneficiaries", staff.id, coop.id),
            ("viewed", f"beneficiary:{person.pseudonym}", staff.id, coop.id)]

    login(client, coordinator.email)
    dashboard = client.get("/t/alpha/coordinator/").get_data(as_text=True)
    assert "/t/alpha/coordinator/audit" in dashboard
    log = client.get("/t/alpha/coordinator/audit")
    text = log.get_data(as_text=True)
    assert log.status_code == 200 and "Giulia Staff" in text and "Il Girasole" in text
    assert f"Beneficiary {person.pseudonym}" in text and "List of beneficiaries" in text
    assert text.index(f"Beneficiary {person.pseudonym}") < text.index("List of beneficiaries")  # newest first
    assert "Luca Bianchi" not in text and "PZ-007" not in text   # no personal data in the log
    # Coordinators have no page of individual beneficiaries.
    assert client.get(base).status_code == 403
    assert client.get(f"{base}/{person.id}").status_code == 403


def test_the_audit_log_is_paged(client, db, make):
    alpha, coop, staff, _town = _world(make)
    login(client, staff.email)
    for _ in range(51):
        client.get(f"/t/alpha/cooperative/{coop.id}/beneficiaries")
    login(client, make.coordinator(alpha, locale="en").email)
    first = client.get("/t/alpha/coordinator/audit").get_data(as_text=True)
    assert "Page 1 of 2" in first and "page=2" in first
    second = client.get("/t/alpha/coordinator/audit?page=2").get_data(as_text=True)
    assert "Page 2 of 2" in second and second.count("List of beneficiaries") == 1


def test_beneficiary_pages_respect_tenancy_and_roles(client, db, make):
    alpha, coop, staff, _town = _world(make)
    other = make.cooperative(alpha)
    theirs = make.beneficiary(other, "THEIRS")
    beta = make.territory("beta")
    beta_coop = make.cooperative(beta)
    foreign = make.beneficiary(beta_coop, "FOREIGN")
    mine = make.beneficiary(coop, "MINE")

    login(client, make.user(locale="en").email)   # a citizen
    assert client.get(f"/t/alpha/cooperative/{coop.id}/beneficiaries").status_code == 403

    login(client, staff.email)
    assert client.get(f"/t/alpha/cooperative/{other.id}/beneficiaries").status_code == 403
    assert client.get(f"/t/alpha/cooperative/{other.id}/beneficiaries/{theirs.id}").status_code == 403
    assert client.get(f"/t/alpha/cooperative/{coop.id}/beneficiaries/{theirs.id}").status_code == 404
    assert client.get(f"/t/alpha/cooperative/{coop.id}/beneficiaries/{foreign.id}").status_code == 404
    assert client.get(f"/t/alpha/cooperative/{beta_coop.id}/beneficiaries").status_code == 404
    url = f"/t/alpha/cooperative/{coop.id}/beneficiaries/{foreign.id}"
    assert post(client, url, {"external_ref": "HIJACK"},
                token_from=f"/t/alpha/cooperative/{coop.id}/beneficiaries/{mine.id}").status_code == 404
    assert set(_beneficiaries(db, beta.id)) == {"FOREIGN"}
