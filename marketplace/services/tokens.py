"""Single-use, expiring secrets: only their SHA-256 is stored."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets


def new_token() -> tuple[str, str]:
    """Return ``(raw, sha256_hex)``; the raw token goes in the link, the hash in the DB."""
    raw = secrets.token_urlsafe(32)
    return raw, hash_token(raw)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def expiry(seconds: int) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)
