"""Cooperative staff: import delivery records from a CSV/XLSX file (a job with progress) and
manage the API tokens their own software pushes records with. Routes join the cooperative
blueprint (imported at the bottom of ``blueprints/cooperative/routes.py``).

Uploads here may be up to ``delivery_import.MAX_BYTES`` (a 50,000-row CSV is ~4 MB), above
the app-wide ``MAX_CONTENT_LENGTH``: a URL value preprocessor — it runs before the CSRF
check reads the form — raises the limit for this one route only.
"""
from __future__ import annotations

from flask import Response, abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from wtforms import DateField, StringField
from wtforms.validators import DataRequired, Length, Optional

from blueprints.common import ActionForm, form_error, get_or_404, staff_required
from blueprints.cooperative.routes import bp
from marketplace.extensions import db
from marketplace.models import ApiToken, DeliveryImport, Service
from marketplace.models.delivery import FUNDING_SOURCES
from marketplace.services import DomainError, api_tokens, deliveries, delivery_import
from marketplace.services.mail import external_url

UPLOAD_ENDPOINT = "cooperative.deliveries_import"
MULTIPART_ALLOWANCE = 64 * 1024  # the form's other fields and boundaries around the file
SHOWN_ERRORS = 100
MIMETYPES = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@bp.url_value_preprocessor
def _allow_large_imports(endpoint, values) -> None:
    if endpoint == UPLOAD_ENDPOINT and request.method == "POST":
        request.max_content_length = delivery_import.MAX_BYTES + MULTIPART_ALLOWANCE


class ImportForm(FlaskForm):
    file = FileField(_l("File to import (CSV or XLSX)"), validators=[FileRequired(_l("Choose a CSV or XLSX file."))],
                     description=_l("At most %(n)d MB. The first row names the columns, as in the template.",
                                    n=delivery_import.MAX_BYTES // (1024 * 1024)),
                     render_kw={"accept": ".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument."
                                          "spreadsheetml.sheet"})


class ApiTokenForm(FlaskForm):
    name = StringField(_l("Name of the token"), validators=[
        DataRequired(_l("Give the token a name, e.g. the software that will use it.")),
        Length(max=api_tokens.MAX_NAME)],
        description=_l("For example the name of your management software, so you know which token to revoke."))
    expires_on = DateField(_l("Expires on"), format=["%Y-%m-%d", "%d/%m/%Y"], validators=[Optional()],
                           default=api_tokens.default_expiry,
                           description=_l("The last day the token works: a year from today unless you choose "
                                          "another date. Leave it empty for a token that works until you revoke it."))


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _import_of(cooperative, import_id: int) -> DeliveryImport:
    item = get_or_404(DeliveryImport, import_id)
    if item.cooperative_id != cooperative.id:
        abort(404)
    return item


# ---------------------------------------------------------------------------- import

def _import_page(cooperative, form: ImportForm, code: int = 200):
    services = db.session.execute(
        select(Service).where(Service.cooperative_id == cooperative.id).order_by(Service.title, Service.id)
    ).scalars().all()
    indicators = delivery_import.indicators_of(cooperative)
    columns = [(name, name in deliveries.REQUIRED, delivery_import.COLUMN_HELP[name]) for name in deliveries.COLUMNS]
    columns += [(i.code, False, delivery_import.indicator_help(i)) for i in indicators]
    return _no_store(Response(render_template(
        "cooperative/import.html", cooperative=cooperative, form=form, columns=columns, services=services,
        funding_sources=[(code, deliveries.FUNDING_SOURCE_LABELS[code]) for code in FUNDING_SOURCES],
        imports=delivery_import.of_cooperative(cooperative), max_mb=delivery_import.MAX_BYTES // (1024 * 1024),
    ), status=code))


@bp.route("/<int:coop_id>/deliveries/import", methods=["GET", "POST"])
@staff_required
def deliveries_import(cooperative):
    form = ImportForm()
    if request.method == "POST":
        code = 422
        if form.validate_on_submit():
            upload = form.file.data
            data = upload.read(delivery_import.MAX_BYTES + 1)
            try:
                item = delivery_import.start(cooperative, upload.filename or "", data, current_user)
            except DomainError as exc:
                db.session.rollback()
                form_error(form, exc, "file")
                code = 413 if len(data) > delivery_import.MAX_BYTES else 422
            else:
                db.session.commit()  # the job runs now: inline here, or by a worker
                return redirect(url_for("cooperative.deliveries_import_status", coop_id=cooperative.id,
                                        import_id=item.id))
        return _import_page(cooperative, form, code)
    return _import_page(cooperative, form)


def _template(cooperative, kind: str) -> Response:
    body = (delivery_import.template_csv if kind == "csv" else delivery_import.template_xlsx)(cooperative)
    return Response(body, mimetype=MIMETYPES[kind], headers={
        "Content-Disposition": f'attachment; filename="deliveries-template-{cooperative.id}.{kind}"',
        "Cache-Control": "no-store"})


@bp.route("/<int:coop_id>/deliveries/import/template.csv")
@staff_required
def deliveries_import_template_csv(cooperative):
    return _template(cooperative, "csv")


@bp.route("/<int:coop_id>/deliveries/import/template.xlsx")
@staff_required
def deliveries_import_template_xlsx(cooperative):
    return _template(cooperative, "xlsx")


@bp.route("/<int:coop_id>/deliveries/imports/<int:import_id>")
@staff_required
def deliveries_import_status(cooperative, import_id: int):
    item = _import_of(cooperative, import_id)
    state = delivery_import.progress(item)
    if request.args.get("format") == "json":
        return _no_store(jsonify(state))
    errors = (item.errors or [])[:SHOWN_ERRORS]
    return _no_store(Response(render_template(
        "cooperative/import_status.html", cooperative=cooperative, item=item, state=state, errors=errors,
        file_broken=delivery_import.stopped_by_the_file(item),
        shown_errors=SHOWN_ERRORS, kept_errors=delivery_import.MAX_KEPT_ERRORS)))


@bp.route("/<int:coop_id>/deliveries/imports/<int:import_id>/errors.csv")
@staff_required
def deliveries_import_errors(cooperative, import_id: int):
    item = _import_of(cooperative, import_id)
    return Response(delivery_import.errors_csv(item), mimetype="text/csv", headers={
        "Content-Type": "text/csv; charset=utf-8", "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="import-{item.id}-errors.csv"'})


@bp.route("/<int:coop_id>/deliveries/imports/<int:import_id>/resume", methods=["POST"])
@staff_required
def deliveries_import_resume(cooperative, import_id: int):
    item = _import_of(cooperative, import_id)
    if ActionForm().validate_on_submit():
        try:
            delivery_import.resume(item)
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "info")
        else:
            db.session.commit()
            flash(_("The import goes on from where it stopped."), "success")
    return redirect(url_for("cooperative.deliveries_import_status", coop_id=cooperative.id, import_id=item.id))


# ---------------------------------------------------------------------------- API tokens

def _tokens_page(cooperative, form: ApiTokenForm, new_token: str | None = None, new_item=None, code: int = 200):
    return _no_store(Response(render_template(
        "cooperative/api_tokens.html", cooperative=cooperative, form=form, tokens=api_tokens.of_cooperative(cooperative),
        new_token=new_token, new_item=new_item, today=api_tokens.today(),
        push_url=external_url("api_deliveries.push_deliveries", slug=g.get("territory_slug") or g.territory.slug),
        docs_url=url_for("api-docs.openapi_redoc") if "api-docs.openapi_redoc" in current_app.view_functions else None,
    ), status=code))


@bp.route("/<int:coop_id>/api-tokens", methods=["GET", "POST"])
@staff_required
def api_tokens_page(cooperative):
    form = ApiTokenForm()
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                item, raw = api_tokens.create(cooperative, form.name.data, current_user,
                                              expires_on=form.expires_on.data)
            except DomainError as exc:
                db.session.rollback()
                form_error(form, exc, "name")
            else:
                db.session.commit()
                # Shown once, in this answer only (never stored, flashed or redirected with).
                return _tokens_page(cooperative, ApiTokenForm(formdata=None), new_token=raw, new_item=item)
        return _tokens_page(cooperative, form, code=422)
    return _tokens_page(cooperative, form)


@bp.route("/<int:coop_id>/api-tokens/<int:token_id>/revoke", methods=["POST"])
@staff_required
def api_token_revoke(cooperative, token_id: int):
    token = get_or_404(ApiToken, token_id)
    if token.cooperative_id != cooperative.id:
        abort(404)
    if ActionForm().validate_on_submit():
        api_tokens.revoke(token)
        db.session.commit()
        flash(_("Token “%(name)s” revoked: it no longer works.", name=token.name), "success")
    return redirect(url_for("cooperative.api_tokens_page", coop_id=cooperative.id))
