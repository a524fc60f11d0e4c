"""What the board answers after a task changed, wherever the change was clicked.

An htmx request gets the re-rendered task (when the task's panel asked), the
task's row in the list the browser shows (updated, or removed when it left that
list) and that list's counts, all as out-of-band swaps, plus a notice. A plain
form post gets a redirect and a flashed message.
"""

from __future__ import annotations

from flask import abort, flash, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from sqlalchemy import select

from models import Task, db
from services.tasks.access import TaskNotVisible
from services.tasks.buckets import bucket_of
from services.tasks.detail import task_detail
from services.tasks.queries import list_conditions, my_counts, team_queue_count
from webapp import htmx
from webapp.auth.routes import safe_next
from webapp.board import filters
from webapp.formatting import now
from webapp.policy import current_scope as scope

DETAIL_ID = "task-detail"


def _in_list(task: Task, view: str, form: filters.FilterForm) -> bool:
    """Return True when `task` still belongs in the list `view` under its filter."""
    if not task.is_open and form.flt.status in ("", "open", "in_progress", "blocked"):
        return False  # finished work leaves every list of open work: no query needed
    conditions = list_conditions(view, scope(), form.flt, now())
    found = db.session.scalar(select(Task.id).where(Task.id == task.id, *conditions))
    return found is not None


def list_updates(task: Task) -> list[Markup]:
    """Return the out-of-band swaps keeping the list on screen in step with `task`."""
    path = htmx.list_path()
    views = {
        url_for("board.index"): "mine",
        url_for("board.team_queue"): "team",
        url_for("board.manager"): "all",
    }
    variant = views.get(path)
    if variant is None:
        return []
    form = filters.parse(htmx.current_url_args())
    row_id = f"task-{task.id}"
    parts: list[Markup] = []
    if _in_list(task, variant, form):
        parts.append(
            htmx.oob(
                "board/_row_oob.html",
                row=task,
                bucket=bucket_of(task, now()) if task.is_open else None,
                variant=variant,
            )
        )
    else:
        parts.append(htmx.delete_row(row_id))
    if variant == "mine":
        counts = my_counts(db.session, scope(), form.flt, now())
        parts.append(htmx.oob("board/_counts.html", counts=counts, form=form))
    elif variant == "team":
        total = team_queue_count(db.session, scope(), form.flt, now())
        parts.append(htmx.oob("board/_team_count.html", total=total))
    return parts


def render_task(
    task_id: int,
    status: int = 200,
    error: str | None = None,
    error_for: str | None = None,
    values: dict[str, str] | None = None,
    documents: bool = False,
) -> ResponseReturnValue:
    """Render the task's page (or its panel fragment) with an optional form error
    (`documents`: offer the site's documents to link as evidence)."""
    documents = documents or error_for == "evidence"
    try:
        detail = task_detail(db.session, scope(), task_id, now(), documents)
        if detail.wrote:  # the first view created the checklist rows: keep them
            db.session.commit()
            detail = task_detail(db.session, scope(), task_id, now(), documents)
    except TaskNotVisible:
        abort(404)
    context = {
        "d": detail,
        "error": error,
        "error_for": error_for,
        "values": values or {},
    }
    return htmx.render("board/task.html", "board/_task.html", **context), status


def changed(
    task: Task,
    message: str,
    tone: str = "ok",
    default_next: str | None = None,
    panel: str | None = None,
) -> ResponseReturnValue:
    """Answer a successful action on `task` (see the module docstring), then commit.

    The answer is built inside the action's transaction (which already sees its own
    changes): after the commit every row it shows would be read again. `panel`, when
    given, is what the task's panel shows instead of the re-rendered task.
    """
    if not htmx.is_htmx():
        db.session.commit()
        flash(message)
        fallback = default_next or url_for("board.task", task_id=task.id)
        target = request.form.get("next") or fallback
        return htmx.redirect(safe_next(target) if target else fallback)
    parts: list[str] = []
    if htmx.target() == DETAIL_ID:
        parts.append(panel if panel is not None else render_task(task.id)[0])  # type: ignore[index]
    parts.extend(list_updates(task))
    parts.append(htmx.toast(message, tone))
    response = htmx.fragment_response(*parts)
    db.session.commit()
    return response


def refused(task_id: int, message: str, form_name: str | None = None) -> ResponseReturnValue:
    """Answer a refused action: the task re-rendered with the message (422)."""
    values = {k: v for k, v in request.form.items() if k != "csrf_token"}
    if htmx.is_htmx() and htmx.target() != DETAIL_ID:
        # Clicked from a list row: say why, leave the row.
        return htmx.fragment_response(htmx.toast(message, "danger"), status=200, reswap="none")
    return render_task(task_id, 422, message, form_name, values)


def rows_only() -> bool:
    """Return True when htmx asked for the next page of rows ("Load more")."""
    return htmx.wants_fragment() and (htmx.target() or "").startswith("more-")
