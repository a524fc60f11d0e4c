"""Everything the task page shows, loaded in a fixed number of queries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, joinedload

from models import AuditEvent, ChecklistItem, Document, Evidence, Task, TaskEvent, User
from models.sop_spec import EvidenceRule
from services import deadlines
from services.engine.subjects import DEFAULT_TIMEZONE
from services.subjects.cards import SubjectCard, subject_card
from services.tasks.access import Scope, TaskNotVisible, may_claim, may_work, visible_clause
from services.tasks.actions import completion_problems, ensure_checklist
from services.tasks.evidence import document_choices
from services.tasks.explain import StepExplanation, explain


@dataclass(frozen=True)
class Change:
    """One recorded field change from the audit trail."""

    at: datetime
    actor: str
    action: str
    entity: str
    fields: list[tuple[str, Any, Any]]


@dataclass
class TaskDetail:
    """A task and what its page needs: checklist, evidence, history, subject, the SOP step."""

    task: Task
    checklist: list[ChecklistItem]
    evidence: list[tuple[Evidence, Document | None]]
    events: Sequence[TaskEvent]
    problems: list[str]
    subject: SubjectCard | None
    step: StepExplanation
    evidence_rule: EvidenceRule | None
    documents: Sequence[Document]
    related: Sequence[Task]
    people: Sequence[User]
    can_work: bool
    can_claim: bool
    today: date
    wrote: bool = False  # the checklist rows were created by this call (commit them)

    @property
    def can_complete(self) -> bool:
        return self.can_work and not self.problems


def _task(session: Session, scope: Scope, task_id: int) -> Task:
    query = (
        select(Task)
        .where(Task.id == task_id, visible_clause(scope))
        .options(
            joinedload(Task.site),
            joinedload(Task.sop),
            joinedload(Task.sop_version),
            joinedload(Task.assignee),
            joinedload(Task.team),
            joinedload(Task.completed_by),
        )
    )
    task = session.scalar(query)
    if task is None:
        raise TaskNotVisible(task_id)
    return task


def task_changes(session: Session, scope: Scope, task_id: int, limit: int = 100) -> list[Change]:
    """Return the audit trail of a visible task, its checklist lines and its evidence,
    newest first (loaded when someone opens it, not with every view of the task)."""
    task = _task(session, scope, task_id)
    entities = [and_(AuditEvent.entity_type == "task", AuditEvent.entity_id == str(task.id))]
    items = [str(i.id) for i in task.checklist]
    if items:
        entities.append(
            and_(AuditEvent.entity_type == "checklist_item", AuditEvent.entity_id.in_(items))
        )
    proofs = [str(e.id) for e in task.evidence]
    if proofs:
        entities.append(
            and_(AuditEvent.entity_type == "evidence", AuditEvent.entity_id.in_(proofs))
        )
    query = (
        select(AuditEvent)
        .where(or_(*entities), AuditEvent.action != "create")
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    changes = []
    for event in session.scalars(query):
        before, after = event.before or {}, event.after or {}
        names = [k for k in after if k not in ("updated_at",)] or list(before)
        fields = [(name, before.get(name), after.get(name)) for name in names]
        entity = event.entity_type.replace("_", " ")
        changes.append(Change(event.at, event.actor_label, event.action, entity, fields))
    return changes


def _related(session: Session, task: Task) -> Sequence[Task]:
    """Return the other steps of the same SOP for the same subject and cycle."""
    query = (
        select(Task)
        .where(
            Task.subject_type == task.subject_type,
            Task.subject_id == task.subject_id,
            Task.sop_id == task.sop_id,
            Task.cycle == task.cycle,
            Task.id != task.id,
        )
        .options(joinedload(Task.assignee))
        .order_by(Task.created_at, Task.id)
        .limit(20)
    )
    return session.scalars(query).all()


def _people(session: Session) -> Sequence[User]:
    """Return the active users a manager may give the task to."""
    return session.scalars(
        select(User).where(User.active.is_(True)).order_by(User.name, User.id)
    ).all()


def task_detail(
    session: Session, scope: Scope, task_id: int, now: datetime, documents: bool = False
) -> TaskDetail:
    """Return the task page's content; raise TaskNotVisible outside the scope.

    The documents that could be linked as evidence are loaded when the step asks for a
    document (or `documents` is set). Creates the checklist rows on first view (see
    `ensure_checklist`): the caller commits.
    """
    task = _task(session, scope, task_id)
    wrote = task.is_open and not task.checklist
    checklist = ensure_checklist(session, task) if task.is_open else list(task.checklist)
    evidence = list(task.evidence)
    doc_ids = sorted({e.document_id for e in evidence if e.document_id})
    docs = {}
    if doc_ids:
        docs = {d.id: d for d in session.scalars(select(Document).where(Document.id.in_(doc_ids)))}
    events = session.scalars(
        select(TaskEvent)
        .where(TaskEvent.task_id == task.id)
        .options(joinedload(TaskEvent.actor))
        .order_by(TaskEvent.id.desc())
        .limit(200)
    ).all()
    tz = task.site.timezone if task.site else DEFAULT_TIMEZONE
    today = deadlines.local_date(now, tz)
    step = explain(task.sop_version, task.step_id)
    rule = step.step.evidence if step.step else None
    can_work = task.is_open and may_work(scope, task)
    wants_documents = documents or (rule is not None and rule.kind in ("document", "any"))
    return TaskDetail(
        task=task,
        checklist=checklist,
        evidence=[(e, docs.get(e.document_id) if e.document_id else None) for e in evidence],
        events=events,
        problems=completion_problems(session, task, scope.user) if task.is_open else [],
        subject=subject_card(session, task.subject_type, task.subject_id, today),
        step=step,
        evidence_rule=rule,
        documents=document_choices(session, task) if can_work and wants_documents else [],
        related=_related(session, task),
        people=_people(session) if can_work and scope.is_manager else [],
        can_work=can_work,
        can_claim=may_claim(scope, task),
        today=today,
        wrote=wrote and bool(checklist),
    )
