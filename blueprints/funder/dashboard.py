"""Funders' area: dashboard (routes registered on blueprints.funder.routes.bp)."""
