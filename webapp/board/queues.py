"""My queue and the team queue, and claiming from it."""

from __future__ import annotations

from flask import abort, flash, render_template, request, url_for
from flask.typing import ResponseReturnValue

from models import db
from services.tasks import queries, workflow
from services.tasks.access import TaskNotVisible
from services.tasks.choices import choices
from webapp import htmx
from webapp.board import bp, filters
from webapp.board.responses import DETAIL_ID, list_updates, render_task, rows_only
from webapp.formatting import now
from webapp.policy import allow_any_signed_in
from webapp.policy import current_scope as scope


def _status(form: filters.FilterForm) -> int:
    return 422 if form.errors else 200


@bp.get("/")
@allow_any_signed_in
def index() -> ResponseReturnValue:
    """My queue: my open tasks, overdue first, then due today, this week, later."""
    form = filters.parse(request.args)
    page = queries.my_queue(db.session, scope(), form.flt, now(), form.after)
    context = {"form": form, "page": page, "variant": "mine"}
    if rows_only():
        return render_template("board/_rows.html", **context)
    context["counts"] = queries.my_counts(db.session, scope(), form.flt, now())
    if not htmx.wants_fragment():  # the filter form is outside the fragment
        context["choices"] = choices(db.session, scope())
    return htmx.render("board/index.html", "board/_queue.html", **context), _status(form)


@bp.get("/team")
@allow_any_signed_in
def team_queue() -> ResponseReturnValue:
    """The team queue: unassigned open tasks of my teams at my sites, to claim."""
    form = filters.parse(request.args)
    page = queries.team_queue(db.session, scope(), form.flt, now(), form.after)
    context = {"form": form, "page": page, "variant": "team"}
    if rows_only():
        return render_template("board/_rows.html", **context)
    context["total"] = queries.team_queue_count(db.session, scope(), form.flt, now())
    if not htmx.wants_fragment():
        context["choices"] = choices(db.session, scope())
    return htmx.render("board/team.html", "board/_team_queue.html", **context), _status(form)


@bp.post("/tasks/<int:task_id>/claim")
@allow_any_signed_in
def claim(task_id: int) -> ResponseReturnValue:
    """Claim a task from the team queue; exactly one of two simultaneous claimers wins."""
    try:
        result = workflow.claim(db.session, scope(), task_id, now())
    except TaskNotVisible:
        abort(404)
    db.session.commit()
    tone = "ok" if result.won else "warn"
    if not htmx.is_htmx():
        flash(result.message)
        return htmx.redirect(url_for("board.team_queue"))
    parts: list[str] = []
    if htmx.target() == DETAIL_ID:
        parts.append(render_task(task_id)[0])  # type: ignore[index]
    parts.extend(list_updates(result.task))
    parts.append(htmx.toast(result.message, tone))
    return htmx.fragment_response(*parts)
