"""Funders' area: employers (routes registered on blueprints.funder.routes.bp)."""
