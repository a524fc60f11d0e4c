"""The manager board: workload by person, every task with bulk reassignment,
escalations, and SOP runs with their failures and Prefect flow runs."""

from __future__ import annotations

import os

from flask import abort, flash, render_template, request, url_for
from flask.typing import ResponseReturnValue

from models import db
from services.tasks import board, queries, workflow
from services.tasks.actions import TaskActionError
from services.tasks.choices import choices
from webapp import htmx, params
from webapp.board import bp, filters
from webapp.board.responses import rows_only
from webapp.formatting import now
from webapp.policy import MANAGERS, allow
from webapp.policy import current_scope as scope

MAX_SELECTED = 500


def prefect_ui_url() -> str | None:
    """Return the Prefect UI's base URL (PREFECT_UI_URL, else PREFECT_API_URL minus /api)."""
    ui = os.environ.get("PREFECT_UI_URL")
    if ui:
        return ui.rstrip("/")
    api = os.environ.get("PREFECT_API_URL", "").rstrip("/")
    return api.removesuffix("/api") if api.endswith("/api") else None


def _task_list_context(form: filters.FilterForm) -> dict[str, object]:
    page = queries.all_tasks(db.session, scope(), form.flt, now(), form.after)
    return {"form": form, "page": page, "variant": "all"}


@bp.get("/manager")
@allow(*MANAGERS)
def manager() -> ResponseReturnValue:
    """All teams' work: load by person, tasks to reassign in bulk, escalations, SOP runs."""
    form = filters.parse(request.args)
    context = _task_list_context(form)
    if rows_only():
        return render_template("board/_rows.html", **context)
    if htmx.wants_fragment() and htmx.target() == "manager-tasks":
        context["choices"] = choices(db.session, scope())
        return render_template("board/_manager_tasks.html", **context), (
            422 if form.errors else 200
        )
    context.update(
        choices=choices(db.session, scope()),
        workload=board.workload(db.session, scope(), now()),
        escalations=board.escalations(db.session),
        runs=board.recent_runs(db.session),
        prefect_ui=prefect_ui_url(),
    )
    return render_template("board/manager.html", **context), (422 if form.errors else 200)


@bp.post("/manager/reassign")
@allow(*MANAGERS)
def bulk_reassign() -> ResponseReturnValue:
    """Reassign the selected tasks to one person, or back to their team queues ("none")."""
    errors: dict[str, str] = {}
    raw_ids = request.form.getlist("task")[: MAX_SELECTED + 1]
    task_ids = [int(v) for v in raw_ids if v.isdigit() and 0 < int(v) < params.MAX_ID]
    raw = request.form.get("assignee", "")
    assignee_id = None if raw == "none" else params.integer(request.form, "assignee", errors)
    form = filters.parse(htmx.current_url_args())
    try:
        if errors or (raw != "none" and assignee_id is None):
            raise TaskActionError("Choose a person, or the team queue, to reassign to.")
        moved = workflow.reassign_many(db.session, scope(), task_ids, assignee_id, now())
    except TaskActionError as exc:
        db.session.rollback()
        if not htmx.is_htmx():
            flash(str(exc))
            return htmx.redirect(url_for("board.manager"))
        context = _task_list_context(form)
        context.update(choices=choices(db.session, scope()), bulk_error=str(exc))
        return render_template("board/_manager_tasks.html", **context), 422
    db.session.commit()
    message = f"Reassigned {moved} task{'s' if moved != 1 else ''}."
    if not htmx.is_htmx():
        flash(message)
        return htmx.redirect(url_for("board.manager"))
    context = _task_list_context(form)
    context["choices"] = choices(db.session, scope())
    workload = board.workload(db.session, scope(), now())
    return htmx.fragment_response(
        render_template("board/_manager_tasks.html", **context),
        htmx.oob("board/_workload.html", workload=workload),
        htmx.toast(message),
    )


@bp.get("/manager/runs/<int:run_id>")
@allow(*MANAGERS)
def run(run_id: int) -> ResponseReturnValue:
    """One SOP run: what it did, its failures with their errors, its Prefect flow run."""
    found = board.run_by_id(db.session, run_id)
    if found is None:
        abort(404)
    return render_template("board/run.html", run=found, prefect_ui=prefect_ui_url())
