from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Regexp, ValidationError

from marketplace.validation import contrast_ratio

from blueprints.coordinator.forms import EMAIL_VALIDATORS


def readable_on_white_text(form, field):
    """The header shows white text on this colour: it must reach WCAG AA (4.5:1)."""
    if field.data and len(field.data) == 7 and contrast_ratio(field.data, "#ffffff") < 4.5:
        raise ValidationError(_l("White text on this colour is hard to read: choose a darker colour "
                                 "(contrast at least 4.5:1)."))


class TerritoryForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Enter a name.")), Length(max=120)])
    slug = StringField(_l("Address (slug)"), validators=[DataRequired(_l("Enter an address."))],
                       description=_l("Lowercase letters, digits and hyphens: the territory answers at /t/slug/."))
    contact_email = EmailField(_l("Contact e-mail"), validators=EMAIL_VALIDATORS)
    default_language = RadioField(_l("Default language"), choices=[("it", "Italiano"), ("en", "English")], default="it")
    primary_color = StringField(_l("Main colour"), default="#0066cc", validators=[
        Regexp(r"^#[0-9a-fA-F]{6}$", message=_l("Use a colour like #0066cc.")), readable_on_white_text])
    logo_text = StringField(_l("Logo text"), validators=[Length(max=60)])
    welcome_title = StringField(_l("Welcome title"), validators=[Length(max=200)])
    intro_text = TextAreaField(_l("Introduction"), validators=[Length(max=4000)])


class DomainForm(FlaskForm):
    hostname = StringField(_l("Domain"), validators=[DataRequired(_l("Enter a domain.")), Length(max=253)],
                           description=_l("For example welfare.comune.example.it"))


class InviteCoordinatorForm(FlaskForm):
    email = EmailField(_l("E-mail of the coordinator"), validators=EMAIL_VALIDATORS)
