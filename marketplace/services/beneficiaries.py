"""The beneficiaries a cooperative registers: its own reference, an optional name seen only by
the cooperative, and optional profile bands for fairness analysis, kept only with the
person's consent (recorded with who recorded it). Reports know them by pseudonym only.

Runs inside a territory scope and the caller's transaction; the caller commits.
"""
from __future__ import annotations

import math
import re

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from marketplace.extensions import db
from marketplace.models import Beneficiary, Cooperative, Municipality
from marketplace.models.base import utcnow
from marketplace.models.delivery import AGE_BANDS, INCOME_BANDS, SEXES
from marketplace.services import DomainError
from marketplace.validation import parse_id

PAGE_SIZE = 50
REF_RE = re.compile(r"^[A-Za-z0-9._/\-]{1,64}$")   # the same rule as delivery rows
PROFILE_FIELDS = ("age_band", "sex", "municipality_id", "disability", "income_band")
SEX_LABELS = {"f": _l("Female"), "m": _l("Male"), "x": _l("Other or not stated")}
INCOME_BAND_LABELS = {
    "isee_0_7000": _l("ISEE up to 7.000 €"),
    "isee_7000_15000": _l("ISEE 7.000–15.000 €"),
    "isee_15000_25000": _l("ISEE 15.000–25.000 €"),
    "isee_25000_40000": _l("ISEE 25.000–40.000 €"),
    "isee_over_40000": _l("ISEE over 40.000 €"),
}
assert set(SEX_LABELS) == set(SEXES) and set(INCOME_BAND_LABELS) == set(INCOME_BANDS)


def page_of(cooperative: Cooperative, page: int = 1, q: str = "",
            per_page: int = PAGE_SIZE) -> tuple[list[Beneficiary], int, int, int]:
    """The cooperative's beneficiaries by reference, optionally matching ``q`` in the
    reference, name or pseudonym: (rows, total, page, pages)."""
    where = [Beneficiary.cooperative_id == cooperative.id]
    q = (q or "").strip()[:64]
    if q:
        like = f"%{q.replace('%', '').replace('_', '')}%"
        where.append(or_(Beneficiary.external_ref.ilike(like), Beneficiary.display_name.ilike(like),
                         Beneficiary.pseudonym.ilike(like)))
    query = select(Beneficiary).where(*where)
    total = db.session.execute(select(func.count(Beneficiary.id)).where(*where)).scalar_one()
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    rows = db.session.execute(query.options(selectinload(Beneficiary.municipality))
                              .order_by(Beneficiary.external_ref).limit(per_page)
                              .offset((page - 1) * per_page)).scalars().all()
    return list(rows), total, page, pages


def references(cooperative: Cooperative, limit: int = 2000) -> list[str]:
    return list(db.session.execute(select(Beneficiary.external_ref).where(
        Beneficiary.cooperative_id == cooperative.id).order_by(Beneficiary.external_ref).limit(limit)).scalars())


def of_cooperative(cooperative: Cooperative, beneficiary_id: int) -> Beneficiary | None:
    beneficiary = db.session.get(Beneficiary, beneficiary_id)
    if beneficiary is None or beneficiary.cooperative_id != cooperative.id:
        return None
    return beneficiary


def save(cooperative: Cooperative, beneficiary: Beneficiary | None, data: dict, user) -> tuple[Beneficiary, bool]:
    """Create (``beneficiary`` None) or update a beneficiary from ``data`` (external_ref,
    display_name, consent, and the profile fields). The profile is kept only with
    ``consent``; without it every profile field and the consent are cleared. Returns
    (beneficiary, profile_dropped): whether profile values were given but not kept.
    Raises DomainError naming the field."""
    ref = (data.get("external_ref") or "").strip()
    if not ref:
        raise DomainError(_l("Enter the cooperative's reference for this person."), field="external_ref")
    if not REF_RE.match(ref):
        raise DomainError(_l("Use at most 64 letters, digits and . _ / - (no spaces)."), field="external_ref")
    clash = select(Beneficiary.id).where(Beneficiary.cooperative_id == cooperative.id, Beneficiary.external_ref == ref)
    if beneficiary is not None:
        clash = clash.where(Beneficiary.id != beneficiary.id)
    if db.session.execute(clash).first() is not None:
        raise DomainError(_l("Another beneficiary of the cooperative has this reference."), field="external_ref")
    name = (data.get("display_name") or "").strip()
    if len(name) > 120:
        raise DomainError(_l("At most %(n)d characters.", n=120), field="display_name")
    profile = _profile(data)
    if beneficiary is None:
        beneficiary = Beneficiary(territory_id=cooperative.territory_id, cooperative_id=cooperative.id,
                                  external_ref=ref)
        db.session.add(beneficiary)
    beneficiary.external_ref = ref
    beneficiary.display_name = name
    dropped = False
    if data.get("consent"):
        for key, value in profile.items():
            setattr(beneficiary, key, value)
        if beneficiary.consent_at is None:
            beneficiary.consent_at = utcnow()
            beneficiary.consent_by_id = user.id
    else:
        dropped = any(value is not None for value in profile.values())
        for key in PROFILE_FIELDS:
            setattr(beneficiary, key, None)
        beneficiary.consent_at = None
        beneficiary.consent_by_id = None
    db.session.flush()
    return beneficiary, dropped


def _profile(data: dict) -> dict:
    age = data.get("age_band") or None
    if age is not None and age not in AGE_BANDS:
        raise DomainError(_l("Choose an age band from the list."), field="age_band")
    sex = data.get("sex") or None
    if sex is not None and sex not in SEXES:
        raise DomainError(_l("Choose from the list."), field="sex")
    income = data.get("income_band") or None
    if income is not None and income not in INCOME_BANDS:
        raise DomainError(_l("Choose an income band from the list."), field="income_band")
    municipality_id = data.get("municipality_id") or None
    if municipality_id is not None:
        municipality_id = parse_id(municipality_id)
        if municipality_id is None or db.session.get(Municipality, municipality_id) is None:
            raise DomainError(_l("This municipality is not in the territory's list."), field="municipality_id")
    disability = {"yes": True, "no": False}.get(data.get("disability") or "")
    return {"age_band": age, "sex": sex, "municipality_id": municipality_id, "disability": disability,
            "income_band": income}
