"""Coordinators: rendicontazione reports per funder and period (PDF or XLSX), made by a job,
with their progress, who asked for each and a stored copy to download."""
from __future__ import annotations

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, RadioField, SelectField
from wtforms.validators import InputRequired

from blueprints.common import coordinator_required, form_error, get_or_404, private_download
from blueprints.coordinator.routes import bp
from marketplace import storage
from marketplace.extensions import db, rate_limit
from marketplace.models import Funder, ReportRun
from marketplace.services import DomainError, rendicontazione
from marketplace.services.funder_reports import default_period

STATUS_LABELS = {
    ReportRun.QUEUED: _l("Waiting"),
    ReportRun.RUNNING: _l("Being made"),
    ReportRun.READY: _l("Ready"),
    ReportRun.FAILED: _l("Failed"),
}


class ReportForm(FlaskForm):
    funder_id = SelectField(_l("Funder"), coerce=int, validate_choice=True,
                            validators=[InputRequired(_l("Choose the funder."))])
    date_from = DateField(_l("From"), validators=[InputRequired(_l("Enter a date like 2026-01-31."))])
    date_to = DateField(_l("To"), validators=[InputRequired(_l("Enter a date like 2026-12-31."))])
    format = RadioField(_l("Format"), choices=[(ReportRun.PDF, "PDF"), (ReportRun.XLSX, "Excel (XLSX)")],
                        default=ReportRun.PDF)


def _form() -> ReportForm:
    form = ReportForm()
    form.funder_id.choices = [(f.id, f.name) for f in db.session.execute(
        select(Funder).order_by(Funder.name)).scalars()]
    if request.method == "GET":
        form.date_from.data, form.date_to.data = default_period()
    return form


@bp.route("/reports", methods=["GET", "POST"])
@coordinator_required
@rate_limit("CHECKOUT_RATE_LIMIT")
def reports():
    form = _form()
    if request.method == "POST" and form.validate_on_submit():
        funder = get_or_404(Funder, form.funder_id.data)
        try:
            run = rendicontazione.request(funder, form.date_from.data, form.date_to.data, form.format.data,
                                          current_user)
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            run_id = run.id
            db.session.commit()  # the job runs after this (inline without Redis)
            flash(_("The report is being made: it will be ready to download below."), "success")
            return redirect(url_for("coordinator.report", report_id=run_id))
    runs = db.session.execute(select(ReportRun).order_by(ReportRun.id.desc()).limit(50)).scalars().all()
    return render_template("coordinator/reports.html", form=form, runs=runs, labels=STATUS_LABELS), \
        422 if form.errors or form.form_errors else 200


@bp.route("/reports/<int:report_id>")
@coordinator_required
def report(report_id: int):
    run = get_or_404(ReportRun, report_id)
    if request.args.get("format") == "json":
        return jsonify(status=run.status, label=str(STATUS_LABELS[run.status]), progress=run.progress,
                       message=run.message, ready=run.status == ReportRun.READY,
                       download=url_for("coordinator.report_download", report_id=run.id)
                       if run.status == ReportRun.READY else None)
    return render_template("coordinator/report.html", run=run, labels=STATUS_LABELS)


@bp.route("/reports/<int:report_id>/download")
@coordinator_required
def report_download(report_id: int):
    run = get_or_404(ReportRun, report_id)
    if run.status != ReportRun.READY or not run.storage_key:
        abort(404)
    try:
        data = storage.read(run.storage_key)
    except FileNotFoundError:
        abort(404)
    return private_download(data, run.filename, "application/pdf" if run.format == ReportRun.PDF else storage.XLSX)
