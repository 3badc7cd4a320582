"""The participant details a service asks for (a name, or a name and an age), one row per
seat, read from the booking form's second step and checked with localised messages."""
from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _
from marketplace.validation import parse_int

MAX_AGE = 120


@dataclass
class ParticipantRows:
    """What the citizen typed, row by row, and what is wrong with it."""

    rows: list[dict] = field(default_factory=list)   # {"name": str, "age": str}
    errors: list[tuple[str, str]] = field(default_factory=list)  # (field id, message)

    @property
    def invalid(self) -> set[str]:
        return {field_id for field_id, _ in self.errors}

    def values(self, with_age: bool) -> list[tuple[str, int | None]]:
        return [(r["name"].strip(), int(r["age"]) if with_age else None) for r in self.rows]


def asks_for(service) -> str:
    """"" (nothing), "name" or "name_age"."""
    value = (getattr(service, "participant_fields", "") or "").strip()
    return value if value in ("name", "name_age") else ""


def read(form, count: int, fields: str) -> ParticipantRows:
    """Rows ``participant-<i>-name`` / ``participant-<i>-age`` for i in 0..count-1."""
    result = ParticipantRows()
    for i in range(count):
        name = (form.get(f"participant-{i}-name") or "").strip()
        age = (form.get(f"participant-{i}-age") or "").strip()
        result.rows.append({"name": name, "age": age})
        n = i + 1
        if not name:
            result.errors.append((f"participant-{i}-name", _("Participant %(n)d: enter the name.", n=n)))
        elif len(name) > 120:
            result.errors.append((f"participant-{i}-name",
                                  _("Participant %(n)d: the name can be at most 120 characters.", n=n)))
        if fields == "name_age":
            if not age:
                result.errors.append((f"participant-{i}-age", _("Participant %(n)d: enter the age.", n=n)))
            elif parse_int(age, 0, MAX_AGE) is None:
                result.errors.append((f"participant-{i}-age", _(
                    "Participant %(n)d: the age must be a whole number between 0 and %(max)d.", n=n, max=MAX_AGE)))
    return result


def blank(count: int) -> ParticipantRows:
    return ParticipantRows(rows=[{"name": "", "age": ""} for _ in range(count)])
