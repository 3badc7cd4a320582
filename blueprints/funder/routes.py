"""URL map of the funders' area, under ``/t/<territory>/funders``.

- ``index``: the funders the user may manage (coordinators also create funders there);
- ``programmes.py``: programmes, the review queue of applications, vouchers (bulk, printed);
- ``employers.py``: employees and welfare credits of an employer;
- ``dashboard.py``: the funder's dashboard, exports and period statement;
- ``delegations.py``: what the funder delegates to the coordinators, and its own audit log.
"""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("funder", __name__)

from blueprints.funder import dashboard, delegations, employers, index, programmes  # noqa: E402,F401 - routes on bp
