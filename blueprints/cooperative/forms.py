from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, StringField, TextAreaField, URLField
from wtforms.validators import DataRequired, Email, Length, Optional, Regexp, URL, ValidationError

from marketplace.validation import normalise_fiscal_code, normalise_vat


def valid_vat(form, field):
    if not field.data:
        return
    try:
        field.data = normalise_vat(field.data)
    except ValueError:
        raise ValidationError(_l("This is not a valid Italian VAT number (partita IVA, 11 digits)."))


def valid_fiscal_code(form, field):
    if not field.data:
        return
    try:
        field.data = normalise_fiscal_code(field.data)
    except ValueError:
        raise ValidationError(_l("This is not a valid Italian fiscal code (codice fiscale)."))


class CooperativeProfileForm(FlaskForm):
    name = StringField(_l("Name shown to citizens"), validators=[DataRequired(_l("Enter a name.")), Length(max=160)])
    legal_name = StringField(_l("Legal name"), validators=[DataRequired(_l("Enter the legal name.")), Length(max=200)])
    fiscal_code = StringField(_l("Fiscal code"), validators=[DataRequired(_l("Enter the fiscal code.")), valid_fiscal_code],
                              description=_l("11 digits, or 16 characters."))
    vat_number = StringField(_l("VAT number (partita IVA)"), validators=[Optional(), valid_vat],
                             description=_l("11 digits."))
    address = StringField(_l("Address"), validators=[Optional(), Length(max=200)])
    postal_code = StringField(_l("Postal code (CAP)"), validators=[
        Optional(), Regexp(r"^\d{5}$", message=_l("A CAP has 5 digits."))])
    municipality = StringField(_l("Municipality"), validators=[Optional(), Length(max=100)])
    province = StringField(_l("Province"), validators=[
        Optional(), Regexp(r"^[A-Za-z]{2}$", message=_l("Use the two-letter code, e.g. CR."))])
    email = EmailField(_l("Contact e-mail"), validators=[
        DataRequired(_l("Enter an e-mail address.")),
        Email(_l("Enter a valid e-mail address, like nome@esempio.it."), check_deliverability=False)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=30)])
    website = URLField(_l("Website"), validators=[
        Optional(), URL(message=_l("Enter a full address, like https://www.esempio.it.")),
        Regexp(r"^https?://", message=_l("Enter a full address, like https://www.esempio.it."))])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=8000)])
    logo_text = StringField(_l("Logo text"), validators=[Optional(), Length(max=60)],
                            description=_l("A short name or initials shown in place of a logo."))
