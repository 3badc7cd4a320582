"""Funders' area: municipality and district officers run voucher programmes, employers' HR
run welfare credits, both see how their money is used. Every route: officers of that funder
or coordinators of the territory (``funder_required``); the URL map is in ``routes.py``."""
