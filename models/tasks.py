"""Human work: tasks, their checklists and evidence, and their history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.audit import Audited
from models.base import UTCDateTime, db, utcnow
from models.enums import OPEN_STATUSES, Role, SubjectKind, TaskStatus, str_enum
from models.org import Site, Team, User
from models.sops import Sop, SopVersion

# Open work and closed work are indexed apart. The board's partial indexes cover
# open work only (a small share of a table that keeps every finished task), in the
# order the lists show it; history (done, cancelled, skipped) has its own partial
# indexes, which a sweep inserting thousands of open tasks never touches: every
# index a new task enters costs about a microsecond of each insert (bench/sweep.py).
# Queries must spell the same conditions with literal values for the planner to use
# them: build them with `open_work` and `closed_work` below.
OPEN_WORK = "status IN ('open', 'in_progress', 'blocked')"
CLOSED_WORK = "status NOT IN ('open', 'in_progress', 'blocked')"
TEAM_QUEUE = "status = 'open' AND assignee_id IS NULL"


def _history(name: str, *columns: str) -> Index:
    """A partial index over closed work, ending with updated_at (what a feed filters)."""
    where = text(CLOSED_WORK)
    return Index(name, *columns, "updated_at", postgresql_where=where, sqlite_where=where)


# A task's identity: one step of one SOP for one subject in one cycle.
TASK_IDENTITY = ("subject_id", "subject_type", "sop_id", "step_id", "cycle")


class Task(Audited, db.Model):
    """One step of one SOP for one subject in one cycle, assigned and due.

    Its identity (`TASK_IDENTITY`) is unique: that constraint, not a read-then-write,
    is what keeps reruns and concurrent runs from doubling work. Led by the subject,
    the same index finds a subject's tasks.
    """

    __tablename__ = "task"
    __table_args__ = (
        UniqueConstraint(*TASK_IDENTITY, name="uq_task_identity"),
        # The tasks a run wrote lie together in the table (a sweep appends them): a
        # block-range index finds them at a fraction of a B-tree's cost per insert.
        Index("ix_task_run_id", "run_id", postgresql_using="brin"),
        # My queue (page, keyset and bucket counts from the index alone)...
        Index(
            "ix_task_open_assignee",
            "assignee_id",
            "due_at",
            "id",
            "due_on",
            "site_id",
            "snoozed_until",
            "starts_at",
            # ...and the manager board's load by person, from the index alone.
            "team_id",
            "status",
            "escalation_level",
            postgresql_where=text(OPEN_WORK),
            sqlite_where=text(OPEN_WORK),
        ),
        # The team queue and its count (covering: SQLite picks it only then).
        Index(
            "ix_task_team_queue",
            "team_id",
            "due_at",
            "id",
            "site_id",
            "snoozed_until",
            "starts_at",
            "status",
            "assignee_id",
            postgresql_where=text(TEAM_QUEUE),
            sqlite_where=text(TEAM_QUEUE),
        ),
        # Every open task by deadline (the manager board, the escalation sweep); team,
        # site and SOP are checked in the index (team and site feeds, counts per SOP).
        Index(
            "ix_task_open_due",
            "due_at",
            "id",
            "team_id",
            "site_id",
            "sop_id",
            postgresql_where=text(OPEN_WORK),
            sqlite_where=text(OPEN_WORK),
        ),
        # History, by status and deadline: a person's, a team's, everyone's (lists
        # filtered to done, cancelled or skipped; the closed tasks a feed still shows).
        _history("ix_task_closed_assignee", "assignee_id", "status", "due_at", "id"),
        _history("ix_task_closed_team", "team_id", "status", "due_at", "id"),
        _history("ix_task_closed_due", "status", "due_at", "id", "site_id", "sop_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    sop_id: Mapped[int] = mapped_column(ForeignKey("sop.id"))
    sop_version_id: Mapped[int] = mapped_column(ForeignKey("sop_version.id"))
    step_id: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("sop_run.id"))
    subject_type: Mapped[SubjectKind] = mapped_column(str_enum(SubjectKind, 16))
    subject_id: Mapped[int] = mapped_column(Integer)
    subject_ref: Mapped[str] = mapped_column(String(40))  # opaque, e.g. "P-4821"
    cycle: Mapped[str] = mapped_column(String(40))  # e.g. the expiry date it serves
    site_id: Mapped[int | None] = mapped_column(ForeignKey("site.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    status: Mapped[TaskStatus] = mapped_column(str_enum(TaskStatus, 16), default=TaskStatus.OPEN)
    priority: Mapped[int] = mapped_column(Integer, default=2)  # 1 high, 2 normal, 3 low
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_on: Mapped[date] = mapped_column(Date)  # the deadline's day in the site's zone
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when it becomes overdue
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    snooze_reason: Mapped[str | None] = mapped_column(Text)
    blocked_reason: Mapped[str | None] = mapped_column(Text)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    evidence_required: Mapped[bool] = mapped_column(Boolean, default=False)
    approval_role: Mapped[Role | None] = mapped_column(str_enum(Role, 16))
    # Bumped whenever the title or the deadline changes (calendar SEQUENCE).
    revision: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    sop: Mapped[Sop] = relationship()
    sop_version: Mapped[SopVersion] = relationship()
    site: Mapped[Site | None] = relationship()
    team: Mapped[Team | None] = relationship()
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    completed_by: Mapped[User | None] = relationship(foreign_keys=[completed_by_id])
    checklist: Mapped[list[ChecklistItem]] = relationship(
        back_populates="task", order_by="ChecklistItem.position", cascade="all, delete-orphan"
    )
    evidence: Mapped[list[Evidence]] = relationship(
        back_populates="task", order_by="Evidence.id", cascade="all, delete-orphan"
    )
    events: Mapped[list[TaskEvent]] = relationship(
        back_populates="task", order_by="TaskEvent.id", cascade="all, delete-orphan"
    )

    @property
    def is_open(self) -> bool:
        return self.status in (TaskStatus.OPEN, TaskStatus.IN_PROGRESS, TaskStatus.BLOCKED)


class ChecklistItem(Audited, db.Model):
    """One line of a task's checklist; required ones gate completion."""

    __tablename__ = "checklist_item"
    __table_args__ = (Index("ix_checklist_item_task", "task_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(300))
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    evidence_ref: Mapped[str | None] = mapped_column(String(500))

    task: Mapped[Task] = relationship(back_populates="checklist")
    done_by: Mapped[User | None] = relationship()


class Evidence(Audited, db.Model):
    """Proof attached to a task: an uploaded file, a link, or a filed Document."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # file / link / document
    document_id: Mapped[int | None] = mapped_column(ForeignKey("document.id"))
    file_ref: Mapped[str | None] = mapped_column(
        String(500)
    )  # storage key, never a path from users
    file_name: Mapped[str | None] = mapped_column(String(255))
    url: Mapped[str | None] = mapped_column(String(1000))
    note: Mapped[str | None] = mapped_column(Text)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    task: Mapped[Task] = relationship(back_populates="evidence")


class TaskEvent(db.Model):
    """A line of a task's own history: claimed, ticked, snoozed, escalated, done."""

    __tablename__ = "task_event"
    __table_args__ = (Index("ix_task_event_task", "task_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    task: Mapped[Task] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()


def _status_list(name: str) -> Any:
    # Values written into the SQL, not bound: a prepared statement's generic plan
    # cannot prove that a parameter matches a partial index's condition.
    return bindparam(name, list(OPEN_STATUSES), expanding=True, literal_execute=True)


def open_work(status: Any = None) -> ColumnElement[bool]:
    """Return `OPEN_WORK` as a condition on `status` (default: task.status) that the
    planner matches to the indexes over open work."""
    return (Task.status if status is None else status).in_(_status_list("open_work"))


def closed_work(status: Any = None) -> ColumnElement[bool]:
    """Return `CLOSED_WORK` as a condition on `status` (default: task.status) that the
    planner matches to the indexes over history."""
    return (Task.status if status is None else status).not_in(_status_list("closed_work"))
