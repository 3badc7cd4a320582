"""E-mail: an outbox row in the caller's transaction, delivery by a job after commit."""
from __future__ import annotations

from flask import current_app, has_request_context, render_template, url_for
from flask_babel import force_locale

from marketplace.extensions import db
from marketplace.models import OutboxMessage
from marketplace.queue import enqueue


def external_url(endpoint: str, **values) -> str:
    """An absolute URL, from the request when there is one, else from BASE_URL."""
    if has_request_context():
        return url_for(endpoint, _external=True, **values)
    app = current_app._get_current_object()
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        return url_for(endpoint, _external=True, **values)


def send_mail(to: str, template: str, locale: str | None = None, territory=None, attachments: str = "",
              **context) -> OutboxMessage:
    """Queue ``templates/email/<template>.txt`` (first line ``Subject: ...``) to ``to``.

    ``attachments`` names what to attach, built at delivery time (e.g. ``order:<id>``: the
    order's .ics and ticket QR codes; see ``services.tickets.attachments_for``).

    Must be called inside the transaction that causes the e-mail; nothing is sent if it
    rolls back.
    """
    with force_locale(locale or "it"):
        rendered = render_template(f"email/{template}.txt", territory=territory, **context)
    first, _, body = rendered.lstrip().partition("\n")
    subject = first.removeprefix("Subject:").strip()
    message = OutboxMessage(
        to_email=to,
        subject=subject[:250],
        body_text=body.strip() + "\n",
        territory_id=territory.id if territory is not None else None,
        attachments=attachments or "",
    )
    db.session.add(message)
    db.session.flush()
    from marketplace.jobs import deliver_email

    enqueue(deliver_email, message.id, queue="emails")
    return message
