"""Whole feeds: which tasks a grant shows, the feed's validators, and the body.

A feed holds the tasks due from 30 days ago to 180 days ahead (a window, so a
feed stays small), open ones and those closed (done or cancelled) in the last
14 days: a cancelled task stays, STATUS:CANCELLED, long enough for every
client to remove it.

The validators (ETag, Last-Modified) come from an aggregate over exactly the
rows the body would hold (count, newest update, sums of ids and revisions),
so a conditional request is answered without building the body, and the
body's own validators are computed from its rows in the same way.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from models import (
    CalendarScope,
    Site,
    SubjectKind,
    Task,
    TaskStatus,
    Team,
    User,
    closed_work,
    open_work,
)
from services.calendar import ics
from services.calendar.events import Form, TaskFacts, renderer_for
from services.calendar.tokens import FeedGrant, connection_of

WINDOW_BEFORE = timedelta(days=30)
WINDOW_AFTER = timedelta(days=180)
CLOSED_KEPT = timedelta(days=14)
REFRESH = timedelta(hours=1)  # REFRESH-INTERVAL and X-PUBLISHED-TTL
# A site feed is the site's compliance calendar: inspections, documents, waste.
SITE_KINDS = (SubjectKind.INSPECTION, SubjectKind.DOCUMENT, SubjectKind.DISPOSAL, SubjectKind.SITE)
# Bump when the rendering changes, so clients holding an old ETag get the new form.
FORMAT_VERSION = "1"

_TASK = Task.__table__.c
_SITE = Site.__table__.c
_TEAM = Team.__table__.c
_USER = User.__table__.c
# Core columns, not ORM attributes: the ORM's row processing costs a quarter more on
# the 5,000-row query every feed build runs. In TaskFacts order.
_COLUMNS = (
    _TASK.id,
    _TASK.title,
    _TASK.status,
    _TASK.revision,
    _TASK.due_on,
    _TASK.due_at,
    _TASK.updated_at,
    _TASK.completed_at,
    _TASK.priority,
    _TASK.subject_ref,
    _SITE.code,
    _SITE.timezone,
    _SITE.holiday_calendar,
)
_FROM = Task.__table__.outerjoin(Site.__table__, _SITE.id == _TASK.site_id)


@dataclass(frozen=True)
class Window:
    """The days a feed covers and the moment before which closed tasks are dropped.

    Both move once a day (at 00:00 UTC), so a feed's content changes with the
    date only at `day_start`, which Last-Modified therefore never precedes.
    """

    first: date
    last: date
    closed_since: datetime
    day_start: datetime


@dataclass(frozen=True)
class FeedState:
    """The HTTP validators of a feed's current content."""

    etag: str  # quoted, strong
    last_modified: datetime  # whole seconds, UTC


@dataclass(frozen=True)
class Feed:
    """A built feed: the iCalendar body, its validators and how many components it has."""

    body: bytes
    state: FeedState
    count: int


def window_for(now: datetime) -> Window:
    """Return the window of a feed built at `now`."""
    today = now.astimezone(UTC).date()
    day_start = datetime.combine(today, time(), UTC)
    return Window(
        first=today - WINDOW_BEFORE,
        last=today + WINDOW_AFTER,
        closed_since=day_start - CLOSED_KEPT,
        day_start=day_start,
    )


def _conditions(scope: CalendarScope) -> list[ColumnElement[bool]]:
    """Return the WHERE clause of a feed of `scope`, with the grant and its window as bound
    parameters (see `_parameters`), so each statement is built and compiled once."""
    if scope is CalendarScope.USER:
        owner: list[ColumnElement[bool]] = [_TASK.assignee_id == bindparam("feed_scope_id")]
    elif scope is CalendarScope.TEAM:
        owner = [_TASK.team_id == bindparam("feed_scope_id")]
    else:
        owner = [_TASK.site_id == bindparam("feed_scope_id"), _TASK.subject_type.in_(SITE_KINDS)]
    return [
        *owner,
        _TASK.due_on >= bindparam("window_first"),
        _TASK.due_on <= bindparam("window_last"),
        _TASK.status != TaskStatus.SKIPPED,
        # Open, or closed lately: each side its own partial index (models/tasks.py).
        or_(
            open_work(_TASK.status),
            and_(closed_work(_TASK.status), _TASK.updated_at >= bindparam("closed_since")),
        ),
    ]


def _parameters(grant: FeedGrant, window: Window) -> dict[str, Any]:
    """Return the values of `_conditions`' parameters for this grant and window."""
    return {
        "feed_scope_id": grant.scope_id,
        "window_first": window.first,
        "window_last": window.last,
        "closed_since": window.closed_since,
    }


# Per scope, built once: the aggregate the validators come from, and the rows of the body.
_AGGREGATES: dict[CalendarScope, Select[Any]] = {
    scope: select(
        func.count(_TASK.id),
        func.max(_TASK.updated_at),
        func.coalesce(func.sum(_TASK.id), 0),
        func.coalesce(func.sum(_TASK.revision), 0),
    ).where(*_conditions(scope))
    for scope in CalendarScope
}
_ROWS: dict[CalendarScope, Select[Any]] = {
    scope: select(*_COLUMNS)
    .select_from(_FROM)
    .where(*_conditions(scope))
    .order_by(_TASK.due_on, _TASK.id)
    for scope in CalendarScope
}


@dataclass(frozen=True)
class _Seen:
    state: FeedState
    first: date  # the window it was computed for
    checked: float  # monotonic() of the last check against the database


# The last state seen per feed (in this process). It lets Last-Modified move forward
# when the content changed without any row in the feed being newer (a task reassigned
# away), and lets a conditional request within `fresh_for` seconds of the last check
# be answered without a query.
_seen: OrderedDict[tuple[Any, ...], _Seen] = OrderedDict()
_seen_lock = threading.Lock()
_SEEN_CAPACITY = 20_000


def _remember(key: tuple[Any, ...], state: FeedState, first: date, now: datetime) -> FeedState:
    with _seen_lock:
        before = _seen.get(key)
        if before is not None and before.state.etag == state.etag:
            state = before.state
        elif before is not None and state.last_modified <= before.state.last_modified:
            moved = max(
                now.replace(microsecond=0), before.state.last_modified + timedelta(seconds=1)
            )
            state = replace(state, last_modified=moved)
        _seen[key] = _Seen(state, first, monotonic())
        _seen.move_to_end(key)
        if len(_seen) > _SEEN_CAPACITY:
            _seen.popitem(last=False)
        return state


def _state(
    grant: FeedGrant,
    form: Form,
    window: Window,
    aggregate: tuple[int, datetime | None, int, int],
    now: datetime,
) -> FeedState:
    count, newest, id_sum, revision_sum = aggregate
    newest_utc = newest.astimezone(UTC).isoformat() if newest else "-"
    facts = (count, newest_utc, id_sum, revision_sum)
    material = "|".join(map(str, (FORMAT_VERSION, form, *grant.key, window.first, *facts)))
    etag = '"' + hashlib.sha256(material.encode()).hexdigest()[:32] + '"'
    modified = max(newest or window.day_start, window.day_start).astimezone(UTC)
    state = FeedState(etag, modified.replace(microsecond=0))
    return _remember((grant.key, form), state, window.first, now)


def feed_state(
    bind: Session | Connection,
    grant: FeedGrant,
    form: Form,
    now: datetime,
    fresh_for: float = 0.0,
) -> FeedState:
    """Return the feed's validators: from one aggregate query (no body is built), or,
    when this process checked them less than `fresh_for` seconds ago, from memory.

    `fresh_for` bounds how stale a 304 may be (the web app uses a few seconds, far
    below the hour clients wait between polls); a full GET always reads the database.
    """
    window = window_for(now)
    key = (grant.key, form)
    if fresh_for > 0:
        with _seen_lock:
            seen = _seen.get(key)
        if (
            seen is not None
            and seen.first == window.first
            and monotonic() - seen.checked < fresh_for
        ):
            return seen.state
    aggregate = _AGGREGATES[grant.scope]
    result = connection_of(bind).execute(aggregate, _parameters(grant, window))
    count, newest, id_sum, revision_sum = result.one()
    return _state(grant, form, window, (count, newest, int(id_sum), int(revision_sum)), now)


def feed_rows(bind: Session | Connection, grant: FeedGrant, now: datetime) -> list[TaskFacts]:
    """Return the facts of every task in the grant's feed, by due date."""
    parameters = _parameters(grant, window_for(now))
    return [TaskFacts(*row) for row in connection_of(bind).execute(_ROWS[grant.scope], parameters)]


# The one column a feed's title shows, per scope (Core: one value, no object loaded).
_TITLE_SOURCES = {
    CalendarScope.TEAM: select(_TEAM.name).where(_TEAM.id == bindparam("title_id")),
    CalendarScope.SITE: select(_SITE.code).where(_SITE.id == bindparam("title_id")),
    CalendarScope.USER: select(_USER.name).where(_USER.id == bindparam("title_id")),
}


def feed_title(bind: Session | Connection, grant: FeedGrant) -> tuple[str, str]:
    """Return the calendar's name and description (no PHI: a team, a site code, a person's
    own name)."""
    title_id = grant.user_id if grant.scope is CalendarScope.USER else grant.scope_id
    shown = connection_of(bind).scalar(_TITLE_SOURCES[grant.scope], {"title_id": title_id})
    if grant.scope is CalendarScope.TEAM:
        label = shown or "Team"
        return f"sopflow · {label} queue", f"Deadlines of the {label} team's tasks."
    if grant.scope is CalendarScope.SITE:
        code = shown or "Site"
        return (
            f"sopflow · {code} compliance",
            f"Inspection, document and disposal deadlines at {code}.",
        )
    name = shown or "me"
    return "sopflow · My deadlines", f"Deadlines of the tasks assigned to {name}."


def build_feed(
    bind: Session | Connection, grant: FeedGrant, form: Form, now: datetime, base_url: str
) -> Feed:
    """Return the grant's feed as iCalendar bytes; unchanged tasks come from the cache."""
    rows = feed_rows(bind, grant, now)
    renderer = renderer_for(base_url)
    name, description = feed_title(bind, grant)
    parts = [ics.calendar_header(name, description, REFRESH)]
    parts += [renderer.render(facts, form) for facts in rows]
    parts.append(ics.END_CALENDAR)
    newest = max((r.updated_at for r in rows), default=None)
    aggregate = (len(rows), newest, sum(r.id for r in rows), sum(r.revision for r in rows))
    state = _state(grant, form, window_for(now), aggregate, now)
    return Feed(b"".join(parts), state, len(rows))
