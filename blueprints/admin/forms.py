from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Regexp

from blueprints.coordinator.forms import EMAIL_VALIDATORS


class TerritoryForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Enter a name.")), Length(max=120)])
    slug = StringField(_l("Address (slug)"), validators=[DataRequired(_l("Enter an address."))],
                       description=_l("Lowercase letters, digits and hyphens: the territory answers at /t/<slug>/."))
    contact_email = EmailField(_l("Contact e-mail"), validators=EMAIL_VALIDATORS)
    default_language = RadioField(_l("Default language"), choices=[("it", "Italiano"), ("en", "English")], default="it")
    primary_color = StringField(_l("Main colour"), default="#0066cc", validators=[
        Regexp(r"^#[0-9a-fA-F]{6}$", message=_l("Use a colour like #0066cc."))])
    logo_text = StringField(_l("Logo text"), validators=[Length(max=60)])
    welcome_title = StringField(_l("Welcome title"), validators=[Length(max=200)])
    intro_text = TextAreaField(_l("Introduction"), validators=[Length(max=4000)])


class DomainForm(FlaskForm):
    hostname = StringField(_l("Domain"), validators=[DataRequired(_l("Enter a domain.")), Length(max=253)],
                           description=_l("For example welfare.comune.example.it"))


class InviteCoordinatorForm(FlaskForm):
    email = EmailField(_l("E-mail of the coordinator"), validators=EMAIL_VALIDATORS)
