"""A task's page and what people do to it: start, tick, attach, note, snooze, hand
back, block, complete, and (managers) reassign."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from flask import abort, current_app, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import bindparam, select

from models import Evidence, Task, TaskStatus, User, db, record
from services.tasks import evidence as proofs
from services.tasks import workflow
from services.tasks.access import Scope, TaskNotVisible, may_work, visible_task
from services.tasks.actions import (
    Completion,
    TaskActionError,
    complete_task,
    ensure_checklist,
    tick,
)
from services.tasks.detail import task_changes
from webapp import htmx, params
from webapp.board import bp
from webapp.board.responses import changed, refused, render_task
from webapp.formatting import now, zone_of
from webapp.policy import MANAGERS, allow, allow_any_signed_in
from webapp.policy import current_scope as scope

Action = Callable[[Scope, Task], str]


def uploads_root() -> Path:
    """Return where uploaded evidence is stored (inside the instance folder)."""
    return Path(current_app.instance_path) / "uploads"


def _act(task_id: int, form_name: str, action: Action, next_url: str | None = None):  # type: ignore[no-untyped-def]
    """Run `action` on the visible, locked task; answer with the change or the refusal."""
    try:
        task = visible_task(db.session, scope(), task_id, lock=True)
    except TaskNotVisible:
        abort(404)
    try:
        message = action(scope(), task)
    except TaskActionError as exc:
        db.session.rollback()
        return refused(task_id, str(exc), form_name)
    return changed(task, message, default_next=next_url)


@bp.get("/tasks/<int:task_id>")
@allow_any_signed_in
def task(task_id: int) -> ResponseReturnValue:
    """The task's page (or its panel): checklist, evidence, notes, history, subject, SOP step."""
    return render_task(task_id, documents=request.args.get("documents") == "1")


@bp.get("/tasks/<int:task_id>/documents")
@allow_any_signed_in
def task_documents(task_id: int) -> ResponseReturnValue:
    """The form linking one of the site's documents as evidence (loaded on demand)."""
    if not htmx.wants_fragment():
        return redirect(url_for("board.task", task_id=task_id, documents="1"))
    try:
        task = visible_task(db.session, scope(), task_id)
    except TaskNotVisible:
        abort(404)
    if not task.is_open or not may_work(scope(), task):
        abort(404)
    choices = proofs.document_choices(db.session, task)
    return render_template("board/_task_documents.html", t=task, documents=choices)


@bp.get("/tasks/<int:task_id>/audit")
@allow_any_signed_in
def task_audit(task_id: int) -> ResponseReturnValue:
    """The audit trail of the task's rows (opened on demand from its history)."""
    try:
        changes = task_changes(db.session, scope(), task_id)
    except TaskNotVisible:
        abort(404)
    zone = changes_zone(task_id)
    context = {"changes": changes, "task_id": task_id, "zone": zone}
    return htmx.render("board/task_audit.html", "board/_task_audit.html", **context)


def changes_zone(task_id: int) -> str:
    """Return the time zone the task's times are shown in."""
    task = db.session.get(Task, task_id)
    return zone_of(task) if task else "UTC"


@bp.post("/tasks/<int:task_id>/start")
@allow_any_signed_in
def start(task_id: int) -> ResponseReturnValue:
    """Mark the task in progress."""

    def action(s: Scope, t: Task) -> str:
        workflow.start(db.session, s, t, now())
        return "Started."

    return _act(task_id, "start", action)


@bp.post("/tasks/<int:task_id>/complete")
@allow_any_signed_in
def complete(task_id: int) -> ResponseReturnValue:
    """Complete the task (checklist, evidence and approval permitting); the SOP's next
    steps are created at once. The panel then says what comes next and for whom."""
    try:
        task = visible_task(
            db.session, scope(), task_id, lock=True, with_sop=True, with_checklist=True
        )
    except TaskNotVisible:
        abort(404)
    try:
        if not may_work(scope(), task):
            raise TaskActionError("Only the task's assignee or a manager can complete it.")
        completion = complete_task(db.session, task, scope().user, now())
    except TaskActionError as exc:
        db.session.rollback()
        return refused(task_id, str(exc), "complete")
    nexts = next_steps(completion)
    whom = "; ".join(f"{n.title} → {n.assignee_name or 'team queue'}" for n in nexts)
    message = f"Done. Next: {whom}." if whom else f"Done: {task.title}."
    panel = render_template("board/_completed.html", task=task, nexts=nexts)
    return changed(task, message, default_next=url_for("board.index"), panel=panel)


@dataclass(frozen=True)
class SiteZone:
    """The one fact of a site the `due` filter reads."""

    timezone: str


@dataclass(frozen=True)
class NextStep:
    """A task a completion created, as the done card lists it.

    Built from the row as the engine wrote it, so nothing is read back. Carries what
    the `due` filter reads of a task: `due_at`, `due_on`, `site.timezone` and
    `snoozed_until` (a new task is not snoozed).
    """

    id: int
    title: str
    assignee_id: int | None
    assignee_name: str | None
    due_at: datetime
    due_on: date
    site: SiteZone
    snoozed_until: datetime | None = None


_NAMES = select(User.id, User.name).where(User.id.in_(bindparam("ids", expanding=True)))


def next_steps(completion: Completion) -> list[NextStep]:
    """Return the open tasks the completion created, by id (skipped steps are left out).

    The only query: the names of their assignees, unless that is the person who
    completed the task (whose name is at hand) or nobody (the team queue).
    """
    rows = sorted(
        (r for r in completion.rows if r["status"] != TaskStatus.SKIPPED.value),
        key=lambda r: r["id"],
    )
    me = scope().user
    names = {me.id: me.name}
    others = sorted({r["assignee_id"] for r in rows} - {None, me.id})
    if others:
        names.update(db.session.execute(_NAMES, {"ids": others}).tuples().all())
    zone = SiteZone(completion.timezone)
    return [
        NextStep(
            id=r["id"],
            title=r["title"],
            assignee_id=r["assignee_id"],
            assignee_name=names.get(r["assignee_id"]),
            due_at=r["due_at"],
            due_on=r["due_on"],
            site=zone,
        )
        for r in rows
    ]


@bp.post("/tasks/<int:task_id>/snooze")
@allow_any_signed_in
def snooze(task_id: int) -> ResponseReturnValue:
    """Snooze the task until a day, with a reason."""

    def action(s: Scope, t: Task) -> str:
        errors: dict[str, str] = {}
        until = params.day(request.form, "until", errors)
        if errors:
            raise TaskActionError(errors["until"])
        workflow.snooze(db.session, s, t, until, request.form.get("reason"), now())
        return f"Snoozed until {until:%a %-d %b}."  # type: ignore[str-format]

    return _act(task_id, "snooze", action, url_for("board.index"))


@bp.post("/tasks/<int:task_id>/wake")
@allow_any_signed_in
def wake(task_id: int) -> ResponseReturnValue:
    """End the task's snooze now."""

    def action(s: Scope, t: Task) -> str:
        workflow.wake(db.session, s, t, now())
        return "Back in the queue."

    return _act(task_id, "wake", action)


@bp.post("/tasks/<int:task_id>/hand-back")
@allow_any_signed_in
def hand_back(task_id: int) -> ResponseReturnValue:
    """Return the task to its team's queue."""

    def action(s: Scope, t: Task) -> str:
        workflow.hand_back(db.session, s, t, request.form.get("reason"), now())
        return "Handed back to the team queue."

    return _act(task_id, "hand_back", action, url_for("board.index"))


@bp.post("/tasks/<int:task_id>/block")
@allow_any_signed_in
def block(task_id: int) -> ResponseReturnValue:
    """Mark the task blocked, with what it waits for."""

    def action(s: Scope, t: Task) -> str:
        workflow.block(db.session, s, t, request.form.get("reason"), now())
        return "Marked blocked."

    return _act(task_id, "block", action)


@bp.post("/tasks/<int:task_id>/unblock")
@allow_any_signed_in
def unblock(task_id: int) -> ResponseReturnValue:
    """Resume a blocked task."""

    def action(s: Scope, t: Task) -> str:
        workflow.unblock(db.session, s, t, now())
        return "Unblocked."

    return _act(task_id, "unblock", action)


@bp.post("/tasks/<int:task_id>/notes")
@allow_any_signed_in
def comment(task_id: int) -> ResponseReturnValue:
    """Add a note to the task's history."""

    def action(s: Scope, t: Task) -> str:
        workflow.comment(db.session, s, t, request.form.get("text"), now())
        return "Note added."

    return _act(task_id, "comment", action)


@bp.post("/tasks/<int:task_id>/checklist/<int:item_id>")
@allow_any_signed_in
def tick_item(task_id: int, item_id: int) -> ResponseReturnValue:
    """Tick or untick one checklist line (`done` = 1 or 0)."""

    def action(s: Scope, t: Task) -> str:
        if not t.is_open or not may_work(s, t):
            raise TaskActionError("Only the task's assignee can tick its checklist; claim it.")
        item = next((i for i in ensure_checklist(db.session, t) if i.id == item_id), None)
        if item is None:
            abort(404)
        done = request.form.get("done") == "1"
        tick(db.session, item, s.user, done, now())
        return ("Ticked: " if done else "Unticked: ") + item.label

    return _act(task_id, "checklist", action)


def _evidence_too_large(task_id: int) -> ResponseReturnValue:
    limit = current_app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
    return render_task(
        task_id, 422, f"The file is larger than {limit} MB; attach a link instead.", "evidence"
    )


@bp.post("/tasks/<int:task_id>/evidence")
@allow_any_signed_in
def add_evidence(task_id: int) -> ResponseReturnValue:
    """Attach evidence: an uploaded file, a link, or a filed document (`kind`)."""

    def action(s: Scope, t: Task) -> str:
        kind = request.form.get("kind", "")
        note = request.form.get("note")
        if kind == "file":
            upload = request.files.get("file")
            if upload is None or not upload.filename:
                raise TaskActionError("Choose a file to upload.")
            proofs.attach_file(
                db.session, s, t, uploads_root(), upload.stream, upload.filename, note
            )
            return "File attached."
        if kind == "link":
            proofs.attach_link(db.session, s, t, request.form.get("url"), note)
            return "Link attached."
        if kind == "document":
            errors: dict[str, str] = {}
            document_id = params.integer(request.form, "document", errors)
            proofs.attach_document(db.session, s, t, document_id, note)
            return "Document linked."
        raise TaskActionError("Choose what to attach: a file, a link or a document.")

    return _act(task_id, "evidence", action)


add_evidence.on_too_large = _evidence_too_large  # type: ignore[attr-defined]


@bp.get("/evidence/<int:evidence_id>/file")
@allow_any_signed_in
def evidence_file(evidence_id: int) -> ResponseReturnValue:
    """Download an uploaded evidence file (as an attachment, never rendered inline)."""
    evidence = db.session.get(Evidence, evidence_id)
    if evidence is None or evidence.kind != "file" or not evidence.file_ref:
        abort(404)
    try:
        visible_task(db.session, scope(), evidence.task_id)
        path = proofs.storage_path(uploads_root(), evidence.file_ref)
    except (TaskNotVisible, ValueError):
        abort(404)
    if not path.is_file():
        abort(404)
    record(db.session, "download", "evidence", evidence.id)
    db.session.commit()
    response = send_file(
        path,
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=evidence.file_name or "evidence",
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/tasks/<int:task_id>/reassign")
@allow(*MANAGERS)
def reassign(task_id: int) -> ResponseReturnValue:
    """Give the task to an active person, or back to its team's queue ("none")."""

    def action(s: Scope, t: Task) -> str:
        raw = request.form.get("assignee", "")
        errors: dict[str, str] = {}
        assignee_id = None if raw == "none" else params.integer(request.form, "assignee", errors)
        if errors or (raw != "none" and assignee_id is None):
            raise TaskActionError("Choose a person or the team queue.")
        workflow.reassign(db.session, s, t, assignee_id, now())
        return f"Reassigned to {t.assignee.name if t.assignee else 'the team queue'}."

    return _act(task_id, "reassign", action)
