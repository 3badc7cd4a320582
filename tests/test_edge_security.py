"""The request edge: trusted hosts, reverse proxies, caching of personal pages, links in
e-mails, tokens kept out of logs and of delivered mail, SMTP certificate checks."""
from __future__ import annotations

import email
import email.policy
import logging
import re
import socket
import ssl
import subprocess
import threading

import pytest
from sqlalchemy import select

from marketplace.models import OutboxMessage
from tests.conftest import CSRF_RE, login, make_app, post

LINK_RE = re.compile(r"https?://\S+")
DOMAIN = "welfare.cremona.example"


def _mails(db, to):
    db.session.expire_all()
    return db.session.execute(select(OutboxMessage).where(OutboxMessage.to_email == to)
                              .order_by(OutboxMessage.id)).scalars().all()


def _link(message) -> str:
    return LINK_RE.search(message.body_text).group(0)


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


# ---------------------------------------------------------------------------- Host header

def _forgot(client, email, host):
    base_url = f"http://{host}"
    page = client.get("/account/forgot", base_url=base_url).get_data(as_text=True)
    token = CSRF_RE.search(page).group(1) if CSRF_RE.search(page) else ""
    return client.post("/account/forgot", data={"email": email, "csrf_token": token}, base_url=base_url)


def test_reset_link_never_comes_from_the_host_header(client, db, make):
    make.user(email="anna@example.org")
    # An unknown host is refused before anything is done: no e-mail at all.
    assert _forgot(client, "anna@example.org", "evil.example").status_code == 400
    assert _mails(db, "anna@example.org") == []
    # Even a host we answer (127.0.0.1 in testing) does not choose the link: BASE_URL does.
    assert _forgot(client, "anna@example.org", "127.0.0.1").status_code == 200
    (message,) = _mails(db, "anna@example.org")
    assert _link(message).startswith("http://localhost/account/reset/")
    assert "127.0.0.1" not in message.body_text


def test_links_of_a_territory_with_a_domain_are_on_that_domain(app, client, db, make):
    territory = make.territory("cremona", name="Welfare Cremona")
    make.domain(territory, DOMAIN)
    coordinator = make.coordinator(territory, email="coord@example.org")
    login(client, coordinator.email)  # on localhost, at /t/cremona/...
    response = post(client, "/t/cremona/coordinator/cooperatives/invite",
                    {"name": "Il Melograno", "staff_email": "staff@melograno.example"},
                    token_from="/t/cremona/coordinator/cooperatives/invite")
    assert response.status_code == 302
    (message,) = _mails(db, "staff@melograno.example")
    link = _link(message)
    assert link.startswith(f"http://{DOMAIN}/account/invitation/"), link
    # The link works there: the territory's pages are served at the domain's root.
    assert app.test_client().get(_path(link), base_url=f"http://{DOMAIN}").status_code == 200


def test_unknown_hosts_get_the_localised_400_page(client, make):
    make.territory("cremona")
    page = client.get("/t/cremona/", headers={"Host": "evil.example"})
    assert page.status_code == 400
    body = page.get_data(as_text=True)
    assert '<main id="main"' in body and "La richiesta non è valida" in body
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    api = client.get("/api/v1/territories/cremona", headers={"Host": "evil.example:8080"})
    assert api.status_code == 400 and api.get_json()["status"] == 400
    assert client.get("/healthz", headers={"Host": "10.0.0.7:8000"}).status_code != 400  # probes
    # Without trusted proxies, a forwarded host is not believed either.
    assert client.get("/t/cremona/", headers={"X-Forwarded-Host": "evil.example"}).status_code == 200


def test_trusted_hosts_setting_and_production_default(database_uri, make):
    territory = make.territory("cremona")
    make.domain(territory, DOMAIN)
    listed = make_app(database_uri, TRUSTED_HOST_NAMES="welfare.example.org, .comune.example").test_client()
    assert listed.get("/", headers={"Host": "welfare.example.org"}).status_code == 200
    assert listed.get("/", headers={"Host": "www.comune.example"}).status_code == 200
    assert listed.get("/", headers={"Host": "localhost"}).status_code == 200  # BASE_URL's host
    assert listed.get("/", headers={"Host": "127.0.0.1"}).status_code == 400  # only unset: dev hosts
    assert listed.get("/", headers={"Host": DOMAIN}).status_code == 200  # mapped: always
    production = make_app(database_uri, ENV_NAME="production").test_client()
    assert production.get("/", headers={"Host": "127.0.0.1"}).status_code == 400
    assert production.get("/", headers={"Host": "localhost"}).status_code == 200
    assert production.get("/", headers={"Host": DOMAIN}).status_code == 200


# ---------------------------------------------------------------------------- proxies

def _failed_logins(client, n, ip, email):
    headers = {"X-Forwarded-For": ip}
    return [post(client, "/account/login", {"email": email, "password": "wrong-password-1"},
                 headers=headers).status_code for _ in range(n)]


def test_behind_a_proxy_each_client_has_its_own_login_bucket(database_uri, make):
    proxied = make_app(database_uri, PROXY_HOPS=1, LOGIN_RATE_LIMIT="3 per minute")
    a, b = proxied.test_client(), proxied.test_client()
    assert _failed_logins(a, 4, "203.0.113.5", "one@example.org") == [422, 422, 422, 429]
    # Another visitor behind the same proxy is not locked out by the first one.
    assert _failed_logins(b, 1, "198.51.100.9", "two@example.org") == [422]

    # Without trusted proxies, a made-up X-Forwarded-For does not give a fresh bucket.
    direct = make_app(database_uri, PROXY_HOPS=0, LOGIN_RATE_LIMIT="3 per minute")
    c = direct.test_client()
    codes = [_failed_logins(c, 1, f"192.0.2.{n}", f"user{n}@example.org")[0] for n in range(4)]
    assert codes == [422, 422, 422, 429]


def test_behind_a_proxy_host_and_scheme_come_from_the_proxy(database_uri, make):
    territory = make.territory("cremona", name="Welfare Cremona")
    make.domain(territory, DOMAIN)
    client = make_app(database_uri, PROXY_HOPS=1).test_client()
    page = client.get("/", headers={"X-Forwarded-Host": DOMAIN, "X-Forwarded-Proto": "https",
                                    "X-Forwarded-For": "203.0.113.5"})
    assert page.status_code == 200 and "Welfare Cremona" in page.get_data(as_text=True)
    assert "Strict-Transport-Security" in page.headers  # the visitor's connection is https
    assert client.get("/", headers={"X-Forwarded-Host": "evil.example"}).status_code == 400


# ---------------------------------------------------------------------------- caching

def test_signed_in_answers_are_never_stored(client, make):
    territory = make.territory("cremona")
    anonymous = client.get("/t/cremona/")
    assert "no-store" not in anonymous.headers.get("Cache-Control", "")  # shared pages stay cacheable
    user = make.user(email="anna@example.org")
    response = login(client, user.email)
    assert response.headers["Cache-Control"] == "no-store"  # sets the session cookie
    for url in ("/account/", "/t/cremona/", "/t/cremona/bookings"):
        answer = client.get(url)
        assert answer.headers.get("Cache-Control") == "no-store", url
    assert territory.slug == "cremona"


# ---------------------------------------------------------------------------- request log

class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def request_log():
    logger = logging.getLogger("marketplace.request")
    handler, level, disabled = _Records(), logger.level, logger.disabled
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.disabled = False  # Alembic's logging set-up in the migrations disables it
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(level)
    logger.disabled = disabled


def test_request_log_masks_tokens_in_paths_and_never_logs_queries(client, make, request_log):
    make.territory("cremona")
    secret = "Zq8sEcReT-tOkEn_123"
    urls = {
        f"/account/reset/{secret}?token={secret}": "/account/reset/***",
        f"/account/confirm/{secret}": "/account/confirm/***",
        f"/t/cremona/account/confirm/{secret}": "/t/cremona/account/confirm/***",
        f"/t/cremona/account/invitation/{secret}": "/t/cremona/account/invitation/***",
        f"/t/cremona/survey/{secret}": "/t/cremona/survey/***",
        f"/t/cremona/employers/join/{secret}": "/t/cremona/employers/join/***",
    }
    for url, logged in urls.items():
        client.get(url)
        record = request_log[-1]
        assert record.fields["path"] == logged, (url, record.fields)
    client.delete(f"/account/reset/{secret}")  # 405: no view ran, still masked
    assert request_log[-1].fields["path"] == "/account/reset/***"
    assert not [r for r in request_log if secret in str(r.fields)]


# ---------------------------------------------------------------------------- SMTP

@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for localhost (no CA of the system signed it)."""
    folder = tmp_path_factory.mktemp("smtp-tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


class SmtpServer(threading.Thread):
    """Just enough ESMTP with STARTTLS to receive messages, in a thread."""

    def __init__(self, cert, key):
        super().__init__(daemon=True)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(cert, key)
        self.messages: list[bytes] = []
        self.errors: list[Exception] = []

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                self.serve(conn)
            except (OSError, ssl.SSLError) as exc:
                self.errors.append(exc)
            finally:
                conn.close()

    def serve(self, conn):
        conn.settimeout(10)
        reader = conn.makefile("rb")
        conn.sendall(b"220 localhost ESMTP test\r\n")
        secure = False
        while True:
            line = reader.readline()
            if not line:
                return
            command = line.strip().upper()
            if command.startswith(b"EHLO"):
                conn.sendall(b"250-localhost\r\n250 STARTTLS\r\n" if not secure else b"250 localhost\r\n")
            elif command == b"STARTTLS":
                conn.sendall(b"220 go ahead\r\n")
                conn = self.tls.wrap_socket(conn, server_side=True)
                reader, secure = conn.makefile("rb"), True
            elif command == b"DATA":
                conn.sendall(b"354 end with .\r\n")
                lines = []
                while (data := reader.readline()) not in (b".\r\n", b""):
                    lines.append(data[1:] if data.startswith(b"..") else data)
                self.messages.append(b"".join(lines))
                conn.sendall(b"250 queued\r\n")
            elif command == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:  # HELO, MAIL, RCPT, RSET, NOOP
                conn.sendall(b"250 ok\r\n")

    def stop(self):
        self.sock.close()


@pytest.fixture
def smtp_server(certificate):
    server = SmtpServer(*certificate)
    server.start()
    yield server
    server.stop()


def _smtp_app(database_uri, server, **extra):
    return make_app(database_uri, SMTP_HOST="localhost", SMTP_PORT=server.port, SMTP_STARTTLS=True,
                    JOBS_INLINE=True, **extra)


def test_starttls_refuses_a_certificate_no_trusted_ca_signed(database_uri, db, make, smtp_server):
    make.user(email="anna@example.org")
    client = _smtp_app(database_uri, smtp_server).test_client()
    response = post(client, "/account/forgot", {"email": "anna@example.org"}, token_from="/account/forgot")
    assert response.status_code == 200
    (message,) = _mails(db, "anna@example.org")
    assert message.sent_at is None and "CERTIFICATE_VERIFY_FAILED" in message.last_error
    assert smtp_server.messages == []  # nothing went over the unverified connection


def test_delivered_mail_keeps_no_token_and_the_recipient_link_works(database_uri, db, make, smtp_server,
                                                                    certificate):
    make.user(email="anna@example.org")
    smtp_app = _smtp_app(database_uri, smtp_server, SMTP_CA_FILE=str(certificate[0]))
    client = smtp_app.test_client()
    post(client, "/account/forgot", {"email": "anna@example.org"}, token_from="/account/forgot")
    (message,) = _mails(db, "anna@example.org")
    assert message.sent_at is not None and message.transport == "smtp", message.last_error
    # The recipient got the real link...
    (raw,) = smtp_server.messages
    sent = email.message_from_bytes(raw, policy=email.policy.default)
    link = LINK_RE.search(sent.get_body(("plain",)).get_content()).group(0)
    token = link.rsplit("/", 1)[1]
    assert link.startswith("http://localhost/account/reset/") and len(token) > 20
    # ...the stored copy has it masked...
    assert token not in message.body_text
    assert "http://localhost/account/reset/***" in message.body_text
    # ...and it still works for the recipient.
    new = "una-nuova-password-lunga"
    done = post(client, _path(link), {"password": new, "confirm": new}, token_from=_path(link))
    assert done.status_code == 302
    login(client, "anna@example.org", new)


def test_development_outbox_keeps_links_and_says_so(client, db, make, run_jobs):
    admin = make.user(email="admin@example.org", is_platform_admin=True)
    make.user(email="anna@example.org")
    post(client, "/account/forgot", {"email": "anna@example.org"}, token_from="/account/forgot")
    run_jobs()
    (message,) = _mails(db, "anna@example.org")
    assert message.transport == "outbox" and "/account/reset/***" not in message.body_text
    login(client, admin.email)
    page = client.get(f"/admin/outbox/{message.id}").get_data(as_text=True)
    assert "Casella di uscita di sviluppo" in page and _link(message) in page


def test_redaction_finds_tokens_by_route_on_every_host(app, db, make):
    from marketplace.edge import redact_links

    territory = make.territory("cremona")
    make.domain(territory, DOMAIN)
    body = (f"Survey: http://{DOMAIN}/survey/Tok3nSurvey99\n"
            "Join: http://localhost/t/cremona/employers/join/JOINCODE42 or type JOINCODE42\n"
            "Booking: http://localhost/t/cremona/bookings/ABC123/checkout\n"
            "Elsewhere: https://www.example.org/account/reset/not-ours?x=1\n")
    with app.app_context():
        redacted = redact_links(body)
    assert f"http://{DOMAIN}/survey/***" in redacted and "Tok3nSurvey99" not in redacted
    assert "JOINCODE42" not in redacted and "join/*** or type ***" in redacted
    assert "bookings/ABC123/checkout" in redacted  # an order code needs its owner's login
    assert "https://www.example.org/account/reset/***" in redacted  # same route, any host
