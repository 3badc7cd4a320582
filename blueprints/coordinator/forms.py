import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length

from marketplace.models.catalogue import VERTICALS
from marketplace.validation import DB_INT_MAX, parse_int

EMAIL_VALIDATORS = [
    DataRequired(_l("Enter an e-mail address.")),
    Email(_l("Enter a valid e-mail address, like nome@esempio.it."), check_deliverability=False),
    Length(max=254),
]


class InviteCooperativeForm(FlaskForm):
    name = StringField(_l("Cooperative name"), validators=[DataRequired(_l("Enter the cooperative's name.")), Length(max=160)])
    staff_email = EmailField(_l("E-mail of its first staff member"), validators=EMAIL_VALIDATORS,
                             description=_l("We send them an invitation to complete the profile."))


class InvitePersonForm(FlaskForm):
    email = EmailField(_l("E-mail address"), validators=EMAIL_VALIDATORS)


class InviteTeamForm(InvitePersonForm):
    role = RadioField(_l("Role"), choices=[
        ("coordinator", _l("Coordinator")),
        ("help_desk", _l("Help desk operator (books for citizens who are not online)")),
    ], default="coordinator", validators=[DataRequired(_l("Choose a role."))])


class StatusForm(FlaskForm):
    status = HiddenField(validators=[DataRequired()])


class TerritoryTextsForm(FlaskForm):
    welcome_title = StringField(_l("Welcome title"), validators=[Length(max=200)])
    intro_text = TextAreaField(_l("Introduction"), validators=[Length(max=4000)],
                               description=_l("Shown on the territory's home page."))
    about_text = TextAreaField(_l("About the consortium"), validators=[Length(max=8000)])
    contact_email = EmailField(_l("Contact e-mail"), validators=EMAIL_VALIDATORS)


# ---------------------------------------------------------------------------- catalogue review

class SendBackForm(FlaskForm):
    """Send a submitted listing back to its cooperative; the comment is required by the service."""

    comment = TextAreaField(_l("What should the cooperative change?"), validators=[Length(max=4000)],
                            description=_l("The cooperative's staff read this with the listing."))


class UnpublishForm(FlaskForm):
    comment = TextAreaField(_l("Why is the service taken offline?"), validators=[Length(max=4000)],
                            description=_l("The cooperative's staff read this with the listing."))


# ---------------------------------------------------------------------------- reference data

THOUSANDS_RE = re.compile(r"^\d{1,3}(\.\d{3})+$")
FLOAT_RE = re.compile(r"^[+-]?[0-9]{1,12}([.,][0-9]{1,12})?$", re.ASCII)


class _OptionalNumber:
    """Parse an optional number typed the Italian way (``45,13``); blank means None."""

    kind = float

    def process_formdata(self, valuelist):
        self.data = None
        raw = (valuelist[0] if valuelist else "") or ""
        raw = raw.strip().replace(" ", "")
        if not raw:
            return
        if self.kind is int and THOUSANDS_RE.match(raw):
            raw = raw.replace(".", "")  # 1.200 is how Italians write 1200
        if self.kind is int:
            self.data = parse_int(raw, -DB_INT_MAX, DB_INT_MAX)
        elif FLOAT_RE.match(raw):  # ASCII digits: float() takes "nan", "inf" and "１２"
            self.data = float(raw.replace(",", "."))
        if self.data is None:
            raise ValueError(self.parse_message)

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else str(self.data)


class OptionalFloatField(_OptionalNumber, StringField):
    kind = float
    parse_message = _l("Enter a number, like 45.1333.")


class OptionalIntegerField(_OptionalNumber, StringField):
    kind = int
    parse_message = _l("Enter a whole number, like 1200.")


class CategoryForm(FlaskForm):
    vertical = RadioField(_l("Area"), choices=[], validate_choice=False)
    name = StringField(_l("Name in Italian"))
    name_en = StringField(_l("Name in English (optional)"),
                          description=_l("Shown to people who browse in English; if blank they see the Italian name."))
    position = OptionalIntegerField(_l("Position (optional)"), render_kw={"inputmode": "numeric"},
                                    description=_l("Lower numbers come first within the area."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.vertical.choices = [(code, label) for code, label in VERTICALS.items()]

    def data_for_service(self) -> dict:
        return {"vertical": self.vertical.data, "name": self.name.data, "name_en": self.name_en.data,
                "position": self.position.data}


class MunicipalityForm(FlaskForm):
    name = StringField(_l("Name"))
    province = StringField(_l("Province"),
                           description=_l("Two letters, like CR."))
    istat_code = StringField(_l("ISTAT code (optional)"),
                             description=_l("Six digits, like 019036."))
    latitude = OptionalFloatField(_l("Latitude (optional)"),
                                  description=_l("Decimal degrees between -90 and 90, like 45.1333."))
    longitude = OptionalFloatField(_l("Longitude (optional)"),
                                   description=_l("Decimal degrees between -180 and 180, like 10.0227."))
    population = OptionalIntegerField(_l("Population (optional)"), render_kw={"inputmode": "numeric"})

    def data_for_service(self) -> dict:
        return {name: getattr(self, name).data for name in
                ("name", "province", "istat_code", "latitude", "longitude", "population")}
