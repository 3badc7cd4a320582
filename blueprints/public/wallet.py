"""The citizen's wallet: vouchers and welfare credits (routes on blueprints.public.funding.bp)."""
from __future__ import annotations

from flask import render_template
from flask_login import current_user

from blueprints.common import login_required_here
from blueprints.public.funding import bp
from marketplace.services import funding


@bp.route("/wallet")
@login_required_here
def wallet():
    return render_template("public/funding/wallet.html",
                           vouchers=funding.vouchers_of(current_user),
                           credits=funding.credits_of(current_user))
