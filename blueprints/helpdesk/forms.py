"""Forms of assisted booking (help desk and cooperative counter)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, StringField
from wtforms.validators import DataRequired, Length, Optional

LANGUAGES = [("it", _l("Italian")), ("en", _l("English"))]


class FindCitizenForm(FlaskForm):
    contact = StringField(_l("E-mail or phone number"),
                          validators=[DataRequired(_l("Enter an e-mail address or a phone number.")),
                                      Length(max=254)],
                          description=_l("Exactly as the citizen gives it; spaces in phone numbers do not matter."),
                          render_kw={"autocomplete": "off", "spellcheck": "false"})


class NewCitizenForm(FlaskForm):
    full_name = StringField(_l("Name and surname"), render_kw={"autocomplete": "off"})
    email = StringField(_l("E-mail (optional if a phone is given)"),
                        description=_l("We send the citizen a link to choose a password and the booking confirmation."),
                        render_kw={"autocomplete": "off", "inputmode": "email", "spellcheck": "false"})
    phone = StringField(_l("Phone (optional if an e-mail is given)"),
                        render_kw={"autocomplete": "off", "inputmode": "tel"})
    language = RadioField(_l("Language of the messages"), choices=LANGUAGES, default="it",
                          validators=[DataRequired(_l("Choose a language."))])


class AssistedBookForm(FlaskForm):
    """Ticket quantities and participant names travel as plain inputs (one per ticket type),
    as on the citizen's booking page; consent and payment are checked by the service."""

    consent = BooleanField(_l("The citizen agreed that we book on their behalf and use their contact "
                              "details for this booking"))
    payment = RadioField(_l("Payment"), choices=[
        ("desk", _l("Paid at the desk (cash or POS)")),
        ("link", _l("Send a payment link by e-mail")),
    ], default="desk", validate_choice=False)
    voucher_code = StringField(_l("Printed voucher code (optional)"), description=_l(
        "The citizen's voucher pays first; the desk or the link takes the rest."),
        validators=[Optional(), Length(max=40)], filters=[lambda v: (v or "").strip()])
