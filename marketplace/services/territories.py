"""Platform operations on territories: create, map domains, suspend."""
from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from marketplace import page_cache
from marketplace.extensions import db
from marketplace.models import Domain, Territory
from marketplace.models.base import utcnow
from marketplace.models.territory import HOSTNAME_RE, RESERVED_SLUGS, SLUG_RE
from marketplace.services import DomainError


def _refresh_domain_cache() -> None:
    cache = current_app.extensions.get("territory_domains")
    if cache is not None:
        cache.invalidate()


def forget_cached(territory: Territory) -> None:
    """A territory's own data changed: this process re-reads it, cached pages go stale.
    (Other processes re-read it within TERRITORY_CACHE_SECONDS.)"""
    rows = current_app.extensions.get("territory_rows")
    if rows is not None:
        rows.forget()
    page_cache.invalidate(territory.id)


def validate_slug(slug: str) -> str:
    slug = (slug or "").strip().lower()
    if not SLUG_RE.match(slug):
        raise DomainError(_l("Use 1-40 lowercase letters, digits or hyphens."), field="slug")
    if slug in RESERVED_SLUGS:
        raise DomainError(_l("This name is reserved by the platform."), field="slug")
    return slug


def create_territory(slug: str, name: str, contact_email: str, default_language: str = "it",
                     primary_color: str = "#0066cc", logo_text: str = "",
                     welcome_title: str = "", intro_text: str = "") -> Territory:
    """Create an active territory. Raises DomainError on a bad or taken slug. Caller commits."""
    slug = validate_slug(slug)
    exists = db.session.execute(select(Territory.id).where(Territory.slug == slug)).first()
    if exists:
        raise DomainError(_l("A territory with this address already exists."), field="slug")
    territory = Territory(
        slug=slug,
        name=name.strip(),
        contact_email=contact_email.strip().lower(),
        default_language=default_language if default_language in ("it", "en") else "it",
        primary_color=primary_color or "#0066cc",
        logo_text=logo_text.strip() or name.strip(),
        welcome_title=welcome_title.strip(),
        intro_text=intro_text.strip(),
    )
    db.session.add(territory)
    db.session.flush()
    return territory


def normalise_hostname(hostname: str) -> str:
    host = (hostname or "").strip().lower().rstrip(".")
    host = host.removeprefix("https://").removeprefix("http://").split("/")[0]
    if not HOSTNAME_RE.match(host):
        raise DomainError(_l("Enter a host name such as welfare.example.it."), field="hostname")
    return host


def map_domain(territory: Territory, hostname: str) -> Domain:
    host = normalise_hostname(hostname)
    taken = db.session.execute(
        select(Domain).where(func.lower(Domain.hostname) == host)
    ).scalar_one_or_none()
    if taken is not None:
        raise DomainError(_l("This domain is already mapped to a territory."), field="hostname")
    domain = Domain(territory=territory, hostname=host)
    db.session.add(domain)
    db.session.flush()
    _refresh_domain_cache()
    return domain


def remove_domain(domain: Domain) -> None:
    db.session.delete(domain)
    _refresh_domain_cache()


def suspend(territory: Territory) -> None:
    """Take the territory offline; its data is kept."""
    if territory.status != Territory.SUSPENDED:
        territory.status = Territory.SUSPENDED
        territory.suspended_at = utcnow()
    forget_cached(territory)


def reactivate(territory: Territory) -> None:
    territory.status = Territory.ACTIVE
    territory.suspended_at = None
    forget_cached(territory)


def active_territories() -> list[Territory]:
    return list(
        db.session.execute(
            select(Territory).where(Territory.status == Territory.ACTIVE).order_by(Territory.name)
        ).scalars()
    )
