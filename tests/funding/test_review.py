"""Officers review the applications to their programmes: the queue (filter, search, sort,
pages), the application with its documents, and the decisions (approve issues a voucher
within the budget, reject with a reason, ask for more), each e-mailed to the applicant."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from marketplace import storage
from marketplace.models import Application, ApplicationDocument, OutboxMessage, Programme, Voucher
from marketplace.models.base import utcnow
from tenants.scoping import territory_scope
from tests.conftest import login, post


@pytest.fixture
def world(make):
    territory = make.territory("cremona")
    funder = make.funder(territory, name="Comune di Cremona")
    officer = make.funder_officer(funder, email="ufficio@comune.example", locale="en")
    programme = make.programme(funder, title="Buoni nido", budget_cents=100_000, value_cents=10_000,
                               declarations=["Risiedo a Cremona", "I dati sono veri"])
    municipality = make.municipality(territory, name="Cremona")
    citizen = make.user(email="giulia@example.org", full_name="Giulia Rossi", locale="en")
    return dict(territory=territory, funder=funder, officer=officer, programme=programme,
                municipality=municipality, citizen=citizen)


def application(make, world, *, user=None, name="Luca Rossi", status=Application.SUBMITTED, minutes_ago=60,
                programme=None, **kw):
    programme = programme or world["programme"]
    user = user or world["citizen"]
    return make._save(Application(
        territory_id=programme.territory_id, programme_id=programme.id, user_id=user.id, beneficiary_name=name,
        status=status, submitted_at=utcnow() - dt.timedelta(minutes=minutes_ago) if status != "draft" else None,
        **kw))


def document(app, application_, data=b"%PDF-1.4 isee", label="Attestazione ISEE", filename="isee.pdf"):
    from marketplace.extensions import db

    with app.app_context():
        stored = storage.save(application_.territory_id, data, "pdf")
    doc = ApplicationDocument(territory_id=application_.territory_id, application_id=application_.id, label=label,
                              filename=filename, content_type="application/pdf", size_bytes=stored.size,
                              storage_key=stored.key, sha256=stored.sha256)
    with app.app_context():
        from tenants.scoping import unscoped

        with unscoped():
            db.session.add(doc)
            db.session.commit()
            db.session.refresh(doc)
            db.session.expunge(doc)
    return doc


def _url(world, item, action=""):
    return f"/t/cremona/funders/{world['funder'].id}/applications/{item.id}{action}"


def _queue(world):
    return f"/t/cremona/funders/{world['funder'].id}/programmes/{world['programme'].id}/applications"


def _get(db, world, model, id_):
    db.session.expire_all()
    with territory_scope(world["territory"].id):
        return db.session.get(model, id_)


def _mails(db, to):
    db.session.expire_all()
    return db.session.execute(select(OutboxMessage).where(OutboxMessage.to_email == to)
                              .order_by(OutboxMessage.id)).scalars().all()


def _vouchers(db, world):
    db.session.expire_all()
    with territory_scope(world["territory"].id):
        return db.session.execute(select(Voucher).order_by(Voucher.id)).scalars().all()


def test_queue_filters_searches_sorts_and_pages(client, world, make):
    other = make.user(full_name="Marco Bianchi", locale="en")
    old = application(make, world, name="Anna Verdi", minutes_ago=300)
    new = application(make, world, name="Zeno Neri", minutes_ago=10, user=other)
    info = application(make, world, name="Bruno Gialli", status="needs_info", minutes_ago=100)
    approved = application(make, world, name="Carla Blu", status="approved", minutes_ago=200)
    draft = application(make, world, name="Dario Bozza", status="draft")
    login(client, world["officer"].email)

    page = client.get(_queue(world)).get_data(as_text=True)
    for shown in ("Anna Verdi", "Zeno Neri", "Bruno Gialli"):
        assert shown in page
    assert "Carla Blu" not in page and "Dario Bozza" not in page  # decided; and drafts are never shown
    assert page.index("Anna Verdi") < page.index("Bruno Gialli") < page.index("Zeno Neri")  # oldest first

    newest = client.get(_queue(world) + "?sort=newest").get_data(as_text=True)
    assert newest.index("Zeno Neri") < newest.index("Bruno Gialli") < newest.index("Anna Verdi")
    by_name = client.get(_queue(world) + "?sort=name").get_data(as_text=True)
    assert by_name.index("Anna Verdi") < by_name.index("Bruno Gialli") < by_name.index("Zeno Neri")

    approved_only = client.get(_queue(world) + "?status=approved").get_data(as_text=True)
    assert "Carla Blu" in approved_only and "Anna Verdi" not in approved_only
    everything = client.get(_queue(world) + "?status=all").get_data(as_text=True)
    assert all(n in everything for n in ("Anna Verdi", "Zeno Neri", "Bruno Gialli", "Carla Blu"))
    assert "Dario Bozza" not in everything
    # Search by the beneficiary's or the applicant's name, case-insensitive; % is literal.
    found = client.get(_queue(world) + "?q=verdi").get_data(as_text=True)
    assert "Anna Verdi" in found and "Zeno Neri" not in found
    by_applicant = client.get(_queue(world) + "?q=marco+bianchi").get_data(as_text=True)
    assert "Zeno Neri" in by_applicant and "Anna Verdi" not in by_applicant
    assert "No application here." in client.get(_queue(world) + "?q=%25").get_data(as_text=True)
    # Nonsense parameters fall back to the defaults.
    assert client.get(_queue(world) + "?status=draft&sort=evil&page=-3").status_code == 200
    assert client.get(_url(world, draft)).status_code == 404
    assert {old.id, new.id, info.id, approved.id}


def test_queue_pages(client, world, make):
    for n in range(27):
        application(make, world, name=f"Bambino {n:02d}", minutes_ago=1000 - n)
    login(client, world["officer"].email)
    first = client.get(_queue(world)).get_data(as_text=True)
    assert "27 applications" in first and "page 1 of 2" in first
    assert "Bambino 00" in first and "Bambino 24" in first and "Bambino 25" not in first
    second = client.get(_queue(world) + "?page=2").get_data(as_text=True)
    assert "Bambino 25" in second and "Bambino 26" in second and "Bambino 00" not in second
    beyond = client.get(_queue(world) + "?page=99999999999999999999999")
    assert beyond.status_code == 200 and "Bambino 26" in beyond.get_data(as_text=True)  # the last page


def test_review_page_shows_the_application_and_its_documents(app, client, world, make):
    item = application(make, world, beneficiary_birth_date=dt.date.today().replace(year=dt.date.today().year - 3)
                       - dt.timedelta(days=1), municipality_id=world["municipality"].id, isee_cents=1_250_000,
                       declarations_accepted=[1], note="Lavoriamo entrambi a tempo pieno.")
    doc = document(app, item)
    login(client, world["officer"].email)
    page = client.get(_url(world, item)).get_data(as_text=True)
    assert "Giulia Rossi" in page and "giulia@example.org" in page and "Luca Rossi" in page
    assert "3 years" in page and "Cremona" in page and "€12,500.00" in page
    assert "I dati sono veri" in page and "Risiedo a Cremona" not in page  # only what was ticked
    assert "Lavoriamo entrambi a tempo pieno." in page
    assert f'href="{_url(world, item, f"/documents/{doc.id}")}"' in page and "isee.pdf" in page
    assert "Submitted on" in page and "Approve and issue the voucher" in page

    download = client.get(_url(world, item, f"/documents/{doc.id}"))
    assert download.status_code == 200 and download.data == b"%PDF-1.4 isee"
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert "isee.pdf" in download.headers["Content-Disposition"]
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Cache-Control"] == "no-store, private"


def test_approval_issues_a_voucher_and_emails_it(client, db, world, make):
    item = application(make, world)
    login(client, world["officer"].email)
    response = post(client, _url(world, item, "/approve"), {"approve-seen_status": "submitted"},
                    token_from=_url(world, item))
    assert response.status_code == 302
    decided = _get(db, world, Application, item.id)
    assert decided.status == Application.APPROVED and decided.decided_by_id == world["officer"].id
    (voucher,) = _vouchers(db, world)
    programme = world["programme"]
    assert voucher.holder_id == world["citizen"].id and voucher.application_id == item.id
    assert voucher.amount_cents == voucher.balance_cents == 10_000
    assert (voucher.valid_from, voucher.valid_until) == (programme.starts_on, programme.ends_on)
    assert voucher.channel == Voucher.APPLICATION and voucher.beneficiary_name == "Luca Rossi"
    (mail,) = _mails(db, "giulia@example.org")
    assert "approved" in mail.subject and voucher.code in mail.body_text and "€100.00" in mail.body_text
    assert "/t/cremona/wallet" in mail.body_text
    page = client.get(_url(world, item)).get_data(as_text=True)
    assert voucher.code in page and "Approve and issue" not in page
    programme_page = client.get(f"/t/cremona/funders/{world['funder'].id}/programmes/{programme.id}/")
    assert programme_page.get_data(as_text=True).split('id="committed">')[1].startswith("€100.00<")


def test_rejection_needs_a_reason(client, db, world, make):
    item = application(make, world)
    login(client, world["officer"].email)
    empty = post(client, _url(world, item, "/reject"), {"reject-message": "  "}, token_from=_url(world, item))
    assert empty.status_code == 422
    assert "Explain to the applicant why the application is rejected." in empty.get_data(as_text=True)
    assert _get(db, world, Application, item.id).status == Application.SUBMITTED
    assert _mails(db, "giulia@example.org") == []
    response = post(client, _url(world, item, "/reject"), {"reject-message": "ISEE oltre la soglia."},
                    token_from=_url(world, item))
    assert response.status_code == 302
    rejected = _get(db, world, Application, item.id)
    assert rejected.status == Application.REJECTED and rejected.officer_message == "ISEE oltre la soglia."
    (mail,) = _mails(db, "giulia@example.org")
    assert "not approved" in mail.subject and "ISEE oltre la soglia." in mail.body_text
    assert _vouchers(db, world) == []


def test_asking_for_more_information(app, client, db, world, make):
    item = application(make, world)
    login(client, world["officer"].email)
    empty = post(client, _url(world, item, "/needs-info"), {"needs_info-message": ""}, token_from=_url(world, item))
    assert empty.status_code == 422 and "Tell the applicant what is missing." in empty.get_data(as_text=True)
    response = post(client, _url(world, item, "/needs-info"),
                    {"needs_info-message": "Manca l'attestazione ISEE."}, token_from=_url(world, item))
    assert response.status_code == 302
    assert _get(db, world, Application, item.id).status == Application.NEEDS_INFO
    (mail,) = _mails(db, "giulia@example.org")
    assert "more information" in mail.subject and "Manca l'attestazione ISEE." in mail.body_text
    if "public_funding.application" in app.view_functions:
        assert item.code in mail.body_text
    else:
        assert "/t/cremona/wallet" in mail.body_text
    # Waiting for the applicant: still in the default queue; cannot be approved until resubmitted.
    assert "Luca Rossi" in client.get(_queue(world)).get_data(as_text=True)
    again = post(client, _url(world, item, "/approve"), {}, token_from=_url(world, item))
    assert again.status_code == 422 and "cannot be changed now" in again.get_data(as_text=True)
    assert _vouchers(db, world) == []


def test_a_stale_page_cannot_overwrite_another_officers_decision(app, client, db, world, make):
    item = application(make, world)
    colleague = make.funder_officer(world["funder"], locale="en")
    login(client, world["officer"].email)
    other = app.test_client()
    login(other, colleague.email)
    # Both opened the page while it was submitted; the colleague approves first.
    assert post(other, _url(world, item, "/approve"), {"approve-seen_status": "submitted"},
                token_from=_url(world, item)).status_code == 302
    late = post(client, _url(world, item, "/reject"), {"reject-message": "Documenti mancanti.",
                                                       "reject-seen_status": "submitted"},
                token_from=f"/t/cremona/funders/{world['funder'].id}/")
    assert late.status_code == 422
    assert "changed while you were reading it: it is now approved" in late.get_data(as_text=True)
    assert _get(db, world, Application, item.id).status == Application.APPROVED
    # Approving twice (a double click) issues one voucher only.
    twice = post(client, _url(world, item, "/approve"), {}, token_from=f"/t/cremona/funders/{world['funder'].id}/")
    assert twice.status_code == 422 and "already approved" in twice.get_data(as_text=True)
    assert len(_vouchers(db, world)) == 1
    assert len(_mails(db, "giulia@example.org")) == 1

    # Asked for more information meanwhile: a page that still shows "submitted" cannot reject.
    second = application(make, world, name="Sara")
    post(other, _url(world, second, "/needs-info"), {"needs_info-message": "Serve il documento."},
         token_from=_url(world, second))
    stale = post(client, _url(world, second, "/reject"), {"reject-message": "No.", "reject-seen_status": "submitted"},
                 token_from=f"/t/cremona/funders/{world['funder'].id}/")
    assert stale.status_code == 422
    assert _get(db, world, Application, second.id).status == Application.NEEDS_INFO


def test_budget_exhausted_leaves_the_application_submitted(client, db, world, make):
    programme = make.programme(world["funder"], budget_cents=15_000, value_cents=10_000)
    make.voucher(programme, world["citizen"])
    item = application(make, world, programme=programme)
    login(client, world["officer"].email)
    response = post(client, _url(world, item, "/approve"), {"approve-seen_status": "submitted"},
                    token_from=_url(world, item))
    assert response.status_code == 422
    assert "Budget exhausted: €50.00 left, a voucher is worth €100.00." in response.get_data(as_text=True)
    assert _get(db, world, Application, item.id).status == Application.SUBMITTED
    assert len(_vouchers(db, world)) == 1 and _mails(db, "giulia@example.org") == []
    # Cancelling the unused voucher frees the budget; then the approval goes through.
    (voucher,) = _vouchers(db, world)
    vouchers_url = f"/t/cremona/funders/{world['funder'].id}/programmes/{programme.id}/vouchers"
    assert post(client, f"{vouchers_url}/{voucher.id}/cancel", {}, token_from=vouchers_url).status_code == 302
    assert post(client, _url(world, item, "/approve"), {}, token_from=_url(world, item)).status_code == 302
    assert _get(db, world, Application, item.id).status == Application.APPROVED


def test_closed_programme_issues_no_voucher(client, db, world, make):
    programme = make.programme(world["funder"], status=Programme.CLOSED)
    item = application(make, world, programme=programme)
    login(client, world["officer"].email)
    response = post(client, _url(world, item, "/approve"), {}, token_from=_url(world, item))
    assert response.status_code == 422 and "only while the programme is open" in response.get_data(as_text=True)
    assert _get(db, world, Application, item.id).status == Application.SUBMITTED


def test_documents_and_applications_are_kept_to_their_funder(app, client, world, make):
    item = application(make, world)
    doc = document(app, item)
    other_item = application(make, world, name="Altro")
    other_doc = document(app, other_item, data=b"other")
    other_funder = make.funder(world["territory"])
    other_programme = make.programme(other_funder)
    foreign = application(make, world, programme=other_programme, name="Di un altro comune")
    doc_url = _url(world, item, f"/documents/{doc.id}")

    login(client, world["officer"].email)
    # A document of another application under this one: 404; another funder's application: 404.
    assert client.get(_url(world, item, f"/documents/{other_doc.id}")).status_code == 404
    assert client.get(_url(world, foreign)).status_code == 404
    assert post(client, _url(world, foreign, "/approve"), {}, token_from=_url(world, item)).status_code == 404

    # An officer of another funder: 403 here, 404 under their own funder.
    outsider = app.test_client()
    login(outsider, make.funder_officer(other_funder, locale="en").email)
    assert outsider.get(doc_url).status_code == 403
    assert outsider.get(_url(world, item)).status_code == 403
    own = f"/t/cremona/funders/{other_funder.id}/applications/{item.id}"
    assert outsider.get(own).status_code == 404 and outsider.get(f"{own}/documents/{doc.id}").status_code == 404

    citizen = app.test_client()
    login(citizen, world["citizen"].email)  # even the applicant uses their own pages, not the officers'
    assert citizen.get(doc_url).status_code == 403
    anonymous = app.test_client()
    assert anonymous.get(doc_url).status_code == 302  # to the login page

    lodi = make.territory("lodi")
    lodi_coordinator = app.test_client()
    login(lodi_coordinator, make.coordinator(lodi, locale="en").email)
    lodi_funder = make.funder(lodi)
    assert lodi_coordinator.get(f"/t/lodi/funders/{lodi_funder.id}/applications/{item.id}").status_code == 404
    assert lodi_coordinator.get(
        f"/t/lodi/funders/{lodi_funder.id}/applications/{item.id}/documents/{doc.id}").status_code == 404
    assert lodi_coordinator.get(f"/t/lodi/funders/{world['funder'].id}/applications/{item.id}").status_code == 404

    # The territory's coordinator, once the funder delegated the review of its applications.
    make.delegation(world["funder"], "review")
    coordinator = app.test_client()
    login(coordinator, make.coordinator(world["territory"], locale="en").email)
    assert coordinator.get(doc_url).status_code == 200
