"""Funders' area: programmes (routes registered on blueprints.funder.routes.bp)."""
