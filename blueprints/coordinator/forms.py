from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length

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


class StatusForm(FlaskForm):
    status = HiddenField(validators=[DataRequired()])


class TerritoryTextsForm(FlaskForm):
    welcome_title = StringField(_l("Welcome title"), validators=[Length(max=200)])
    intro_text = TextAreaField(_l("Introduction"), validators=[Length(max=4000)],
                               description=_l("Shown on the territory's home page."))
    about_text = TextAreaField(_l("About the consortium"), validators=[Length(max=8000)])
    contact_email = EmailField(_l("Contact e-mail"), validators=EMAIL_VALIDATORS)
