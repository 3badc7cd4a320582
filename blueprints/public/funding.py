"""Citizens and funding: programmes to apply to, applications, and the wallet of vouchers
and welfare credits. URL map:

- ``programmes.py`` beside this: ``/programmes``, ``/programmes/<id>``, ``/applications...``
- ``wallet.py`` beside this: ``/wallet`` (vouchers, credits, movements), joining an employer,
  adding a printed voucher code.
"""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("public_funding", __name__)

from blueprints.public import programmes, wallet  # noqa: E402,F401 - routes on bp
