"""Citizens find open voucher programmes and apply online: draft, save, upload, submit,
follow the status, withdraw, answer a request for more information. Everything through
HTTP as the citizen does it; an officer's decisions are set directly (their pages are
tested elsewhere)."""
from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from sqlalchemy import func, select, update

from marketplace.models import Application, ApplicationDocument, OutboxMessage, Programme
from marketplace.services import applications as applications_service
from tenants.scoping import territory_scope
from tests.conftest import login, post

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _years_ago(years: int, days: int = 0) -> dt.date:
    today = dt.date.today()
    try:
        day = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        day = today.replace(year=today.year - years, day=28)
    return day - dt.timedelta(days=days)


@pytest.fixture
def world(make):
    territory = make.territory(default_language="en")
    inside = make.municipality(territory, name="Casalmaggiore")
    outside = make.municipality(territory, name="Crema")
    funder = make.funder(territory, name="Comune di Casalmaggiore")
    programme = make.programme(
        funder, title="Buoni nido 2026", description="Vouchers for the nursery of children up to three.",
        value_kind=Programme.FIXED, value_cents=15_000, municipality_ids=[inside.id], min_age=0, max_age=3,
        max_isee_cents=2_500_000, declarations=["I live with the child.", "What I declare is true."],
        documents=["ISEE certificate"])
    citizen = make.user(email="giulia@example.org", full_name="Giulia Rossi", locale="en")
    return dict(territory=territory, inside=inside, outside=outside, funder=funder, programme=programme,
                citizen=citizen)


def _url(world, path: str) -> str:
    return f"/t/{world['territory'].slug}{path}"


def _apply(client, world, programme=None) -> str:
    programme = programme or world["programme"]
    page = _url(world, f"/programmes/{programme.id}")
    response = post(client, _url(world, f"/programmes/{programme.id}/apply"), {}, token_from=page)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    return re.search(r"/applications/([A-Z0-9]+)$", response.headers["Location"]).group(1)


def _answers(world, **over) -> dict:
    data = {"beneficiary_name": "Luca Rossi", "beneficiary_birth_date": _years_ago(2).strftime("%d/%m/%Y"),
            "municipality_id": str(world["inside"].id), "isee": "18.000,50", "declarations": ["0", "1"],
            "note": "He starts in September.", "action": "submit"}
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def _send(client, world, code, **over):
    url = _url(world, f"/applications/{code}")
    return post(client, url, _answers(world, **over), token_from=url)


def _upload(client, world, code, data=PDF, filename="isee.pdf", index="0"):
    url = _url(world, f"/applications/{code}")
    return post(client, _url(world, f"/applications/{code}/documents"),
                {"document": index, "file": (io.BytesIO(data), filename)}, token_from=url,
                content_type="multipart/form-data")


def _application(db, world, code) -> Application:
    with territory_scope(world["territory"].id):
        db.session.expire_all()
        return db.session.execute(select(Application).where(Application.code == code)).scalar_one()


def _set(db, world, code, **values):
    with territory_scope(world["territory"].id):
        db.session.execute(update(Application).where(Application.code == code).values(**values))
        db.session.commit()


def _mails(db, to):
    db.session.expire_all()
    return db.session.execute(select(OutboxMessage).where(OutboxMessage.to_email == to)
                              .order_by(OutboxMessage.id)).scalars().all()


def _count(db, world) -> int:
    with territory_scope(world["territory"].id):
        return db.session.execute(select(func.count(Application.id))).scalar_one()


# ---------------------------------------------------------------------------- finding programmes

def test_open_programmes_are_listed_with_their_value_in_plain_words(app, client, db, make, world):
    t, funder = world["territory"], world["funder"]
    today = dt.date.today()
    make.programme(funder, title="Centri estivi", value_kind=Programme.PERCENT, percent=50, cap_cents=30_000,
                   applications_close_on=today)
    make.programme(funder, title="Assistenza anziani", value_kind=Programme.HOURS, hours=10, value_cents=2_000)
    make.programme(funder, title="Closed call", status=Programme.CLOSED)
    make.programme(funder, title="Draft call", status=Programme.DRAFT)
    make.programme(funder, title="Window over", applications_open_on=today - dt.timedelta(days=20),
                   applications_close_on=today - dt.timedelta(days=1))
    make.programme(funder, title="Not yet", applications_open_on=today + dt.timedelta(days=1))
    other = make.territory(default_language="en")
    make.programme(make.funder(other), title="Elsewhere")

    home = client.get(_url(world, "/")).get_data(as_text=True)
    assert f'href="/t/{t.slug}/programmes"' in home

    response = client.get(_url(world, "/programmes"))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for title in ("Buoni nido 2026", "Centri estivi", "Assistenza anziani"):
        assert title in page
    for title in ("Closed call", "Draft call", "Window over", "Not yet", "Elsewhere"):
        assert title not in page
    assert "Comune di Casalmaggiore" in page and "Vouchers for the nursery" in page
    assert "a voucher of €150.00" in page
    assert "pays 50% of the price, up to €300.00" in page
    assert "10 hours of service, worth €200.00" in page
    assert "Apply by" in page
    # The one closing today comes first.
    assert page.index("Centri estivi") < page.index("Buoni nido 2026")


def test_programme_page_says_who_can_apply_and_what_it_pays_for(app, client, make, world):
    page = client.get(_url(world, f"/programmes/{world['programme'].id}")).get_data(as_text=True)
    assert "Residents of: Casalmaggiore." in page and "Crema" not in page.split("Who can apply")[1]
    assert "The beneficiary must be aged 0 to 3 years." in page
    assert "ISEE up to €25,000.00" in page
    assert "I live with the child." in page and "What I declare is true." in page
    assert "ISEE certificate" in page
    assert "Any service that accepts vouchers." in page
    assert "Log in to apply" in page  # anonymous: no apply button

    coop = make.cooperative(world["territory"], name="Cooperativa Il Girasole")
    service = make.service(coop, title="Nido Arcobaleno", status="published")
    targeted = make.programme(world["funder"], title="Mirato", eligible_verticals=["childcare"],
                              eligible_cooperative_ids=[coop.id], eligible_service_ids=[service.id], min_age=65)
    page = client.get(_url(world, f"/programmes/{targeted.id}")).get_data(as_text=True)
    assert "Services in: Childcare" in page and "Cooperativa Il Girasole" in page and "Nido Arcobaleno" in page
    assert "aged 65 years or more" in page
    assert "There are no conditions" not in page


# ---------------------------------------------------------------------------- the whole flow

def test_citizen_applies_saves_uploads_and_submits(app, client, db, world):
    login(client, world["citizen"].email)
    page = client.get(_url(world, f"/programmes/{world['programme'].id}")).get_data(as_text=True)
    assert ">Apply</button>" in page

    code = _apply(client, world)
    draft = client.get(_url(world, f"/applications/{code}"))
    assert draft.status_code == 200
    html = draft.get_data(as_text=True)
    assert "Draft: not sent yet" in html and 'value="Giulia Rossi"' in html  # the applicant by default
    assert '<label class="form-label fw-semibold" for="file-0">File for “ISEE certificate”</label>' in html
    assert 'enctype="multipart/form-data"' in html
    assert '<label class="form-label fw-semibold" for="isee">ISEE in euros</label>' in html

    # Save as draft: incomplete is fine.
    response = _send(client, world, code, action="save", declarations=["1"], isee="", beneficiary_birth_date="")
    assert response.status_code == 302
    saved = _application(db, world, code)
    assert saved.status == Application.DRAFT and saved.beneficiary_name == "Luca Rossi"
    assert saved.declarations_accepted == [1] and saved.isee_cents is None and saved.submitted_at is None
    assert _mails(db, world["citizen"].email) == []

    assert _upload(client, world, code).status_code == 302
    response = _send(client, world, code)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    sent = _application(db, world, code)
    assert sent.status == Application.SUBMITTED and sent.submitted_at is not None
    assert sent.isee_cents == 1_800_050 and sent.declarations_accepted == [0, 1]
    assert sent.beneficiary_birth_date == _years_ago(2) and sent.municipality_id == world["inside"].id

    mails = _mails(db, world["citizen"].email)
    assert len(mails) == 1 and code in mails[0].body_text and "Buoni nido 2026" in mails[0].subject
    assert f"/applications/{code}" in mails[0].body_text

    status = client.get(_url(world, f"/applications/{code}")).get_data(as_text=True)
    assert "Sent: being reviewed" in status and "isee.pdf" in status and 'name="action"' not in status
    assert "Withdraw the application" in status
    mine = client.get(_url(world, "/applications")).get_data(as_text=True)
    assert code in mine and "Buoni nido 2026" in mine and "Luca Rossi" in mine and "Sent: being reviewed" in mine
    # Sending again is refused: it is no longer editable.
    again = _send(client, world, code)
    assert again.status_code == 302 and _application(db, world, code).status == Application.SUBMITTED
    assert len(_mails(db, world["citizen"].email)) == 1


@pytest.mark.parametrize("over,message", [
    ({"municipality_id": "outside"}, "This programme is for residents of Casalmaggiore; Crema is not one of them."),
    ({"beneficiary_birth_date": _years_ago(5).strftime("%d/%m/%Y")},
     "The beneficiary must be aged 0 to 3 years. Today the beneficiary is 5."),
    ({"isee": "25.000,01"}, "The ISEE must be at most €25,000.00 to apply; the one entered is €25,000.01."),
    ({"declarations": ["0"]}, "Tick the declaration “What I declare is true.”."),
    ({"upload": False}, "Upload the document “ISEE certificate”."),
    ({"municipality_id": ""}, "Choose the municipality where the beneficiary lives."),
    ({"beneficiary_birth_date": ""}, "Enter the beneficiary&#39;s birth date."),
    ({"isee": ""}, "Enter the ISEE in euros."),
    ({"beneficiary_name": "  "}, "Enter the name of the person the voucher is for."),
])
def test_ineligible_or_incomplete_applications_are_refused_with_the_reason(app, client, db, world, over, message):
    login(client, world["citizen"].email)
    code = _apply(client, world)
    if over.pop("upload", True):
        assert _upload(client, world, code).status_code == 302
    if over.get("municipality_id") == "outside":
        over["municipality_id"] = str(world["outside"].id)
    response = _send(client, world, code, **over)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page and 'role="alert"' in page
    assert "The application is not sent. Your answers are saved in the draft." in page
    application = _application(db, world, code)
    assert application.status == Application.DRAFT and application.submitted_at is None
    assert _mails(db, world["citizen"].email) == []
    # The answers are kept (as "Save as draft" does), so nothing typed is lost.
    answers = _answers(world, **over)
    assert application.beneficiary_name == answers["beneficiary_name"].strip()
    assert application.note == "He starts in September."
    reopened = client.get(_url(world, f"/applications/{code}")).get_data(as_text=True)
    assert "He starts in September." in reopened and "Draft: not sent yet" in reopened


def test_every_reason_is_given_at_once(app, client, db, world):
    login(client, world["citizen"].email)
    code = _apply(client, world)
    response = _send(client, world, code, municipality_id=str(world["outside"].id), isee="30000",
                     declarations=None)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    for text in ("Crema is not one of them", "€30,000.00", "I live with the child.", "What I declare is true.",
                 "Upload the document “ISEE certificate”."):
        assert text in page


@pytest.mark.parametrize("over,message", [
    ({"isee": "about 12k"}, "Enter the ISEE in euros, like 12.500,00."),
    ({"beneficiary_birth_date": "31/02/2024"}, "Enter the birth date, like 25/12/2015."),
    ({"beneficiary_birth_date": (dt.date.today() + dt.timedelta(days=3)).strftime("%d/%m/%Y")},
     "The birth date cannot be in the future."),
    ({"municipality_id": "999999"}, "Choose a municipality from the list."),
    ({"beneficiary_name": "x" * 121}, "The name can be at most 120 characters long."),
    ({"declarations": ["7"]}, "Tick only the declarations listed."),
])
def test_malformed_values_are_refused_even_when_saving_a_draft(app, client, db, world, over, message):
    login(client, world["citizen"].email)
    code = _apply(client, world)
    before = _application(db, world, code).updated_at
    response = _send(client, world, code, action="save", **over)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    after = _application(db, world, code)
    assert after.status == Application.DRAFT and after.updated_at == before
    assert after.beneficiary_name == "Giulia Rossi"


def test_messages_are_localised(app, client, db, make, world):
    italian = make.user(email="marco@example.org", locale="it")
    login(client, italian.email)
    code = _apply(client, world)
    response = _send(client, world, code, action="save", isee="abc")
    assert response.status_code == 422
    assert "C'è un problema" in response.get_data(as_text=True)
    assert _application(db, world, code).isee_cents is None


# ---------------------------------------------------------------------------- who may see what

def test_another_users_application_is_not_found(app, client, db, make, world):
    login(client, world["citizen"].email)
    code = _apply(client, world)
    assert _upload(client, world, code).status_code == 302
    with territory_scope(world["territory"].id):
        document_id = db.session.execute(select(ApplicationDocument.id)).scalar_one()
    client.post("/account/logout", data={"csrf_token": ""})

    other_client = app.test_client()
    intruder = make.user(email="intruder@example.org", locale="en")
    login(other_client, intruder.email)
    assert other_client.get(_url(world, f"/applications/{code}")).status_code == 404
    assert other_client.get(_url(world, f"/applications/{code}/documents/{document_id}")).status_code == 404
    form_page = _url(world, "/programmes")
    assert post(other_client, _url(world, f"/applications/{code}"), _answers(world),
                token_from=form_page).status_code == 404
    assert post(other_client, _url(world, f"/applications/{code}/withdraw"), {},
                token_from=form_page).status_code == 404
    assert post(other_client, _url(world, f"/applications/{code}/documents/{document_id}/delete"), {},
                token_from=form_page).status_code == 404
    assert code not in other_client.get(_url(world, "/applications")).get_data(as_text=True)
    assert _application(db, world, code).status == Application.DRAFT


def test_anonymous_visitors_are_sent_to_log_in(app, client, world):
    for path in ("/applications", "/applications/ABCDEF"):
        response = client.get(_url(world, path))
        assert response.status_code == 302 and "/account/login" in response.headers["Location"]


def test_another_territorys_programme_and_application_are_not_found(app, client, db, make, world):
    other = make.territory(default_language="en")
    foreign = make.programme(make.funder(other), title="Elsewhere")
    login(client, world["citizen"].email)
    assert client.get(_url(world, f"/programmes/{foreign.id}")).status_code == 404
    page = _url(world, "/programmes")
    assert post(client, _url(world, f"/programmes/{foreign.id}/apply"), {}, token_from=page).status_code == 404
    assert _count(db, world) == 0
    # An application of this territory is not found under another territory's address.
    code = _apply(client, world)
    assert client.get(f"/t/{other.slug}/applications/{code}").status_code == 404
    assert client.get(_url(world, "/programmes/99999999999")).status_code == 404


def test_a_draft_programme_is_not_public(app, client, make, world):
    draft = make.programme(world["funder"], title="Being written", status=Programme.DRAFT)
    assert client.get(_url(world, f"/programmes/{draft.id}")).status_code == 404


# ---------------------------------------------------------------------------- rules of applying

@pytest.mark.parametrize("changes,message", [
    ({"status": Programme.CLOSED}, "This programme is not accepting applications."),
    ({"applications_open_on": dt.date.today() - dt.timedelta(days=30),
      "applications_close_on": dt.date.today() - dt.timedelta(days=1)}, "Applications to this programme closed on"),
    ({"applications_open_on": dt.date.today() + dt.timedelta(days=2)}, "Applications open on"),
])
def test_a_closed_programme_refuses_applications(app, client, db, make, world, changes, message):
    programme = make.programme(world["funder"], title="Chiuso", **changes)
    login(client, world["citizen"].email)
    page = client.get(_url(world, f"/programmes/{programme.id}"))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert message in html and ">Apply</button>" not in html
    response = post(client, _url(world, f"/programmes/{programme.id}/apply"), {},
                    token_from=_url(world, "/programmes"))
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert _count(db, world) == 0


def test_a_draft_cannot_be_sent_once_the_window_closed(app, client, db, world):
    login(client, world["citizen"].email)
    code = _apply(client, world)
    assert _upload(client, world, code).status_code == 302
    with territory_scope(world["territory"].id):
        db.session.execute(update(Programme).where(Programme.id == world["programme"].id).values(
            applications_close_on=dt.date.today() - dt.timedelta(days=1)))
        db.session.commit()
    assert "can no longer be sent" in client.get(_url(world, f"/applications/{code}")).get_data(as_text=True)
    response = _send(client, world, code)
    assert response.status_code == 422 and "closed on" in response.get_data(as_text=True)
    assert _application(db, world, code).status == Application.DRAFT


def test_one_open_application_per_programme(app, client, db, world):
    login(client, world["citizen"].email)
    code = _apply(client, world)
    assert _apply(client, world) == code  # the draft is reopened
    assert _count(db, world) == 1

    _set(db, world, code, status=Application.SUBMITTED)
    assert _apply(client, world) == code
    page = client.get(_url(world, f"/applications/{code}")).get_data(as_text=True)
    assert "already applied" in page

    _set(db, world, code, status=Application.NEEDS_INFO)
    assert _apply(client, world) == code
    assert _count(db, world) == 1

    _set(db, world, code, status=Application.WITHDRAWN)
    second = _apply(client, world)
    assert second != code and _count(db, world) == 2

    _set(db, world, second, status=Application.APPROVED)
    programme_page = _url(world, f"/programmes/{world['programme'].id}")
    response = post(client, _url(world, f"/programmes/{world['programme'].id}/apply"), {}, token_from=programme_page)
    assert response.status_code == 422
    assert "You already have a voucher from this programme." in response.get_data(as_text=True)
    assert _count(db, world) == 2


def test_withdraw(app, client, db, world):
    login(client, world["citizen"].email)
    code = _apply(client, world)
    url = _url(world, f"/applications/{code}")
    response = post(client, f"{url}/withdraw", {}, token_from=url)
    assert response.status_code == 302
    assert _application(db, world, code).status == Application.WITHDRAWN
    page = client.get(url).get_data(as_text=True)
    assert "You withdrew this application." in page and "Withdraw the application" not in page
    assert 'name="action"' not in page
    # Editing, uploading and withdrawing again change nothing.
    assert _send(client, world, code, action="save", beneficiary_name="Altro").status_code == 302
    assert _upload(client, world, code).status_code == 302
    again = post(client, f"{url}/withdraw", {}, token_from=_url(world, "/programmes"), follow_redirects=True)
    assert "it cannot be changed this way" in again.get_data(as_text=True)
    application = _application(db, world, code)
    assert application.status == Application.WITHDRAWN and application.beneficiary_name == "Giulia Rossi"
    with territory_scope(world["territory"].id):
        assert application.documents == []


def test_a_decided_application_cannot_be_withdrawn(app, client, db, world):
    login(client, world["citizen"].email)
    code = _apply(client, world)
    _set(db, world, code, status=Application.REJECTED, officer_message="The ISEE certificate is expired.")
    url = _url(world, f"/applications/{code}")
    page = client.get(url).get_data(as_text=True)
    assert "Not approved" in page and "The ISEE certificate is expired." in page
    assert "Withdraw the application" not in page
    post(client, f"{url}/withdraw", {}, token_from=_url(world, "/programmes"))
    assert _application(db, world, code).status == Application.REJECTED


def test_needs_info_then_edit_and_resubmit(app, client, db, world):
    login(client, world["citizen"].email)
    code = _apply(client, world)
    assert _upload(client, world, code).status_code == 302
    assert _send(client, world, code).status_code == 302
    _set(db, world, code, status=Application.NEEDS_INFO,
         officer_message="Please upload the ISEE certificate signed by INPS.")

    url = _url(world, f"/applications/{code}")
    page = client.get(url).get_data(as_text=True)
    assert "More information needed" in page and "signed by INPS" in page
    assert 'value="18000,50"' in page and 'name="action"' in page  # the form, filled in
    assert _upload(client, world, code, filename="isee-firmato.pdf").status_code == 302
    response = _send(client, world, code, isee="17.000")
    assert response.status_code == 302
    application = _application(db, world, code)
    assert application.status == Application.SUBMITTED and application.isee_cents == 1_700_000
    with territory_scope(world["territory"].id):
        assert len(application.documents) == 2
    assert len(_mails(db, world["citizen"].email)) == 2
    assert "signed by INPS" not in client.get(url).get_data(as_text=True)


def test_needs_info_may_be_answered_after_the_window_closed(app, client, db, world):
    login(client, world["citizen"].email)
    code = _apply(client, world)
    assert _upload(client, world, code).status_code == 302
    assert _send(client, world, code).status_code == 302
    _set(db, world, code, status=Application.NEEDS_INFO, officer_message="Check the ISEE.")
    with territory_scope(world["territory"].id):
        db.session.execute(update(Programme).where(Programme.id == world["programme"].id).values(
            applications_close_on=dt.date.today() - dt.timedelta(days=1)))
        db.session.commit()
    assert _send(client, world, code).status_code == 302
    assert _application(db, world, code).status == Application.SUBMITTED


def test_approved_application_shows_the_voucher(app, client, db, make, world):
    login(client, world["citizen"].email)
    code = _apply(client, world)
    application = _application(db, world, code)
    _set(db, world, code, status=Application.APPROVED, officer_message="Welcome to the nursery programme.")
    voucher = make.voucher(world["programme"], world["citizen"], application_id=application.id,
                           beneficiary_name="Luca Rossi", channel="application")
    page = client.get(_url(world, f"/applications/{code}")).get_data(as_text=True)
    assert "Your application is approved" in page and voucher.code in page and "€150.00" in page
    assert "Welcome to the nursery programme." in page
    assert f'href="/t/{world["territory"].slug}/wallet"' in page
    programme_page = client.get(_url(world, f"/programmes/{world['programme'].id}")).get_data(as_text=True)
    assert code in programme_page and ">Apply</button>" not in programme_page


def test_a_submit_racing_an_officers_decision_cannot_undo_it(app, db, world, make):
    """The lock re-reads the row: a decision committed after the applicant's page loaded
    its copy is seen, and the submit is refused (negative control: without
    populate_existing the stale DRAFT copy would be submitted)."""
    with app.test_request_context(), territory_scope(world["territory"].id):
        from marketplace.models import User

        user = db.session.get(User, world["citizen"].id)
        programme = db.session.get(Programme, world["programme"].id)
        application, created = applications_service.apply(programme, user)
        db.session.commit()
        assert created and application.status == Application.DRAFT
        with db.engine.begin() as other:  # the officer, in another connection
            other.execute(update(Application.__table__).where(Application.__table__.c.id == application.id)
                          .values(status=Application.REJECTED, officer_message="No."))
        assert application.status == Application.DRAFT  # the stale copy in this session
        with pytest.raises(applications_service.AlreadyDecided):
            applications_service.submit(application, user, beneficiary_name="Luca", beneficiary_birth_date=None,
                                        municipality_id=None, isee_cents=None, declarations_accepted=[],
                                        note="")
        db.session.rollback()
        db.session.expire_all()
        assert db.session.get(Application, application.id).status == Application.REJECTED
