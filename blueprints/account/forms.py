from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, RadioField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, ValidationError

from marketplace.services.accounts import password_problem

LANGUAGE_CHOICES = [("it", "Italiano"), ("en", "English")]


PASSWORD_HINT = _l("At least 12 characters, not easy to guess: for example three or four unrelated words.")


def strong_password(form, field):
    """The password rule of ``accounts.password_problem``, knowing the account's address and
    name: from the form's ``email``/``full_name`` fields, else from ``form.account`` (an
    object with ``email`` and ``full_name`` that the view sets: the invited address, the
    user resetting or changing their password)."""
    account = getattr(form, "account", None)
    email = form.email.data if hasattr(form, "email") else getattr(account, "email", "")
    name = form.full_name.data if hasattr(form, "full_name") else getattr(account, "full_name", "")
    problem = password_problem(field.data or "", email or "", name or "")
    if problem:
        raise ValidationError(problem)


class RegisterForm(FlaskForm):
    full_name = StringField(_l("Full name"), validators=[DataRequired(_l("Enter your name.")), Length(max=120)])
    email = EmailField(_l("E-mail address"), validators=[
        DataRequired(_l("Enter your e-mail address.")),
        Email(_l("Enter a valid e-mail address, like nome@esempio.it."), check_deliverability=False),
        Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Choose a password.")), strong_password],
                             description=PASSWORD_HINT)
    confirm = PasswordField(_l("Repeat the password"), validators=[
        DataRequired(_l("Repeat the password.")), EqualTo("password", _l("The two passwords differ."))])
    locale = RadioField(_l("Language"), choices=LANGUAGE_CHOICES, default="it")
    privacy = BooleanField(_l("I have read the privacy notice"), validators=[
        DataRequired(_l("You must accept the privacy notice to register."))])


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail address"), validators=[DataRequired(_l("Enter your e-mail address."))])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password."))])
    remember = BooleanField(_l("Keep me logged in on this device"),
                            description=_l("For at most 30 days. Not for accounts with a role in a "
                                           "territory (coordination, cooperative, funder, help desk), "
                                           "which are logged out after a short inactivity."))
    next = HiddenField()


class ForgotForm(FlaskForm):
    email = EmailField(_l("E-mail address"), validators=[
        DataRequired(_l("Enter your e-mail address.")),
        Email(_l("Enter a valid e-mail address, like nome@esempio.it."), check_deliverability=False)])


class ResetForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(_l("Choose a password.")), strong_password],
                             description=PASSWORD_HINT)
    confirm = PasswordField(_l("Repeat the password"), validators=[
        DataRequired(_l("Repeat the password.")), EqualTo("password", _l("The two passwords differ."))])


class ProfileForm(FlaskForm):
    full_name = StringField(_l("Full name"), validators=[DataRequired(_l("Enter your name.")), Length(max=120)])
    phone = StringField(_l("Phone (optional)"), validators=[Optional(), Length(max=30)])
    locale = RadioField(_l("Language"), choices=LANGUAGE_CHOICES)


class PasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(_l("Enter your current password."))])
    password = PasswordField(_l("New password"), validators=[DataRequired(_l("Choose a password.")), strong_password],
                             description=PASSWORD_HINT)
    confirm = PasswordField(_l("Repeat the password"), validators=[
        DataRequired(_l("Repeat the password.")), EqualTo("password", _l("The two passwords differ."))])


class DeleteAccountForm(FlaskForm):
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password to confirm."))])
    confirm = BooleanField(_l("I understand that my account and personal data will be erased"),
                           validators=[DataRequired(_l("Tick the box to confirm."))])


class AcceptInvitationForm(FlaskForm):
    """Sign-up from an invitation: the e-mail address is the invited one."""
    full_name = StringField(_l("Full name"), validators=[DataRequired(_l("Enter your name.")), Length(max=120)])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Choose a password.")), strong_password],
                             description=PASSWORD_HINT)
    confirm = PasswordField(_l("Repeat the password"), validators=[
        DataRequired(_l("Repeat the password.")), EqualTo("password", _l("The two passwords differ."))])


class LanguageForm(FlaskForm):
    lang = HiddenField(validators=[DataRequired()])
    next = HiddenField()


# The second factor. Codes are typed, not pasted from a password manager: the fields say
# what they are to browsers and phones (a one-time code, digits).
_OTP_ATTRS = {"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9 ]*",
              "maxlength": "7", "spellcheck": "false", "autocapitalize": "off"}


class MfaCodeForm(FlaskForm):
    """The second login step: a code from the app, or a recovery code."""
    code = StringField(_l("Authentication code"), validators=[Optional(), Length(max=20)],
                       description=_l("The 6-digit code shown now by your authenticator app."),
                       render_kw=_OTP_ATTRS)
    recovery_code = StringField(_l("Recovery code"), validators=[Optional(), Length(max=20)],
                                description=_l("One of the recovery codes you saved, like abcde-23456. "
                                               "Each works once."),
                                render_kw={"autocomplete": "off", "spellcheck": "false",
                                           "autocapitalize": "off"})


class MfaEnrolForm(FlaskForm):
    code = StringField(_l("Authentication code"), validators=[
        DataRequired(_l("Enter the 6-digit code shown by your authenticator app.")), Length(max=20)],
        description=_l("The 6-digit code your authenticator app shows after adding the account."),
        render_kw=_OTP_ATTRS)


class MfaRecoveryCodesForm(FlaskForm):
    code = StringField(_l("Authentication code"), validators=[
        DataRequired(_l("Enter the 6-digit code shown by your authenticator app.")), Length(max=20)],
        description=_l("The 6-digit code shown now by your authenticator app."),
        render_kw=_OTP_ATTRS)


class MfaDisableForm(FlaskForm):
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password."))])
    code = StringField(_l("Authentication code or recovery code"), validators=[
        DataRequired(_l("Enter a code from your authenticator app or a recovery code.")), Length(max=20)],
        render_kw={"autocomplete": "one-time-code", "spellcheck": "false", "autocapitalize": "off"})
