"""Funders of a territory: municipalities, districts, employers, foundations."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from marketplace.models import Funder

FUNDER_KIND_LABELS = {
    Funder.MUNICIPALITY: _l("Municipality"),
    Funder.DISTRICT: _l("Social district"),
    Funder.EMPLOYER: _l("Employer"),
    Funder.FOUNDATION: _l("Foundation"),
}
