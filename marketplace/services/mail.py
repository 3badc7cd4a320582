"""E-mail: an outbox row in the caller's transaction, delivery by a job after commit."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_babel import force_locale

from marketplace.extensions import db
from marketplace.models import OutboxMessage
from marketplace.queue import enqueue


def external_url(endpoint: str, **values) -> str:
    """The absolute URL of ``endpoint`` for e-mails and stored links; never from the request.

    On the territory's mapped domain (its oldest) when the URL is a territory page of a
    territory that has one, served there without the ``/t/<slug>`` prefix, with
    ``TERRITORY_DOMAIN_SCHEME`` (default: BASE_URL's scheme); otherwise on ``BASE_URL``.
    The request's Host header is never used: it is whatever the sender wrote (a reset
    link on ``evil.example`` is an account takeover). Needs an app context; inside a
    request the current territory is filled in as ``url_for`` does.
    """
    app = current_app._get_current_object()
    app.inject_url_defaults(endpoint, values)
    base = urlsplit(app.config["BASE_URL"])
    scheme = base.scheme or "https"
    slug = values.get("territory")
    domains = app.extensions.get("territory_domains")
    host = domains.hostname_for(slug) if slug and domains is not None else None
    if host:
        path = app.url_map.bind(host).build(endpoint, values)
        prefix = f"/t/{slug}"
        if path == prefix or path.startswith((prefix + "/", prefix + "?")):
            rest = path[len(prefix):]
            domain_scheme = app.config.get("TERRITORY_DOMAIN_SCHEME") or scheme
            return f"{domain_scheme}://{host}{rest if rest.startswith('/') else '/' + rest}"
    adapter = app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=scheme)
    return adapter.build(endpoint, values, force_external=True)


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
