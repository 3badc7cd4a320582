"""Validators for Italian identifiers and other shared input rules."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from stdnum.exceptions import ValidationError
from stdnum.it import codicefiscale, iva


def normalise_vat(value: str) -> str:
    """Return the 11-digit partita IVA or raise ValueError."""
    try:
        return iva.validate(value)
    except ValidationError as exc:
        raise ValueError(str(exc)) from exc


def normalise_fiscal_code(value: str) -> str:
    """An organisation's codice fiscale: 11 digits (as a partita IVA) or 16 characters."""
    compact = "".join(value.split()).upper()
    try:
        if compact.isdigit():
            return iva.validate(compact)
        return codicefiscale.validate(compact)
    except ValidationError as exc:
        raise ValueError(str(exc)) from exc


def _luminance(hex_colour: str) -> float:
    value = hex_colour.lstrip("#")
    channels = [int(value[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2.x contrast ratio between two ``#rrggbb`` colours."""
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


_AMOUNT = re.compile(r"^\d+(\.\d{1,2})?$", re.ASCII)


def euros_to_cents(text: str | None, *, negative_message, format_message) -> int | None:
    """'12,50', '12.50', '1.234,50' or '€ 12' as integer cents (Decimal, never float).

    Empty -> None. A minus sign raises ValueError(negative_message); anything that is not
    an amount with at most two decimals raises ValueError(format_message). Callers check
    their own bounds (a price, a credit load, a budget)."""
    raw = (text or "").strip().replace("€", "").replace(" ", "").replace("\u00a0", "")
    if not raw:
        return None
    if raw.startswith("-"):
        raise ValueError(negative_message)
    if "," in raw:  # Italian style: dots group thousands, the comma marks the cents
        raw = raw.replace(".", "").replace(",", ".")
    elif raw.count(".") > 1 or re.fullmatch(r"\d{1,3}(\.\d{3})+", raw, re.ASCII):
        raw = raw.replace(".", "")  # 1.234 or 1.234.567: thousands
    if not _AMOUNT.match(raw):
        raise ValueError(format_message)
    try:
        return int(Decimal(raw) * 100)
    except InvalidOperation:
        raise ValueError(format_message) from None


DB_INT_MAX = 2**31 - 1  # the largest id or count a database integer column holds
_DECIMAL_INT = re.compile(r"[+-]?[0-9]{1,30}", re.ASCII)


def parse_int(text, low: int | None = None, high: int | None = None, *, message=None,
              default=None) -> int | None:
    """``text`` as an ASCII decimal integer within ``low``..``high`` (inclusive), else ``default``.

    The one way input becomes a number: ``"²"``, ``"١٢٣"`` and full-width ``"１２"`` pass
    ``str.isdigit()`` and ``int()`` either raises on them or accepts them; ``"1_000"`` and
    ``" 12 "`` are accepted by ``int()`` too. Here only ``[+-]?[0-9]+`` counts (surrounding
    blanks are ignored). With ``message`` a bad or out-of-range value raises
    ``ValueError(message)`` (a localised text for the form) instead of giving ``default``.
    Empty or None is ``default`` (no error). Ints are passed through, checked."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return default
    if isinstance(text, bool):
        value = None
    elif isinstance(text, int):
        value = text
    else:
        raw = str(text).strip()
        value = int(raw) if _DECIMAL_INT.fullmatch(raw) else None
    if value is None or (low is not None and value < low) or (high is not None and value > high):
        if message is not None:
            raise ValueError(str(message))
        return default
    return value


def parse_id(text) -> int | None:
    """A row id from a query string or form (1..2**31-1), or None: a missing row."""
    return parse_int(text, 1, DB_INT_MAX)
