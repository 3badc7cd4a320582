"""Welfare-services marketplace: the domain, independent of HTTP."""
