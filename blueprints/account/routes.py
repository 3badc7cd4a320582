"""Accounts: one account for every territory. Each page answers at /account/... and,
inside a territory (its look, its domain), at /t/<slug>/account/...
"""
from __future__ import annotations

import time

from flask import (
    Blueprint, abort, current_app, flash, g, make_response, redirect, render_template, request,
    session, url_for,
)
from flask_babel import gettext as _, ngettext
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from blueprints.account.forms import (
    AcceptInvitationForm, DeleteAccountForm, ForgotForm, LanguageForm, LoginForm,
    MfaCodeForm, MfaDisableForm, MfaEnrolForm, MfaRecoveryCodesForm, PasswordForm,
    ProfileForm, RegisterForm, ResetForm,
)
from blueprints.common import ActionForm, form_error, login_required_here, safe_next
from marketplace.extensions import db, rate_limit
from marketplace.models import Membership, Territory, User
from marketplace.services import DomainError, accounts, invitations, mfa, sessions, throttle
from tenants.scoping import unscoped

bp = Blueprint("account", __name__)


def route(rule: str, **options):
    """Register ``/account<rule>`` and ``/t/<territory>/account<rule>`` for one view."""

    def decorator(view):
        bp.add_url_rule("/t/<territory>/account" + rule, view_func=view, **options)
        bp.add_url_rule("/account" + rule, view_func=view, **options)
        return view

    return decorator


def _home() -> str:
    if g.get("territory") is not None:
        return url_for("public.home")
    return url_for("platform.home")


def _sign_in(user: User, remember: bool = False) -> None:
    """Log ``user`` in (every factor checked): a new server-side session, a fresh cookie
    session (no fixation) in the user's language. A login this browser still had ends. Commits."""
    sessions.revoke(sessions.current())
    row = sessions.start(user, remember=remember, user_agent=request.user_agent.string,
                         ip=request.remote_addr or "")
    db.session.commit()
    lang = session.get("lang")
    session.clear()
    login_user(user, remember=row.remember)
    if user.locale or lang:
        session["lang"] = user.locale or lang


def _end_cookie_session() -> None:
    """Forget the login in this browser (cookie session and remember-me), keeping the language."""
    logout_user()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


# The second login step. The pending login (who, until when, remember-me, where next) sits in
# the signed cookie session; no session row exists until the code is right. Wrong codes are
# counted on the account (services/mfa.py), since a client could replay an older cookie.
PENDING_KEY = "mfa_pending"
PENDING_SECONDS = 5 * 60


def _pending_user() -> tuple[User | None, dict]:
    pending = session.get(PENDING_KEY) or {}
    if not pending or pending.get("until", 0) < time.time():
        return None, {}
    user = db.session.get(User, pending.get("user_id"))
    if user is None or user.deleted_at is not None or not user.mfa_enabled:
        return None, {}
    return user, pending


@route("/register", methods=["GET", "POST"])
@rate_limit("SIGNUP_RATE_LIMIT")
def register():
    if current_user.is_authenticated:
        return redirect(_home())
    form = RegisterForm()
    if request.method == "GET":
        form.locale.data = str(session.get("lang") or (g.territory.default_language if g.get("territory") else "it"))
    if form.validate_on_submit():
        # The same answer for a new and a taken address (the holder of a taken one is
        # e-mailed instead), and nobody is logged in: the e-mail is the next step.
        accounts.sign_up(form.email.data, form.password.data, form.full_name.data,
                         locale=form.locale.data, territory=g.get("territory"))
        db.session.commit()
        session["lang"] = form.locale.data
        session["registered_email"] = accounts.normalise_email(form.email.data)
        return redirect(url_for("account.check_email"))
    return render_template("account/register.html", form=form), 422 if form.errors else 200


@route("/check-email")
def check_email():
    """After registering (anonymous: the address just given) or for a signed-in account
    still to be confirmed."""
    if not current_user.is_authenticated and not session.get("registered_email"):
        return redirect(url_for("account.login"))
    return render_template("account/check_email.html", registered_email=session.get("registered_email"))


@route("/confirm/<token>")
def confirm(token: str):
    try:
        user = accounts.confirm_email(token)
    except DomainError as exc:
        db.session.rollback()
        return render_template("account/message.html", title=_("Confirmation failed"),
                               message=exc.message), 400
    db.session.commit()
    flash(_("Your e-mail address is confirmed."), "success")
    if current_user.is_authenticated and current_user.id == user.id:
        return redirect(_home())
    return redirect(url_for("account.login"))


@route("/confirm/resend", methods=["POST"])
@login_required_here
@rate_limit("RESET_RATE_LIMIT")
def resend_confirmation():
    if not current_user.is_confirmed:
        accounts.send_confirmation(current_user, territory=g.get("territory"))
        db.session.commit()
    flash(_("We sent a new confirmation link to %(email)s.", email=current_user.email), "info")
    return redirect(url_for("account.check_email"))


@route("/login", methods=["GET", "POST"])
@rate_limit("LOGIN_RATE_LIMIT")
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        wait = throttle.login_locked(form.email.data)
        if wait:
            return _account_locked(form, wait)
        user = accounts.authenticate(form.email.data, form.password.data)
        if user is None:
            throttle.login_failed(form.email.data, territory=g.get("territory"))
            db.session.commit()  # the lock notice, when this failure locked the account
            form.form_errors.append(_("E-mail address or password not correct."))
        elif user.mfa_enabled:
            throttle.clear_login_failures(form.email.data)
            mfa.reset_failures(user)
            sessions.revoke(sessions.current())  # a login this browser still had ends
            db.session.commit()
            _end_cookie_session()
            session[PENDING_KEY] = {"user_id": user.id, "until": int(time.time()) + PENDING_SECONDS,
                                    "remember": bool(form.remember.data), "next": form.next.data or ""}
            return redirect(url_for("account.login_code"))
        else:
            throttle.clear_login_failures(form.email.data)
            _sign_in(user, remember=form.remember.data)
            return redirect(safe_next(form.next.data, _home()))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("account/login.html", form=form), status


def _account_locked(form, wait: int):
    """The login page, 429: too many failed attempts on this account (from any IP)."""
    minutes = max(1, -(-wait // 60))
    form.form_errors.append(ngettext(
        "Too many failed attempts to log in to this account. To protect it, logging in is "
        "paused: try again in %(num)d minute, or choose a new password with \"Forgot your "
        "password?\".",
        "Too many failed attempts to log in to this account. To protect it, logging in is "
        "paused: try again in %(num)d minutes, or choose a new password with \"Forgot your "
        "password?\".", minutes))
    response = make_response(render_template("account/login.html", form=form), 429)
    response.headers["Retry-After"] = str(wait)
    return response


@route("/login/code", methods=["GET", "POST"])
@rate_limit("LOGIN_RATE_LIMIT")
def login_code():
    """The second step of a login with a second factor: a TOTP or a recovery code."""
    user, pending = _pending_user()
    if user is None:
        session.pop(PENDING_KEY, None)
        flash(_("Your login has expired. Please enter your e-mail address and password again."), "info")
        return redirect(url_for("account.login"))
    form = MfaCodeForm()
    if form.validate_on_submit():
        code = form.code.data or form.recovery_code.data or ""
        if not code.strip():
            form.code.errors.append(_("Enter the 6-digit code shown by your authenticator app."))
        elif not mfa.take_attempt(user):
            db.session.commit()
            return _drop_pending_login()
        elif mfa.verify(user, code):
            mfa.reset_failures(user)
            session.pop(PENDING_KEY, None)
            _sign_in(user, remember=pending.get("remember", False))
            return redirect(safe_next(pending.get("next"), _home()))
        else:
            db.session.commit()
            if mfa.attempts_exhausted(user):
                return _drop_pending_login()
            form.code.errors.append(_("This code is not correct or has already been used."))
    status = 422 if form.errors else 200
    return render_template("account/login_code.html", form=form), status


def _drop_pending_login():
    session.pop(PENDING_KEY, None)
    flash(_("Too many wrong codes. Please log in again."), "error")
    return redirect(url_for("account.login"))


@route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        sessions.revoke(sessions.current())
        db.session.commit()
    _end_cookie_session()
    flash(_("You are logged out."), "info")
    return redirect(_home())


@route("/sessions/end-all", methods=["POST"])
@login_required_here
def end_all_sessions():
    """Log out everywhere: every session of the account ends, this one included."""
    if ActionForm().validate_on_submit():
        sessions.revoke_all(current_user._get_current_object())
        db.session.commit()
        _end_cookie_session()
        flash(_("You have been logged out on every device."), "success")
        return redirect(url_for("account.login"))
    abort(400)


@route("/forgot", methods=["GET", "POST"])
@rate_limit("RESET_RATE_LIMIT")
def forgot_password():
    form = ForgotForm()
    if form.validate_on_submit():
        accounts.request_password_reset(form.email.data, territory=g.get("territory"))
        db.session.commit()
        # The same answer whether or not the address has an account.
        return render_template("account/message.html", title=_("Check your e-mail"), message=_(
            "If an account exists for %(email)s, we sent it a link to choose a new password. "
            "The link is valid for one hour.", email=form.email.data))
    return render_template("account/forgot.html", form=form), 422 if form.errors else 200


@route("/reset/<token>", methods=["GET", "POST"])
@rate_limit("RESET_RATE_LIMIT")
def reset_password(token: str):
    try:
        reset = accounts.check_reset_token(token)
    except DomainError as exc:
        return render_template("account/message.html", title=_("Reset failed"), message=exc.message), 400
    form = ResetForm()
    form.account = reset.user  # the password must not be guessable from its address or name
    if form.validate_on_submit():
        user = accounts.reset_password(token, form.password.data)
        db.session.commit()
        throttle.clear_login_failures(user.email)  # the mailbox's owner: let them in now
        logout_user()
        flash(_("Your password has been changed. You can log in now."), "success")
        return redirect(url_for("account.login"))
    return render_template("account/reset.html", form=form), 422 if form.errors else 200


@route("/", methods=["GET", "POST"])
@login_required_here
def profile():
    form = ProfileForm(obj=current_user)
    if form.validate_on_submit():
        current_user.full_name = form.full_name.data.strip()
        current_user.phone = (form.phone.data or "").strip()
        if form.locale.data in ("it", "en"):
            current_user.locale = form.locale.data
            session["lang"] = form.locale.data
        db.session.commit()
        flash(_("Profile saved."), "success")
        return redirect(url_for("account.profile"))
    return _profile_page(form, PasswordForm(prefix="pw"), 422 if form.errors else 200)


def _profile_page(form, password_form, status: int):
    user = current_user._get_current_object()
    return render_template(
        "account/profile.html", form=form, password_form=password_form, roles=_my_roles(),
        open_sessions=sessions.active_sessions(user), this_session=sessions.current(),
        mfa_required=mfa.mfa_required_for(user),
    ), status


def _my_roles():
    """(role, territory, cooperative) for every territory: the profile lists them all."""
    with unscoped():
        rows = db.session.execute(
            select(Membership, Territory)
            .join(Territory, Territory.id == Membership.territory_id)
            .where(Membership.user_id == current_user.id)
            .order_by(Territory.name)
        ).all()
        return [(m.role, t, m.cooperative) for m, t in rows]


@route("/password", methods=["POST"])
@login_required_here
def change_password():
    password_form = PasswordForm(prefix="pw")
    password_form.account = current_user
    if password_form.validate_on_submit():
        try:
            accounts.change_password(current_user, password_form.current_password.data,
                                     password_form.password.data, keep_session=sessions.current())
        except DomainError as exc:
            form_error(password_form, exc)
        else:
            db.session.commit()
            flash(_("Your password has been changed. Your other sessions have been ended."), "success")
            return redirect(url_for("account.profile"))
    form = ProfileForm(obj=current_user, formdata=None)
    return _profile_page(form, password_form, 422)


@route("/delete", methods=["GET", "POST"])
@login_required_here
def delete_account():
    form = DeleteAccountForm()
    if form.validate_on_submit():
        if not current_user.check_password(form.password.data):
            form.password.errors = [_("The password is not correct.")]
        else:
            user = current_user._get_current_object()
            accounts.delete_account(user)
            db.session.commit()
            logout_user()
            session.clear()
            flash(_("Your account has been deleted and your personal data erased."), "success")
            return redirect(_home())
    return render_template("account/delete.html", form=form), 422 if form.errors else 200


@route("/language", methods=["GET", "POST"])
def set_language():
    """Switch the interface language. A plain link (GET) does it, so that public pages
    carry no per-visitor token and can be shared from the page cache; only the display
    language changes, so there is nothing to forge."""
    if request.method == "GET":
        lang, next_url = request.args.get("lang"), request.args.get("next")
    else:
        form = LanguageForm()
        valid = form.validate_on_submit()
        lang, next_url = (form.lang.data if valid else None), form.next.data
    if lang in ("it", "en"):
        session["lang"] = lang
        if current_user.is_authenticated and current_user.locale != lang:
            current_user.locale = lang
            db.session.commit()
    return redirect(safe_next(next_url, _home()))


@bp.route("/t/<territory>/account/invitation/<token>", methods=["GET", "POST"])
@rate_limit("SIGNUP_RATE_LIMIT")
def accept_invitation(token: str):
    try:
        invitation = invitations.find_open_invitation(token)
    except DomainError as exc:
        return render_template("account/message.html", title=_("Invitation not valid"),
                               message=exc.message), 400
    existing = accounts.find_user_by_email(invitation.email)
    form = AcceptInvitationForm()
    form.account = invitation  # its address; the name is the form's
    if current_user.is_authenticated:
        if current_user.email.lower() != invitation.email.lower():
            return render_template("account/invitation.html", invitation=invitation,
                                   mismatch=True, form=None), 403
        if ActionForm().validate_on_submit():
            invitations.accept(invitation, current_user)
            sessions.promote(sessions.current())  # a role now: the shorter session rules
            db.session.commit()
            flash(_("Invitation accepted."), "success")
            return redirect(_landing_for(invitation))
        return render_template("account/invitation.html", invitation=invitation, form=None,
                               action_form=ActionForm())
    if existing is not None:
        return render_template("account/invitation.html", invitation=invitation,
                               needs_login=True, form=None)
    if form.validate_on_submit():
        user = accounts.register(invitation.email, form.password.data, form.full_name.data,
                                 locale=g.territory.default_language, confirmed=True)
        invitations.accept(invitation, user)
        db.session.flush()
        _sign_in(user)
        flash(_("Welcome! Your account is ready."), "success")
        return redirect(_landing_for(invitation))
    return render_template("account/invitation.html", invitation=invitation, form=form), \
        422 if form.errors else 200


def _landing_for(invitation) -> str:
    if invitation.role == Membership.COORDINATOR:
        return url_for("coordinator.dashboard")
    if invitation.role == Membership.HELP_DESK:
        return url_for("helpdesk.index")
    if invitation.role == Membership.FUNDER and invitation.funder_id:
        return url_for("funder.home", funder_id=invitation.funder_id)
    return url_for("cooperative.home", coop_id=invitation.cooperative_id)


# The second factor: enrolment, recovery codes, turning it off. The page lives at /account/mfa.

@route("/mfa", methods=["GET", "POST"])
@login_required_here
def mfa_setup():
    """Enrolment (QR code, the secret as text, a first code to confirm) or, once enrolled,
    the page to renew recovery codes or turn the factor off."""
    user = current_user._get_current_object()
    if user.mfa_enabled:
        return _mfa_manage_page(MfaRecoveryCodesForm(prefix="rc"), MfaDisableForm(prefix="off"), 200)
    secret = mfa.begin_enrolment(user)
    db.session.commit()
    form = MfaEnrolForm()
    if form.validate_on_submit():
        codes = mfa.confirm_enrolment(user, form.code.data)
        if codes is None:
            form.code.errors.append(_("This code is not correct. Check the clock of your phone "
                                      "and enter the code shown now."))
        else:
            # Sessions opened with the password alone end; this one carries on.
            sessions.revoke_all(user, keep=sessions.current())
            db.session.commit()
            flash(_("Two-step verification is on."), "success")
            return _recovery_codes_page(codes)
    response = current_app.make_response((render_template(
        "account/mfa_enrol.html", form=form, required=mfa.mfa_required_for(user),
        secret=mfa.format_secret(secret),
        qr=mfa.qr_svg(user, _("QR code to add your account to an authenticator app")),
    ), 422 if form.errors else 200))
    response.headers["Cache-Control"] = "no-store"  # the secret is on the page
    return response


def _recovery_codes_page(codes: list[str]):
    """Shown once, right after they are made: only their hashes are kept."""
    response = current_app.make_response(render_template("account/mfa_recovery_codes.html", codes=codes))
    response.headers["Cache-Control"] = "no-store"
    return response


def _mfa_manage_page(codes_form, disable_form, status: int):
    user = current_user._get_current_object()
    return render_template(
        "account/mfa_manage.html", codes_form=codes_form, disable_form=disable_form,
        codes_left=mfa.recovery_codes_left(user), required=mfa.mfa_required_for(user),
    ), status


@route("/mfa/recovery-codes", methods=["POST"])
@rate_limit("LOGIN_RATE_LIMIT")
@login_required_here
def mfa_recovery_codes():
    user = current_user._get_current_object()
    if not user.mfa_enabled:
        return redirect(url_for("account.mfa_setup"))
    form = MfaRecoveryCodesForm(prefix="rc")
    if form.validate_on_submit():
        if not mfa.take_attempt(user):
            form.code.errors.append(_("Too many wrong codes. Log out and log in again to retry."))
        elif mfa.verify(user, form.code.data):
            mfa.reset_failures(user)
            codes = mfa.new_recovery_codes(user)
            db.session.commit()
            flash(_("New recovery codes made: the old ones no longer work."), "success")
            return _recovery_codes_page(codes)
        else:
            form.code.errors.append(_("This code is not correct or has already been used."))
        db.session.commit()
    return _mfa_manage_page(form, MfaDisableForm(prefix="off", formdata=None), 422)


@route("/mfa/disable", methods=["POST"])
@rate_limit("LOGIN_RATE_LIMIT")
@login_required_here
def mfa_disable():
    user = current_user._get_current_object()
    if not user.mfa_enabled:
        return redirect(url_for("account.mfa_setup"))
    form = MfaDisableForm(prefix="off")
    if form.validate_on_submit():
        if not user.check_password(form.password.data):
            form.password.errors.append(_("The password is not correct."))
        elif not mfa.take_attempt(user):
            form.code.errors.append(_("Too many wrong codes. Log out and log in again to retry."))
        elif mfa.verify(user, form.code.data):
            mfa.disable(user)
            db.session.commit()
            flash(_("Two-step verification is off."), "success")
            if mfa.mfa_required_for(user):
                return redirect(url_for("account.mfa_setup"))
            return redirect(url_for("account.profile"))
        else:
            form.code.errors.append(_("This code is not correct or has already been used."))
        db.session.commit()
    return _mfa_manage_page(MfaRecoveryCodesForm(prefix="rc", formdata=None), form, 422)


# Until a user who must have a second factor has one, only these pages answer them.
_OPEN_BEFORE_ENROLMENT = {"account.mfa_setup", "account.logout", "account.set_language", "static"}


@bp.before_app_request
def require_second_factor():
    """A privileged user without a second factor, when MFA_REQUIRED, is sent to enrolment."""
    if not current_app.config.get("MFA_REQUIRED") or request.endpoint in _OPEN_BEFORE_ENROLMENT:
        return None
    if not current_user.is_authenticated or current_user.mfa_enabled:
        return None
    if not mfa.mfa_required_for(current_user._get_current_object()):
        return None
    if request.blueprint == "api" or request.accept_mimetypes.best == "application/json":
        return {"error": "second factor enrolment required"}, 403
    return redirect(url_for("account.mfa_setup"))
