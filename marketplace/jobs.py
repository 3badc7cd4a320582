"""Functions RQ runs. Each takes ids, loads fresh state and is safe to run twice."""
from __future__ import annotations

import functools
import smtplib
import ssl
from email.message import EmailMessage

from flask import current_app, has_app_context

from marketplace.extensions import db
from marketplace.models.base import utcnow

_worker_app = None


def job(func):
    """Run ``func`` inside an app context, creating the app when run by a bare worker."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if has_app_context():
            return func(*args, **kwargs)
        global _worker_app
        if _worker_app is None:
            from marketplace.app import create_app

            _worker_app = create_app()
        with _worker_app.app_context():
            try:
                return func(*args, **kwargs)
            finally:
                db.session.remove()

    return wrapper


def smtp_tls_context() -> ssl.SSLContext:
    """A TLS context that verifies the mail server's certificate and name (``SMTP_CA_FILE``:
    the private CA to trust instead of the system's)."""
    return ssl.create_default_context(cafile=current_app.config.get("SMTP_CA_FILE") or None)


def build_email(message) -> EmailMessage:
    """The MIME message for an outbox row, its attachments (``message.attachments``, e.g.
    the .ics and ticket QR codes of an order) built now from current data."""
    from marketplace.services.tickets import attachments_for

    email = EmailMessage()
    email["From"] = current_app.config["MAIL_FROM"]
    email["To"] = message.to_email
    email["Subject"] = message.subject
    email.set_content(message.body_text)
    for filename, maintype, subtype, content in attachments_for(message.attachments or ""):
        if maintype == "text":
            email.add_attachment(content.decode("utf-8"), subtype=subtype, filename=filename,
                                 params={"method": "PUBLISH"} if subtype == "calendar" else {})
        else:
            email.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return email


@job
def deliver_email(message_id: int) -> None:
    """Send one outbox message by SMTP, or mark it delivered to the outbox. Idempotent.

    Once sent by SMTP the stored copy keeps its links with their tokens masked (only the
    recipient holds them); the development outbox, without SMTP, keeps them (transport
    "outbox") so the links can be followed from the admin's outbox page.
    """
    from marketplace.models import OutboxMessage

    message = db.session.get(OutboxMessage, message_id)
    if message is None or message.sent_at is not None:
        return
    message.attempts += 1
    config = current_app.config
    if config.get("SMTP_HOST"):
        email = build_email(message)
        try:
            with smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"], timeout=20) as smtp:
                if config.get("SMTP_STARTTLS"):
                    smtp.starttls(context=smtp_tls_context())
                if config.get("SMTP_USERNAME"):
                    smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"] or "")
                smtp.send_message(email)
        except (OSError, smtplib.SMTPException) as exc:
            message.last_error = str(exc)[:1000]
            db.session.commit()
            raise
        message.transport = "smtp"
        from marketplace.edge import redact_links

        message.body_text = redact_links(message.body_text)
    else:
        message.transport = "outbox"
    message.sent_at = utcnow()
    db.session.commit()


@job
def offer_freed_seats_job(territory_id: int, slot_id: int) -> None:
    """Offer a slot's free seats to its waiting list, inside the slot's territory. Idempotent."""
    from marketplace.services import waitlist
    from tenants.scoping import territory_scope

    with territory_scope(territory_id):
        try:
            waitlist.offer_freed_seats(slot_id)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise


@job
def cleanup_everywhere() -> dict[str, int]:
    """For every active territory: expire lapsed holds and waiting-list offers, then offer
    the freed seats to the next in line. Run every minute by ``flask cron``. Returns
    {territory slug: number of new offers}."""
    import logging

    from sqlalchemy import select

    from marketplace.models import Territory
    from marketplace.services import booking, waitlist
    from tenants.scoping import territory_scope

    log = logging.getLogger("marketplace.jobs")
    territories = db.session.execute(
        select(Territory.id, Territory.slug).where(Territory.status == Territory.ACTIVE).order_by(Territory.id)
    ).all()
    offers: dict[str, int] = {}
    for territory_id, slug in territories:
        with territory_scope(territory_id):
            try:
                slot_ids = waitlist.cleanup()
                db.session.commit()
            except Exception:  # noqa: BLE001 - one territory's trouble must not stop the others
                db.session.rollback()
                log.exception("clean-up of territory %s failed", slug)
                continue
            offers[slug] = 0
            for slot_id in sorted(slot_ids):
                try:
                    offers[slug] += len(waitlist.offer_freed_seats(slot_id))
                    db.session.commit()
                except booking.Busy:
                    db.session.rollback()  # busy selling: the next run offers them
                except Exception:  # noqa: BLE001
                    db.session.rollback()
                    log.exception("waiting list of slot %s failed", slot_id)
    return offers


@job
def refund_cancelled_slot(territory_id: int, slot_id: int) -> dict:
    """Refund in full every booking cancelled with a date, one transaction per booking, and
    e-mail each citizen. Safe to run twice: what was refunded is not owed any more. A
    provider failure on one booking is logged and left owed (staff can retry); the others
    go on. Returns counts {"refunded": n, "failed": n}."""
    import logging

    from marketplace.models import Slot
    from marketplace.services import DomainError, cancellation
    from payments.providers import ProviderError
    from tenants.scoping import territory_scope

    log = logging.getLogger("marketplace.jobs")
    counts = {"refunded": 0, "failed": 0}
    with territory_scope(territory_id):
        slot = db.session.get(Slot, slot_id)
        if slot is None:
            return counts
        owed = [row.order.id for row in cancellation.refund_rows(slot) if row.owed_cents]
        db.session.commit()
        for order_id in owed:
            try:
                if cancellation.refund_order_in_full(order_id, slot_id):
                    counts["refunded"] += 1
                db.session.commit()
            except (ProviderError, DomainError):
                db.session.rollback()
                counts["failed"] += 1
                log.exception("refund of order %s (slot %s) failed; left owed", order_id, slot_id)
    return counts


@job
def release_expired_credits_job(territory_id: int) -> int:
    """Give back to their employers the welfare credits of one territory that expired before
    today (``services.welfare.release_expired_credits``). Safe to run twice: a released
    credit is not released again. Returns how many were released."""
    from marketplace.services import welfare
    from tenants.scoping import territory_scope

    with territory_scope(territory_id):
        try:
            released = welfare.release_expired_credits()
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
    return released


@job
def release_expired_credits_everywhere() -> dict[str, int]:
    """Run ``release_expired_credits_job`` for every active territory, one transaction each
    (one territory's trouble does not stop the others). Run hourly by ``flask cron``.
    Returns {territory slug: number of credits released}."""
    import logging

    from sqlalchemy import select

    from marketplace.models import Territory

    log = logging.getLogger("marketplace.jobs")
    territories = db.session.execute(
        select(Territory.id, Territory.slug).where(Territory.status == Territory.ACTIVE).order_by(Territory.id)
    ).all()
    released: dict[str, int] = {}
    for territory_id, slug in territories:
        try:
            released[slug] = release_expired_credits_job(territory_id)
        except Exception:  # noqa: BLE001 - logged; the next run tries again
            log.exception("release of expired welfare credits of territory %s failed", slug)
    return released


@job
def build_report(territory_id: int, run_id: int) -> None:
    """Make a rendicontazione report (PDF or XLSX) and store its copy; see
    ``services.rendicontazione.build``. Safe to run twice."""
    from marketplace.services import rendicontazione
    from tenants.scoping import territory_scope

    with territory_scope(territory_id):
        rendicontazione.build(run_id)


@job
def invite_to_surveys_job(territory_id: int) -> dict[str, int]:
    """Invite to the satisfaction survey, in one territory, the recent deliveries to
    beneficiaries with an e-mail and the paid bookings whose date ended (``services.surveys``).
    Safe to run twice: an invited record or order is not invited again. Returns counts."""
    from marketplace.services import surveys
    from tenants.scoping import territory_scope

    with territory_scope(territory_id):
        try:
            counts = {"deliveries": surveys.invite_for_deliveries(territory_id),
                      "bookings": surveys.invite_for_bookings(territory_id)}
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
    return counts


@job
def invite_to_surveys_everywhere() -> dict[str, dict[str, int]]:
    """Run ``invite_to_surveys_job`` for every active territory (one territory's trouble
    does not stop the others). Run hourly by ``flask cron``. Returns {slug: counts}."""
    import logging

    from sqlalchemy import select

    from marketplace.models import Territory

    log = logging.getLogger("marketplace.jobs")
    territories = db.session.execute(
        select(Territory.id, Territory.slug).where(Territory.status == Territory.ACTIVE).order_by(Territory.id)
    ).all()
    sent: dict[str, dict[str, int]] = {}
    for territory_id, slug in territories:
        try:
            sent[slug] = invite_to_surveys_job(territory_id)
        except Exception:  # noqa: BLE001 - logged; the next run tries again
            log.exception("survey invitations of territory %s failed", slug)
    return sent


@job
def import_deliveries(territory_id: int, import_id: int) -> None:
    """Import the delivery records of one uploaded file (``services.delivery_import.run``),
    inside its territory, committing every few hundred rows with the progress. Safe to run
    twice: a finished import is left alone, a stopped one goes on after its committed rows."""
    from flask_babel import force_locale

    from marketplace.models import DeliveryImport, User
    from marketplace.services import delivery_import
    from tenants.scoping import territory_scope

    with territory_scope(territory_id):
        # The error report is written in the language of whoever uploaded the file.
        item = db.session.get(DeliveryImport, import_id)
        user = db.session.get(User, item.created_by_id) if item is not None and item.created_by_id else None
        with force_locale((user.locale if user is not None else None) or "it"):
            delivery_import.run(import_id)
