"""The app as ``wsgi:app`` serves it, with rate limiting off: for the booking benchmark only.

The benchmark logs in 200 citizens from 127.0.0.1 and books hundreds of times a second
from the same address; the login and checkout limits (LOGIN_RATE_LIMIT,
CHECKOUT_RATE_LIMIT) would answer 429 after a few requests. Never serve this module.
"""
from marketplace.app import create_app

app = create_app(RATELIMIT_ENABLED=False)
