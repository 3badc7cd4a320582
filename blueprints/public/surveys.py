"""Citizens answer the satisfaction survey of a delivery or a booked date, from the link in
their e-mail (no login: the token is the key). URL map, under ``/t/<territory>``:

- ``/survey/<token>``: the survey (GET) and its answer (POST, rate-limited). Unknown token:
  404; expired: 410; already answered: a thank-you page, no second answer.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.validators import InputRequired, Length

from blueprints.common import form_error
from marketplace.extensions import db, limiter
from marketplace.services import DomainError, surveys

bp = Blueprint("public_surveys", __name__)

DEFAULT_RATE_LIMIT = "20 per minute;200 per hour"


def _rate():
    return current_app.config.get("SURVEY_RATE_LIMIT", DEFAULT_RATE_LIMIT)


def _stars(label):
    return RadioField(label, choices=[(str(n), str(n)) for n in range(1, 6)],
                      validators=[InputRequired(_l("Choose from 1 to 5 stars."))])


class SurveyForm(FlaskForm):
    quality = _stars(surveys.DIMENSION_LABELS["quality"])
    punctuality = _stars(surveys.DIMENSION_LABELS["punctuality"])
    kindness = _stars(surveys.DIMENSION_LABELS["kindness"])
    usefulness = _stars(surveys.DIMENSION_LABELS["usefulness"])
    recommend = RadioField(_l("How likely are you to recommend it to a friend or relative?"),
                           choices=[(str(n), str(n)) for n in range(0, 11)],
                           validators=[InputRequired(_l("Choose a number from 0 to 10."))])
    comment = TextAreaField(_l("Anything else you would like to tell us? (optional)"),
                            description=_l("At most 1000 characters. Please do not write names or health details."),
                            validators=[Length(max=surveys.COMMENT_MAX,
                                               message=_l("Write at most %(max)d characters."))])


def _page(template: str, status: int = 200, **context) -> Response:
    response = Response(render_template(template, **context), status=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _closed(invitation) -> Response | None:
    if invitation.answered:
        return _page("public/survey_done.html", invitation=invitation, already=True)
    if invitation.expired:
        return _page("public/survey_expired.html", status=410, invitation=invitation)
    return None


@bp.route("/survey/<token>", methods=["GET", "POST"])
@limiter.limit(_rate, methods=["POST"])
def survey(token: str):
    invitation = surveys.find(token)
    if invitation is None:
        abort(404)
    closed = _closed(invitation)
    if closed is not None:
        return closed
    form = SurveyForm()
    if form.validate_on_submit():
        given = surveys.Answer(
            quality=int(form.quality.data), punctuality=int(form.punctuality.data),
            kindness=int(form.kindness.data), usefulness=int(form.usefulness.data),
            recommend=int(form.recommend.data), comment=form.comment.data or "")
        try:
            surveys.answer(token, given)
        except LookupError:
            db.session.rollback()
            abort(404)
        except surveys.AlreadyAnswered:
            db.session.rollback()
            return _page("public/survey_done.html", invitation=invitation, already=True)
        except surveys.LinkExpired:
            db.session.rollback()
            return _page("public/survey_expired.html", status=410, invitation=invitation)
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            db.session.commit()
            return _page("public/survey_done.html", invitation=invitation, already=False)
    status = 422 if form.is_submitted() else 200
    return _page("public/survey.html", status=status, invitation=invitation, form=form,
                 dimensions=[getattr(form, name) for name in surveys.DIMENSIONS])
