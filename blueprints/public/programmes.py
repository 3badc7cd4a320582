"""Citizens apply to funding programmes (routes on blueprints.public.funding.bp)."""
