"""Documents of an application: only real PDF / PNG / JPEG files within 2 MB are kept, in the
private store; a refused upload leaves no row, no file and no change to the application;
the applicant alone downloads them, as attachments that are never cached or sniffed."""
from __future__ import annotations

import io
import os
import re

import pytest
from sqlalchemy import select, update

from marketplace.models import Application, ApplicationDocument
from tenants.scoping import territory_scope
from tests.conftest import login, post
from tests.factories import png_bytes

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
MB = 1024 * 1024


@pytest.fixture
def world(make):
    territory = make.territory(default_language="en")
    funder = make.funder(territory)
    programme = make.programme(funder, title="Buoni anziani",
                               documents=["ISEE certificate", "Identity document"])
    citizen = make.user(email="anna@example.org", locale="en")
    return dict(territory=territory, funder=funder, programme=programme, citizen=citizen)


def _url(world, path: str) -> str:
    return f"/t/{world['territory'].slug}{path}"


def _start(client, world) -> str:
    login(client, world["citizen"].email)
    page = _url(world, f"/programmes/{world['programme'].id}")
    response = post(client, _url(world, f"/programmes/{world['programme'].id}/apply"), {}, token_from=page)
    assert response.status_code == 302
    return re.search(r"/applications/([A-Z0-9]+)$", response.headers["Location"]).group(1)


def _upload(client, world, code, data, filename="document.pdf", index="0", content_type=None):
    url = _url(world, f"/applications/{code}")
    file = (io.BytesIO(data), filename, content_type) if content_type else (io.BytesIO(data), filename)
    return post(client, _url(world, f"/applications/{code}/documents"), {"document": index, "file": file},
                token_from=url, content_type="multipart/form-data")


def _documents(db, world) -> list[ApplicationDocument]:
    with territory_scope(world["territory"].id):
        db.session.expire_all()
        return db.session.execute(select(ApplicationDocument).order_by(ApplicationDocument.id)).scalars().all()


def _application(db, world, code) -> Application:
    with territory_scope(world["territory"].id):
        db.session.expire_all()
        return db.session.execute(select(Application).where(Application.code == code)).scalar_one()


def _stored_files(app) -> int:
    return sum(len(files) for _dir, _dirs, files in os.walk(app.config["UPLOAD_DIR"]))


@pytest.mark.parametrize("data,filename,content_type", [
    (PDF, "isee 2026 (firmato).pdf", "application/pdf"),
    (png_bytes(), "foto.png", "image/png"),
    (JPEG, "carta.JPG", "image/jpeg"),
    (png_bytes(), "scan.pdf", "image/png"),  # the bytes decide, not the name
])
def test_pdf_png_and_jpeg_are_stored_privately(app, client, db, world, data, filename, content_type):
    code = _start(client, world)
    before = _stored_files(app)
    response = _upload(client, world, code, data, filename)
    assert response.status_code == 302
    [document] = _documents(db, world)
    assert document.label == "ISEE certificate" and document.content_type == content_type
    assert document.size_bytes == len(data) and len(document.sha256) == 64
    assert document.storage_key.startswith(f"t{world['territory'].id}/")
    assert filename.rsplit(".", 1)[0][:4] not in document.storage_key  # a random key, not the name
    assert _stored_files(app) == before + 1
    assert not document.storage_key.startswith("static")
    page = client.get(_url(world, f"/applications/{code}")).get_data(as_text=True)
    assert document.filename in page


def test_the_filename_is_sanitised_and_kept_for_display_only(app, client, db, world):
    code = _start(client, world)
    assert _upload(client, world, code, PDF, "../../etc/<script>passwd.pdf").status_code == 302
    [document] = _documents(db, world)
    assert "/" not in document.filename and "<" not in document.filename and ".." not in document.filename
    assert document.filename.endswith(".pdf")
    assert "passwd" not in document.storage_key


@pytest.mark.parametrize("data,filename,content_type,message", [
    (b"Just some text, renamed.\n", "isee.pdf", "application/pdf", "not a PDF, PNG or JPEG"),
    (b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200, "isee.pdf", "application/pdf", "not a PDF, PNG or JPEG"),
    (b"<html><script>alert(1)</script></html>", "photo.png", "image/png", "not a PDF, PNG or JPEG"),
    (b"GIF89a\x01\x00\x01\x00", "photo.jpg", "image/jpeg", "not a PDF, PNG or JPEG"),
    (b"", "isee.pdf", "application/pdf", "The file is empty."),
])
def test_wrong_or_empty_files_are_refused_and_nothing_is_stored(app, client, db, world, data, filename,
                                                                content_type, message):
    code = _start(client, world)
    before_files, before = _stored_files(app), _application(db, world, code).updated_at
    response = _upload(client, world, code, data, filename, content_type=content_type)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page and 'id="file-0-error"' in page and 'aria-invalid="true"' in page
    assert _documents(db, world) == [] and _stored_files(app) == before_files
    assert _application(db, world, code).updated_at == before


def test_no_file_chosen(app, client, db, world):
    code = _start(client, world)
    url = _url(world, f"/applications/{code}")
    response = post(client, f"{url}/documents", {"document": "1"}, token_from=url, content_type="multipart/form-data")
    assert response.status_code == 422 and "Choose a file to upload." in response.get_data(as_text=True)
    assert 'id="file-1-error"' in response.get_data(as_text=True)
    assert _documents(db, world) == []


@pytest.mark.parametrize("index", ["2", "-1", "x", ""])
def test_only_the_documents_the_programme_asks_for(app, client, db, world, index):
    code = _start(client, world)
    response = _upload(client, world, code, PDF, index=index)
    assert response.status_code == 422
    assert "Choose one of the documents the programme asks for." in response.get_data(as_text=True)
    assert _documents(db, world) == []


def test_an_upload_between_the_limit_and_the_request_cap_gets_a_clear_message(app, client, db, world):
    assert app.config["UPLOAD_MAX_BYTES"] == 2 * MB and app.config["MAX_CONTENT_LENGTH"] == 3 * MB
    code = _start(client, world)
    before_files, before = _stored_files(app), _application(db, world, code).updated_at
    response = _upload(client, world, code, PDF + b"0" * (2 * MB))  # just over 2 MB, a real PDF header
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "The file is larger than 2 MB." in page and 'id="file-0-error"' in page
    assert _documents(db, world) == [] and _stored_files(app) == before_files
    assert _application(db, world, code).updated_at == before
    # Exactly 2 MB is fine.
    assert _upload(client, world, code, PDF + b"0" * (2 * MB - len(PDF))).status_code == 302
    assert len(_documents(db, world)) == 1


def test_an_upload_over_the_request_cap_gets_the_413_page(app, client, db, world):
    code = _start(client, world)
    before_files, before = _stored_files(app), _application(db, world, code).updated_at
    response = _upload(client, world, code, PDF + b"0" * (3 * MB))
    assert response.status_code == 413
    assert "The upload is too large" in response.get_data(as_text=True)
    assert _documents(db, world) == [] and _stored_files(app) == before_files
    assert _application(db, world, code).updated_at == before


def test_the_applicant_downloads_their_document(app, client, db, make, world):
    code = _start(client, world)
    assert _upload(client, world, code, PDF, "isee.pdf").status_code == 302
    [document] = _documents(db, world)
    url = _url(world, f"/applications/{code}/documents/{document.id}")
    response = client.get(url)
    assert response.status_code == 200 and response.data == PDF
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert "isee.pdf" in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response.headers["Cache-Control"]

    # Not through another application's address, nor by anyone else, nor in another territory.
    other_programme = make.programme(world["funder"], title="Altro", documents=["ISEE certificate"])
    page = _url(world, f"/programmes/{other_programme.id}")
    second = post(client, _url(world, f"/programmes/{other_programme.id}/apply"), {}, token_from=page)
    second_code = re.search(r"/applications/([A-Z0-9]+)$", second.headers["Location"]).group(1)
    assert client.get(_url(world, f"/applications/{second_code}/documents/{document.id}")).status_code == 404
    assert client.get(_url(world, f"/applications/{code}/documents/{document.id + 100}")).status_code == 404
    other_territory = make.territory()
    assert client.get(f"/t/{other_territory.slug}/applications/{code}/documents/{document.id}").status_code == 404

    intruder = app.test_client()
    login(intruder, make.user(email="mallory@example.org").email)
    assert intruder.get(url).status_code == 404


def test_remove_a_document_while_editable(app, client, db, world):
    code = _start(client, world)
    assert _upload(client, world, code, PDF).status_code == 302
    [document] = _documents(db, world)
    path = os.path.join(app.config["UPLOAD_DIR"], document.storage_key)
    assert os.path.exists(path)
    url = _url(world, f"/applications/{code}")
    response = post(client, f"{url}/documents/{document.id}/delete", {}, token_from=url)
    assert response.status_code == 302
    assert _documents(db, world) == [] and not os.path.exists(path)


def test_documents_are_frozen_once_the_application_is_sent(app, client, db, world):
    code = _start(client, world)
    assert _upload(client, world, code, PDF).status_code == 302
    assert _upload(client, world, code, png_bytes(), "id.png", index="1").status_code == 302
    url = _url(world, f"/applications/{code}")
    response = post(client, url, {"beneficiary_name": "Anna Verdi", "action": "submit"}, token_from=url)
    assert response.status_code == 302
    assert _application(db, world, code).status == Application.SUBMITTED
    documents = _documents(db, world)
    assert len(documents) == 2
    page = client.get(url).get_data(as_text=True)
    assert 'type="file"' not in page and "/delete" not in page

    refused = post(client, f"{url}/documents/{documents[0].id}/delete", {}, token_from=url, follow_redirects=True)
    assert "it cannot be changed this way" in refused.get_data(as_text=True)
    late = _upload(client, world, code, PDF)
    assert late.status_code == 302
    assert len(_documents(db, world)) == 2
    assert os.path.exists(os.path.join(app.config["UPLOAD_DIR"], documents[0].storage_key))


def test_a_missing_document_blocks_the_submit(app, client, db, world):
    code = _start(client, world)
    assert _upload(client, world, code, PDF).status_code == 302
    url = _url(world, f"/applications/{code}")
    response = post(client, url, {"beneficiary_name": "Anna Verdi", "action": "submit"}, token_from=url)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Upload the document “Identity document”." in page
    assert "Upload the document “ISEE certificate”." not in page
    assert _application(db, world, code).status == Application.DRAFT


def test_a_withdrawn_application_takes_no_uploads(app, client, db, world):
    """The store takes nothing for an application that is no longer editable."""
    code = _start(client, world)
    with territory_scope(world["territory"].id):
        db.session.execute(update(Application).where(Application.code == code).values(
            status=Application.WITHDRAWN))
        db.session.commit()
    before = _stored_files(app)
    assert _upload(client, world, code, PDF).status_code == 302
    assert _stored_files(app) == before and _documents(db, world) == []
