"""Validators for Italian identifiers and other shared input rules."""
from __future__ import annotations

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
