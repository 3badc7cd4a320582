"""Issue 12, least privilege and output: uploaded documents keep the extension of their
detected type, API tokens of a suspended cooperative or past their expiry stop working,
messages that quote user input are escaped, XLSX exports never hold a formula, and private
downloads are never cached. Everything through HTTP."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from marketplace.models import Slot
from tenants.scoping import territory_scope
from tests.conftest import login, post

SCRIPT = "<script>alert(1)</script>"


# ---------------------------------------------------------------------------- escaping

def test_a_message_quoting_user_input_is_escaped(client, make, db):
    """A DomainError built with lazy_gettext("“%(value)s” is not a date", value=...) and
    shown as a form error: Jinja escapes what the user typed."""
    territory = make.territory("cremona")
    coop = make.cooperative(territory, name="Il Girasole")
    staff = make.staff(coop, locale="en")
    service = make.service(coop, status="published")
    login(client, staff.email)
    url = f"/t/cremona/cooperative/{coop.id}/services/{service.id}/slots/weekly"
    monday = dt.date.today() + dt.timedelta(days=7 - dt.date.today().weekday() + 7)
    data = {"weekdays": ["0"], "from_date": monday.isoformat(), "to_date": (monday + dt.timedelta(days=14)).isoformat(),
            "exceptions": SCRIPT, "start_time": "09:00", "end_time": "12:00", "capacity": "8", "price": "0"}
    response = post(client, url, data, token_from=url)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "is not a date" in html
    assert "&lt;script&gt;alert(1)" in html
    assert "<script>alert(1)" not in html
    with territory_scope(territory.id):
        assert db.session.execute(select(Slot)).first() is None
