"""The citizen's wallet: vouchers and welfare credits with their movements, adding a
printed voucher code, joining an employer (routes on blueprints.public.funding.bp).

- ``/wallet``: the wallet (GET), ``/wallet/vouchers`` (POST: add a voucher code),
  ``/wallet/employers`` (POST: join an employer with a code);
- ``/employers/join/<invite_code>``: the link of the employer's e-mailed invitation, a
  confirmation page (GET) and the join (POST).

Every route needs a signed-in user; codes of another territory are unknown here.
"""
from __future__ import annotations

import datetime as dt

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from blueprints.common import ActionForm, form_error, login_required_here
from blueprints.public.funding import bp
from marketplace.extensions import db, rate_limit
from marketplace.models import Voucher
from marketplace.services import DomainError, funding, welfare

VOUCHER_ACTIVE = "active"
VOUCHER_NOT_YET = "not_yet"
VOUCHER_EXPIRED = "expired"
VOUCHER_USED_UP = "used_up"
VOUCHER_CANCELLED = "cancelled"
VOUCHER_STATE_LABELS = {
    VOUCHER_ACTIVE: _l("Active"),
    VOUCHER_NOT_YET: _l("Not valid yet"),
    VOUCHER_EXPIRED: _l("Expired"),  # the page says "Expired on <date>"
    VOUCHER_USED_UP: _l("Used up"),
    VOUCHER_CANCELLED: _l("Cancelled by the funder"),
}


def voucher_state(voucher: Voucher, day: dt.date) -> str:
    """A voucher's state in the wallet's words (one of VOUCHER_STATE_LABELS' keys)."""
    if voucher.status == Voucher.CANCELLED:
        return VOUCHER_CANCELLED
    if voucher.valid_until < day:
        return VOUCHER_EXPIRED
    if voucher.balance_cents <= 0:
        return VOUCHER_USED_UP
    if voucher.valid_from > day:
        return VOUCHER_NOT_YET
    return VOUCHER_ACTIVE


class ClaimVoucherForm(FlaskForm):
    code = StringField(_l("Voucher code"), validators=[
        DataRequired(_l("Enter the voucher code as printed.")), Length(max=40)],
        description=_l("The code printed on the voucher you were given, for example 7K3M 9QXP 2A."))


class JoinForm(FlaskForm):
    code = StringField(_l("Code from your employer"), validators=[
        DataRequired(_l("Enter the code your employer gave you.")), Length(max=40)],
        description=_l("The company code, or the personal code in the invitation e-mail."))


def _wallet_page(claim_form=None, join_form=None, code=200):
    day = funding.today()
    vouchers = funding.vouchers_of(current_user)
    credits = funding.credits_of(current_user)
    return render_template(
        "public/funding/wallet.html", vouchers=vouchers, credits=credits, today=day,
        movements=welfare.movements([v.id for v in vouchers], [c.id for c in credits]),
        voucher_state=voucher_state, voucher_labels=VOUCHER_STATE_LABELS,
        credit_state=welfare.credit_state, credit_labels=welfare.CREDIT_STATE_LABELS,
        claim_form=claim_form or ClaimVoucherForm(formdata=None, prefix="voucher"),
        join_form=join_form or JoinForm(formdata=None, prefix="join")), code


@bp.route("/wallet")
@login_required_here
def wallet():
    return _wallet_page()


@bp.route("/wallet/vouchers", methods=["POST"])
@login_required_here
@rate_limit("CHECKOUT_RATE_LIMIT")
def claim_voucher():
    form = ClaimVoucherForm(prefix="voucher")
    if form.validate_on_submit():
        try:
            voucher = funding.claim_voucher(form.code.data, current_user)
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc, "code")
        else:
            title = voucher.programme.title
            db.session.commit()
            flash(_("Voucher added: %(title)s.", title=title), "success")
            return redirect(url_for("public_funding.wallet"))
    return _wallet_page(claim_form=form, code=422)


@bp.route("/wallet/employers", methods=["POST"])
@login_required_here
@rate_limit("CHECKOUT_RATE_LIMIT")
def join_with_code():
    form = JoinForm(prefix="join")
    status = 422
    if form.validate_on_submit():
        try:
            employee = welfare.join_employer(form.code.data, current_user)
        except welfare.JoinRefused as exc:
            db.session.rollback()
            form_error(form, exc, "code")
            status = exc.status
        else:
            name = employee.funder.name
            db.session.commit()
            flash(_("You joined %(employer)s: its welfare credits for you are in your wallet.", employer=name),
                  "success")
            return redirect(url_for("public_funding.wallet"))
    return _wallet_page(join_form=form, code=status)


@bp.route("/employers/join/<invite_code>", methods=["GET", "POST"])
@login_required_here
@rate_limit("CHECKOUT_RATE_LIMIT")
def join_employer(invite_code: str):
    """The link of the invitation e-mail: confirm, then join."""
    form = ActionForm()
    try:
        employer, employee = welfare.check_join_code(invite_code, current_user)
    except welfare.JoinRefused as exc:
        db.session.rollback()
        return render_template("public/funding/join.html", error=exc.message, employer=None, form=form), exc.status
    already = employee is not None and employee.status == employee.ACTIVE and employee.user_id == current_user.id
    if form.validate_on_submit():
        try:
            welfare.join_employer(invite_code, current_user)
        except welfare.JoinRefused as exc:
            db.session.rollback()
            return render_template("public/funding/join.html", error=exc.message, employer=None,
                                   form=form), exc.status
        name = employer.name
        db.session.commit()
        flash(_("You joined %(employer)s: its welfare credits for you are in your wallet.", employer=name),
              "success")
        return redirect(url_for("public_funding.wallet"))
    return render_template("public/funding/join.html", error=None, employer=employer, employee=employee,
                           already=already, form=form), (400 if form.is_submitted() else 200)
