"""Jinja filters: money, safe Markdown, labels of catalogue codes."""
from __future__ import annotations

import markdown as md
import nh3
from flask_babel import format_currency
from markupsafe import Markup

ALLOWED_TAGS = {"p", "br", "strong", "em", "ul", "ol", "li", "a", "h3", "h4", "blockquote", "code"}


def money(cents: int | None) -> str:
    """Integer cents as a localised euro amount (e.g. 12,50 €)."""
    if cents is None:
        return ""
    return format_currency(cents / 100, "EUR")


def markdown_safe(text: str | None) -> Markup:
    """Markdown to HTML with only harmless tags and links kept (no scripts, no styles)."""
    html = md.markdown(text or "", extensions=["sane_lists"])
    # Headings inside a service page start at h3 so the page outline stays right.
    for level, target in (("h1", "h3"), ("h2", "h3")):
        html = html.replace(f"<{level}>", f"<{target}>").replace(f"</{level}>", f"</{target}>")
    clean = nh3.clean(html, tags=ALLOWED_TAGS, attributes={"a": {"href", "title"}},
                      url_schemes={"http", "https", "mailto", "tel"}, link_rel="noopener nofollow")
    return Markup(clean)


def register(app) -> None:
    from marketplace.models.catalogue import DELIVERY_MODES, LANGUAGES, PRICE_MODELS, VERTICALS

    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["markdown"] = markdown_safe
    app.jinja_env.globals.update(VERTICALS=VERTICALS, PRICE_MODELS=PRICE_MODELS,
                                 DELIVERY_MODES=DELIVERY_MODES, LANGUAGES=LANGUAGES)
