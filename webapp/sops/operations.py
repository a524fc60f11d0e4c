"""Operating an SOP: enable/disable it, run it now with its declared inputs, and the
read-only view of its steps that everyone (VAs included) may open from a task."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from models import Site, SopRun, SopVersion, Team, db
from services.engine.inputs import InputError
from services.engine.sweep import RunError
from services.sop_validation import SopValidationError
from services.sops.editing import set_enabled
from services.sops.launch import flow_run_url, pause_schedules, prefect_api_url, run_now
from services.sops.overview import sop_overview, sop_row
from services.sops.registry import latest_version, spec_for
from webapp import htmx
from webapp.auth.routes import safe_next
from webapp.policy import MANAGERS, allow, allow_any_signed_in
from webapp.sops import bp
from webapp.sops.editor import sop_or_404


@bp.post("/<slug>/enabled")
@allow(*MANAGERS)
def set_enabled_view(slug: str) -> ResponseReturnValue:
    """Enable or disable the SOP (form field `enabled` = 1 or 0); its schedules follow."""
    sop = sop_or_404(slug)
    enabled = request.form.get("enabled") == "1"
    changed = set_enabled(db.session, sop, enabled)
    db.session.commit()
    problem = pause_schedules(sop.slug, paused=not enabled) if changed else None
    state = "enabled" if enabled else "disabled (its schedules are paused)"
    message = f"{sop.title} is {state}." + (f" {problem}" if problem else "")
    if htmx.wants_fragment():
        (row,) = sop_overview(db.session, only=sop)
        return render_template("sops/_row.html", row=row, message=message)
    flash(message)
    return htmx.redirect(safe_next(request.form.get("next") or url_for("sops.index")))


def _input_fields(slug: str) -> list[dict[str, Any]]:
    """Return the form fields of the SOP's declared manual inputs (with their choices)."""
    sop = sop_or_404(slug)
    version = latest_version(db.session, sop.id)
    if version is None:
        return []
    try:
        inputs = spec_for(version).manual_inputs
    except SopValidationError:
        return []
    fields = []
    for item in inputs:
        choices: list[tuple[str, str]] | None = None
        if item.type == "site":
            sites = db.session.execute(select(Site.code, Site.name).order_by(Site.code)).all()
            choices = [(code, f"{code} · {name}") for code, name in sites]
        elif item.type == "team":
            teams = db.session.execute(select(Team.slug, Team.name).order_by(Team.slug)).all()
            choices = [(team, name) for team, name in teams]
        elif item.type == "choice":
            choices = [(c, c) for c in item.choices or []]
        elif item.type == "boolean":
            choices = [("true", "yes"), ("false", "no")]
        default = "" if item.default is None else str(item.default)
        if isinstance(item.default, bool):
            default = default.lower()
        fields.append({"input": item, "choices": choices, "default": default})
    return fields


def _run_page(slug: str, status: int = 200, **extra: Any) -> Any:
    sop = sop_or_404(slug)
    context: dict[str, Any] = {
        "sop": sop,
        "row": sop_row(db.session, sop),
        "fields": _input_fields(slug),
        "values": request.form if request.method == "POST" else {},
        "prefect": prefect_api_url() is not None,
        "error": None,
    }
    context.update(extra)
    return render_template("sops/run.html", **context), status


@bp.get("/<slug>/run")
@allow(*MANAGERS)
def run_form(slug: str) -> ResponseReturnValue:
    """Show the run-now form, generated from the SOP's declared inputs, and what started."""
    run = None
    run_id = request.args.get("run", "")
    if run_id.isdigit():
        run = db.session.get(SopRun, int(run_id))
    flow_run = request.args.get("flow_run")
    return _run_page(slug, run=run, flow_run=flow_run, flow_run_url=flow_run_url(flow_run))


@bp.post("/<slug>/run")
@allow(*MANAGERS)
def run(slug: str) -> ResponseReturnValue:
    """Start a manual run with the entered inputs (checked by their declared types)."""
    sop = sop_or_404(slug)
    names = [field["input"].id for field in _input_fields(slug)]
    raw = {name: request.form.get(name, "").strip() for name in names}
    try:
        started = run_now(db.session, sop, raw)
    except (InputError, RunError) as exc:
        db.session.rollback()
        return _run_page(slug, 422, error=str(exc))
    if started.flow_run_id:
        flash(f"Started {sop.title} in Prefect.")
        return redirect(url_for("sops.run_form", slug=slug, flow_run=started.flow_run_id))
    finished = started.run
    flash(
        f"Ran {sop.title}: {finished.created_count} created, {finished.unchanged_count} "
        f"unchanged, {finished.cancelled_count} cancelled, {finished.failed_count} failed."
    )
    return redirect(url_for("sops.run_form", slug=slug, run=finished.id))


@bp.get("/<slug>/steps")
@allow_any_signed_in
def steps(slug: str) -> ResponseReturnValue:
    """Show the SOP's steps read-only (`?version=N`: the version a task was made from)."""
    from services.tasks.explain import explain

    sop = sop_or_404(slug)
    number = request.args.get("version", "")
    query = select(SopVersion).where(SopVersion.sop_id == sop.id)
    if number.isdigit():
        version = db.session.scalar(query.where(SopVersion.number == int(number)))
    else:
        version = latest_version(db.session, sop.id)
    if version is None:
        abort(404, description=f"{sop.title} has no such version.")
    try:
        spec = spec_for(version)
    except SopValidationError:
        abort(404, description=f"Version {version.number} of {sop.title} does not load.")
    explained = [explain(version, step.id) for step in spec.steps]
    return render_template(
        "sops/steps.html",
        sop=sop,
        version=version,
        spec=spec,
        steps=list(zip(spec.steps, explained, strict=True)),
    )
