"""Private file store for uploaded documents (never served as static files).

Files live under ``UPLOAD_DIR`` (default ``instance/uploads``), one folder per territory,
named by a random key; the database keeps the key, the name the citizen gave, the type and
a SHA-256. Only views that checked who may see a document read it back.
"""
from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from flask import current_app


class StoredFile:
    def __init__(self, key: str, sha256: str, size: int):
        self.key, self.sha256, self.size = key, sha256, size


def _root() -> Path:
    root = Path(current_app.config.get("UPLOAD_DIR") or Path(current_app.instance_path) / "uploads")
    return root.resolve()


def _path(key: str) -> Path:
    root = _root()
    path = (root / key).resolve()
    if root not in path.parents:  # a key never leaves the store
        raise ValueError("bad storage key")
    return path


def save(territory_id: int, data: bytes, suffix: str = "") -> StoredFile:
    """Write ``data`` under a new random key in the territory's folder; returns its key,
    SHA-256 and size. The file is written before the row that names it is committed: a
    rollback leaves an orphan file, never a row without its file."""
    suffix = suffix if suffix.isalnum() and len(suffix) <= 5 else ""
    key = f"t{int(territory_id)}/{secrets.token_hex(16)}{'.' + suffix if suffix else ''}"
    path = _path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)
    return StoredFile(key, hashlib.sha256(data).hexdigest(), len(data))


def read(key: str) -> bytes:
    """The stored bytes of ``key``; FileNotFoundError if it is gone."""
    return _path(key).read_bytes()


def delete(key: str) -> None:
    """Remove a stored file (no error if it is already gone)."""
    try:
        _path(key).unlink()
    except FileNotFoundError:
        pass
