"""Accounts: one account for every territory. Each page answers at /account/... and,
inside a territory (its look, its domain), at /t/<slug>/account/...
"""
from __future__ import annotations

from flask import (
    Blueprint, abort, flash, g, make_response, redirect, render_template, request, session, url_for,
)
from flask_babel import gettext as _, ngettext
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from blueprints.account.forms import (
    AcceptInvitationForm, DeleteAccountForm, ForgotForm, LanguageForm, LoginForm,
    PasswordForm, ProfileForm, RegisterForm, ResetForm,
)
from blueprints.common import ActionForm, form_error, login_required_here, safe_next
from marketplace.extensions import db, rate_limit
from marketplace.models import Membership, Territory
from marketplace.services import DomainError, accounts, invitations, throttle
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
        else:
            throttle.clear_login_failures(form.email.data)
            db.session.commit()
            session.clear()
            login_user(user, remember=form.remember.data)
            if user.locale:
                session["lang"] = user.locale
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


@route("/logout", methods=["POST"])
def logout():
    logout_user()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("You are logged out."), "info")
    return redirect(_home())


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
    password_form = PasswordForm(prefix="pw")
    if form.validate_on_submit():
        current_user.full_name = form.full_name.data.strip()
        current_user.phone = (form.phone.data or "").strip()
        if form.locale.data in ("it", "en"):
            current_user.locale = form.locale.data
            session["lang"] = form.locale.data
        db.session.commit()
        flash(_("Profile saved."), "success")
        return redirect(url_for("account.profile"))
    return render_template("account/profile.html", form=form, password_form=password_form,
                           roles=_my_roles()), 422 if form.errors else 200


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
                                     password_form.password.data)
        except DomainError as exc:
            form_error(password_form, exc)
        else:
            db.session.commit()
            login_user(current_user._get_current_object())  # login id rotated: keep this session
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("account.profile"))
    form = ProfileForm(obj=current_user, formdata=None)
    return render_template("account/profile.html", form=form, password_form=password_form,
                           roles=_my_roles()), 422


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
        db.session.commit()
        login_user(user)
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
