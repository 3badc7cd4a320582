"""The catalogue's query string -> SearchParams, with localised messages for bad values."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from marketplace.models.catalogue import LANGUAGES, VERTICALS
from marketplace.services.catalogue import SORTS, SearchParams
from marketplace.validation import parse_int

TRUE = {"1", "true", "on", "yes", "y"}


MAX_ID = 2**31 - 1


def _int(args, name, errors, low=None, high=None, message=None):
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    value = parse_int(raw)  # ASCII digits only: int() takes "１２" and "1_0"
    if value is None:
        errors[name] = message or _l("Enter a whole number.")
        return None
    if (low is not None and value < low) or (high is not None and value > high):
        errors[name] = message or _l("Enter a number between %(low)s and %(high)s.", low=low, high=high)
        return None
    return value


def parse(args, per_page: int = 20) -> tuple[SearchParams, dict]:
    """Read filters from a query string; unknown or bad values are reported, not obeyed."""
    errors: dict = {}
    p = SearchParams(per_page=per_page)
    p.q = (args.get("q") or "").strip()[:200]
    vertical = args.get("vertical") or None
    if vertical and vertical not in VERTICALS:
        errors["vertical"] = _l("Unknown area.")
        vertical = None
    p.vertical = vertical
    p.category_id = _int(args, "category", errors, 1, MAX_ID)
    p.municipality_id = _int(args, "municipality", errors, 1, MAX_ID)
    p.age = _int(args, "age", errors, 0, 120, _l("Enter an age between 0 and 120."))
    price = args.get("price") or ""
    if price not in ("", "free", "paid"):
        errors["price"] = _l("Unknown price filter.")
    p.free = True if price == "free" else False if price == "paid" else None
    p.voucher = (args.get("voucher") or "").lower() in TRUE
    p.welfare = (args.get("welfare") or "").lower() in TRUE
    p.accessible = (args.get("accessible") or "").lower() in TRUE
    language = args.get("language") or None
    if language and language not in LANGUAGES:
        errors["language"] = _l("Unknown language.")
        language = None
    p.language = language
    sort = args.get("sort") or "relevance"
    if sort not in SORTS:
        errors["sort"] = _l("Unknown sort order.")
        sort = "relevance"
    p.sort = sort
    p.near_id = _int(args, "near", errors, 1, MAX_ID)
    if p.sort == "nearest" and not p.near_id:
        p.near_id = p.municipality_id
    p.page = _int(args, "page", errors, 1, 10_000) or 1
    return p, errors
