"""Funders' area: municipality and district officers run voucher programmes, employers' HR
run welfare credits, both see how their money is used. Every route: officers of that funder,
or coordinators of the territory as far as the funder delegated to them (``funder_required``
with a level of ``authz.FUNDER_LEVELS``); the URL map is in ``routes.py``."""
