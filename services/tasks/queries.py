"""Read-side queries over tasks: queues with filters, urgency buckets, counts, search.

Lists are paginated by keyset on (due_at, id), the order of the task indexes,
so the hundredth page costs what the first does; related rows are loaded in
the same query (no N+1). Buckets (overdue, today, this week, later) are
computed in each task's site's time zone.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import Session, joinedload, load_only

from models import (
    OPEN_STATUSES,
    Site,
    Sop,
    SubjectKind,
    Task,
    TaskStatus,
    Team,
    User,
    closed_work,
    open_work,
)
from models.subject_kinds import subject_kinds
from services.tasks.access import Scope, site_clause, team_queue_clause, visible_clause
from services.tasks.buckets import (
    BUCKETS,
    ZoneLayout,
    bucket_case,
    bucket_of,
    bucket_params,
    site_zones,
    zone_layout,
)

PAGE_SIZE = 50
MAX_QUERY = 100

# Status filter values: a task state, or a view of open tasks.
STATUS_FILTERS: dict[str, str] = {
    "": "Open",
    "open": "Not started",
    "in_progress": "In progress",
    "blocked": "Blocked",
    "snoozed": "Snoozed",
    "upcoming": "Not started yet (future start)",
    "done": "Done",
    "cancelled": "Cancelled",
    "skipped": "Skipped",
    "all": "Any status",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TASK_ID = re.compile(r"^#?(\d{1,9})$")
_REF = re.compile(r"^([A-Za-z]{1,2})-(\d{1,9})$")


@dataclass(frozen=True)
class TaskFilter:
    """What a list is narrowed to. Empty values mean "any"; `assignee_id` 0 means
    "unassigned"."""

    site_id: int | None = None
    team_id: int | None = None
    sop_id: int | None = None
    status: str = ""
    due_from: date | None = None
    due_to: date | None = None
    assignee_id: int | None = None
    q: str = ""

    @property
    def is_open_view(self) -> bool:
        """True when the list shows open work (so urgency buckets apply)."""
        return self.status in ("", "open", "in_progress", "blocked")


@dataclass(frozen=True)
class Cursor:
    """A keyset position: the last row's (due_at, id)."""

    due_at: datetime
    id: int

    def encode(self) -> str:
        micros = (self.due_at - _EPOCH) // timedelta(microseconds=1)
        return f"{micros}_{self.id}"

    @classmethod
    def decode(cls, text: str | None) -> Cursor | None:
        """Return the cursor in `text`, or None when it is missing or malformed."""
        micros, _, task_id = (text or "").partition("_")
        if not (micros.lstrip("-").isdigit() and task_id.isdigit()) or len(text or "") > 40:
            return None
        try:
            return cls(_EPOCH + timedelta(microseconds=int(micros)), int(task_id))
        except OverflowError:
            return None


@dataclass(frozen=True)
class Row:
    """A task in a list, with its urgency bucket (None outside open views)."""

    task: Task
    bucket: str | None


@dataclass
class Page:
    """One page of a list and the cursor of the next one (None: the last page)."""

    rows: list[Row]
    next_cursor: str | None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def tasks(self) -> list[Task]:
        return [r.task for r in self.rows]


# --- filters ----------------------------------------------------------------------------


def is_open() -> ColumnElement[bool]:
    """Return "status is open, in progress or blocked", matched to the indexes over open
    work (see `models.open_work`)."""
    return open_work()


def has_status(status: TaskStatus) -> ColumnElement[bool]:
    """Return "status is `status`", with the value written into the SQL and, for a closed
    status, the history indexes' own condition beside it: SQLite uses a partial index
    only when the query repeats its condition."""
    same = Task.status == literal(status, Task.status.type, literal_execute=True)
    return same if status in OPEN_STATUSES else and_(same, closed_work())


def _awake(now: datetime) -> ColumnElement[bool]:
    return and_(
        or_(Task.snoozed_until.is_(None), Task.snoozed_until <= now),
        or_(Task.starts_at.is_(None), Task.starts_at <= now),
    )


def status_clause(status: str, now: datetime) -> ColumnElement[bool]:
    """Return the condition of a status filter value (see STATUS_FILTERS)."""
    if status == "":
        return and_(is_open(), _awake(now))
    if status in ("open", "in_progress", "blocked"):
        return and_(has_status(TaskStatus(status)), _awake(now))
    if status == "snoozed":
        return and_(is_open(), Task.snoozed_until > now)
    if status == "upcoming":
        return and_(
            is_open(),
            Task.starts_at > now,
            or_(Task.snoozed_until.is_(None), Task.snoozed_until <= now),
        )
    if status == "all":
        # Every task, said as open or closed so that each side can use its indexes.
        return or_(is_open(), closed_work())
    return has_status(TaskStatus(status))


def _ref_prefixes() -> dict[str, SubjectKind]:
    return {info.ref_prefix.rstrip("-").upper(): kind for kind, info in subject_kinds().items()}


def text_clause(q: str) -> ColumnElement[bool]:
    """Return the search condition for `q`: a task number ("#12"), a subject reference
    ("P-4821", matched by index) or words of the title."""
    text = q.strip()[:MAX_QUERY]
    if match := _TASK_ID.match(text):
        return Task.id == int(match.group(1))
    if (match := _REF.match(text)) and match.group(1).upper() in _ref_prefixes():
        kind = _ref_prefixes()[match.group(1).upper()]
        return and_(Task.subject_type == kind, Task.subject_id == int(match.group(2)))
    words = [w for w in text.lower().split() if w][:5]
    return and_(*(func.lower(Task.title).contains(w, autoescape=True) for w in words))


def filter_clauses(flt: TaskFilter, now: datetime, *, status: bool = True) -> list[Any]:
    """Return the conditions of `flt` (without the status one when `status` is False)."""
    others = _timeless_clauses(flt)
    return [status_clause(flt.status, now), *others] if status else others


def _timeless_clauses(flt: TaskFilter) -> list[Any]:
    """Return the conditions of `flt` but its status: none of them depends on the moment."""
    clauses: list[ColumnElement[bool]] = []
    if flt.site_id is not None:
        clauses.append(Task.site_id == flt.site_id)
    if flt.team_id is not None:
        clauses.append(Task.team_id == flt.team_id)
    if flt.sop_id is not None:
        clauses.append(Task.sop_id == flt.sop_id)
    if flt.due_from is not None:
        clauses.append(Task.due_on >= flt.due_from)
    if flt.due_to is not None:
        clauses.append(Task.due_on <= flt.due_to)
    if flt.assignee_id == 0:
        clauses.append(Task.assignee_id.is_(None))
    elif flt.assignee_id is not None:
        clauses.append(Task.assignee_id == flt.assignee_id)
    if flt.q.strip():
        clauses.append(text_clause(flt.q))
    return clauses


# --- lists ------------------------------------------------------------------------------


# The columns a list row shows (loading all ~35 of 50 rows costs more than the query).
_ROW_COLUMNS = (
    Task.title,
    Task.subject_ref,
    Task.site_id,
    Task.sop_id,
    Task.team_id,
    Task.assignee_id,
    Task.status,
    Task.priority,
    Task.due_on,
    Task.due_at,
    Task.starts_at,
    Task.snoozed_until,
    Task.escalation_level,
)


def row_loading(*related: str) -> list[Any]:
    """Return the loader options of list rows: their columns, and the named relations
    (site and SOP always; assignee or team where the list shows them)."""
    options: list[Any] = [
        load_only(*_ROW_COLUMNS),
        joinedload(Task.site).load_only(Site.code, Site.timezone),
        joinedload(Task.sop).load_only(Sop.title),
    ]
    if "assignee" in related:
        options.append(joinedload(Task.assignee).load_only(User.name))
    if "team" in related:
        options.append(joinedload(Task.team).load_only(Team.name))
    return options


def _page(
    session: Session,
    base: Select[tuple[Task]],
    after: Cursor | None,
    limit: int,
    now: datetime,
    buckets: bool,
    related: tuple[str, ...] = (),
) -> Page:
    query = base.options(*row_loading(*related)).order_by(Task.due_at, Task.id)
    if after is not None:
        query = query.where(tuple_(Task.due_at, Task.id) > tuple_(after.due_at, after.id))
    tasks = list(session.scalars(query.limit(limit + 1)))
    more = len(tasks) > limit
    tasks = tasks[:limit]
    rows = [Row(t, bucket_of(t, now) if buckets and t.is_open else None) for t in tasks]
    next_cursor = Cursor(tasks[-1].due_at, tasks[-1].id).encode() if more and tasks else None
    return Page(rows, next_cursor)


def my_queue(
    session: Session,
    scope: Scope,
    flt: TaskFilter,
    now: datetime,
    after: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    """Return a page of the user's own tasks, most urgent first (overdue, today, …)."""
    base = select(Task).where(*list_conditions("mine", scope, flt, now))
    return _page(session, base, after, limit, now, flt.is_open_view)


def my_counts(
    session: Session,
    scope: Scope,
    flt: TaskFilter,
    now: datetime,
    zones: dict[int, str] | None = None,
) -> dict[str, int]:
    """Return the user's open tasks per bucket (overdue, today, week, later, snoozed,
    upcoming) under the filter's other conditions, plus "total" (awake ones)."""
    layout = zone_layout(site_zones(session) if zones is None else zones)
    params = {"counts_user": scope.user_id, **bucket_params(layout, now)}
    counts = dict.fromkeys([name for name, _ in BUCKETS] + ["snoozed", "upcoming"], 0)
    counts.update({name: n for name, n in session.execute(_counts_query(layout, flt), params)})
    counts["total"] = sum(counts[name] for name, _ in BUCKETS)
    return counts


@functools.lru_cache(maxsize=128)
def _counts_query(layout: ZoneLayout, flt: TaskFilter) -> Select[tuple[str, int]]:
    """Return the SELECT of `my_counts` for a zone layout and a filter, built once: the
    user, the moment and the zones' dates are parameters (`counts_user`, `bucket_params`)."""
    bucket = bucket_case(layout).label("bucket")
    return (
        select(bucket, func.count())
        .where(
            Task.assignee_id == bindparam("counts_user"),
            is_open(),
            *_timeless_clauses(flt),
        )
        .group_by(bucket)
    )


def team_queue(
    session: Session,
    scope: Scope,
    flt: TaskFilter,
    now: datetime,
    after: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    """Return a page of the unassigned open tasks of the user's teams at their sites
    (a manager filtering by team sees that team's queue)."""
    base = select(Task).where(*team_queue_conditions(scope, flt, now))
    return _page(session, base, after, limit, now, True, ("team",))


def team_queue_conditions(
    scope: Scope, flt: TaskFilter, now: datetime
) -> list[ColumnElement[bool]]:
    """Return what puts a task in the scope's team queue under the filter: unassigned,
    not started, in one of the scope's teams at its sites (a manager filtering by team
    sees that team's queue), awake."""
    if scope.is_manager and flt.team_id is not None:
        owner = Task.assignee_id.is_(None)
    else:
        owner = team_queue_clause(scope)
    return [owner, *filter_clauses(replace(flt, status="open", assignee_id=None), now)]


def list_conditions(
    view: str, scope: Scope, flt: TaskFilter, now: datetime
) -> list[ColumnElement[bool]]:
    """Return the conditions of one of the board's lists ("mine", "team" or "all")."""
    if view == "mine":
        return [Task.assignee_id == scope.user_id, *filter_clauses(flt, now)]
    if view == "team":
        return team_queue_conditions(scope, flt, now)
    return [visible_clause(scope), *filter_clauses(flt, now)]


def team_queue_count(session: Session, scope: Scope, flt: TaskFilter, now: datetime) -> int:
    """Return how many tasks the team queue holds under the filter."""
    query = select(func.count()).where(*team_queue_conditions(scope, flt, now))
    return session.scalar(query) or 0


def all_tasks(
    session: Session,
    scope: Scope,
    flt: TaskFilter,
    now: datetime,
    after: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    """Return a page of every task the scope may see under the filter (manager lists)."""
    base = select(Task).where(*list_conditions("all", scope, flt, now))
    return _page(session, base, after, limit, now, flt.is_open_view, ("assignee",))


def subject_tasks(
    session: Session, scope: Scope, kind: SubjectKind, subject_id: int, limit: int = 20
) -> Sequence[Task]:
    """Return the newest tasks about one subject that the scope may see."""
    query = (
        select(Task)
        .where(
            Task.subject_type == kind,
            Task.subject_id == subject_id,
            visible_clause(scope),
            site_clause(scope, Task.site_id),
        )
        .options(joinedload(Task.assignee), joinedload(Task.sop))
        .order_by(Task.due_at.desc(), Task.id.desc())
        .limit(limit)
    )
    return session.scalars(query).all()
