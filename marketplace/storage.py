"""Private file store for uploaded documents (never served as static files).

Files live under ``UPLOAD_DIR`` (default ``instance/uploads``), one folder per territory,
named by a random key with the extension of the file's detected type; the database keeps
the key, the name the citizen gave (made safe, with that same extension), the type and a
SHA-256. Only views that checked who may see a document read it back, and they serve it
with its detected type and extension (``download_name``), never the sender's.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import unicodedata
from pathlib import Path

from flask import current_app


# What a document really is, told by its first bytes (never by its name or the browser).
DOCUMENT_TYPES = (
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
)
OCTET_STREAM = "application/octet-stream"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The extension a file of each type is stored and downloaded with.
EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg", "image/webp": "webp",
              XLSX: "xlsx", "text/csv": "csv", "text/calendar": "ics", OCTET_STREAM: "bin"}
MAX_NAME = 200


def detect_type(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) of a PDF, PNG or JPEG judged by its first bytes; None for
    anything else."""
    for magic, content_type, suffix in DOCUMENT_TYPES:
        if data.startswith(magic):
            return content_type, suffix
    return None


def display_name(filename: str | None, suffix: str, default: str = "document") -> str:
    """The name a file is shown and downloaded under: the sender's name made safe (ASCII,
    werkzeug's secure_filename) with ``suffix``, the extension of its detected type, in place
    of the sender's own: "isee.html" holding a PDF is "isee.pdf", "a.pdf.exe" "a_pdf.pdf".
    Never used as a path."""
    from werkzeug.utils import secure_filename

    name = secure_filename(unicodedata.normalize("NFKD", filename or "").encode("ascii", "ignore").decode())
    stem = name.rpartition(".")[0] if "." in name else name
    stem = stem.replace(".", "_").strip("._") or default
    suffix = suffix if suffix.isalnum() else "bin"
    return f"{stem[:MAX_NAME - len(suffix) - 1]}.{suffix}"


def download_name(filename: str | None, content_type: str) -> str:
    """``display_name`` for a file of ``content_type``: rows stored before names took their
    detected type's extension ("isee.html" with a PDF) download as "isee.pdf" too."""
    return display_name(filename, EXTENSIONS.get(content_type.split(";")[0].strip().lower(), "bin"))


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
