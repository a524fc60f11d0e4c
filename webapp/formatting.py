"""How dates, deadlines and changes read on the board: Jinja filters and globals.

Deadlines are shown in the task's site's time zone, relative ("due in 3 days")
and absolute ("Tue 17 Nov, 17:00 EST") side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, g

from models import Task, utcnow
from services.engine.subjects import DEFAULT_TIMEZONE
from services.subjects.cards import Expiry
from services.tasks.buckets import BUCKETS
from services.tasks.queries import STATUS_FILTERS


@dataclass(frozen=True)
class Due:
    """A deadline for people: relative words, the absolute local time, and a tone."""

    relative: str
    absolute: str
    iso: str
    tone: str  # danger (overdue), warn (today), notice (this week), ok
    snoozed: bool = False  # the task sleeps until a later time


def now() -> datetime:
    """Return the request's "now" (one instant per request, so a page is consistent)."""
    if "sopflow_now" not in g:
        g.sopflow_now = utcnow()
    return g.sopflow_now


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def zone_of(task: Task) -> str:
    """Return the IANA zone a task's times are shown in (its site's)."""
    return task.site.timezone if task.site else DEFAULT_TIMEZONE


def due(task: Task, at: datetime | None = None) -> Due:
    """Return how the task's deadline reads as of `at` (default: now)."""
    at = at or now()
    snoozed = task.snoozed_until is not None and task.snoozed_until > at
    zone = ZoneInfo(zone_of(task))
    local_due = task.due_at.astimezone(zone)
    today = at.astimezone(zone).date()
    end_of_day = local_due.hour == 0 and local_due.minute == 0 and local_due.date() > task.due_on
    absolute = task.due_on.strftime("%a %-d %b")
    if task.due_on.year != today.year:
        absolute += task.due_on.strftime(" %Y")
    if not end_of_day:
        absolute += local_due.strftime(", %H:%M %Z")
    days = (task.due_on - today).days
    if task.due_at <= at:
        late = at - task.due_at
        if late.days >= 1:
            relative = f"overdue by {_plural(late.days, 'day')}"
        else:
            relative = f"overdue by {_plural(max(1, late.seconds // 3600), 'hour')}"
        return Due(relative, absolute, task.due_at.isoformat(), "danger", snoozed)
    if days <= 0:
        return Due("due today", absolute, task.due_at.isoformat(), "warn", snoozed)
    if days == 1:
        return Due("due tomorrow", absolute, task.due_at.isoformat(), "notice", snoozed)
    tone = "notice" if days < 7 else "ok"
    words = f"in {_plural(days, 'day')}" if days < 21 else f"in {_plural(days // 7, 'week')}"
    return Due(words, absolute, task.due_at.isoformat(), tone, snoozed)


def local_time(
    instant: datetime | None, tz: str | None = None, fmt: str = "%-d %b %Y, %H:%M"
) -> str:
    """Return an instant as local wall time in `tz` (UTC when None), with the zone."""
    if instant is None:
        return "—"
    zone = ZoneInfo(tz) if tz else UTC
    return instant.astimezone(zone).strftime(fmt + " %Z")


def day(value: date | None) -> str:
    """Return a date as "Tue 17 Nov 2026" (or "—")."""
    return value.strftime("%a %-d %b %Y") if value else "—"


def label(value: Any) -> str:
    """Return an enum value or snake_case name as words ("in_progress" → "in progress")."""
    raw = getattr(value, "value", value)
    return str(raw).replace("_", " ") if raw is not None else "—"


def fact(value: Any) -> str:
    """Return a subject-card value as text (dates as days, expiries with their status)."""
    if isinstance(value, Expiry):
        return f"{day(value.day)} · {value.label}" if value.day else value.label
    if isinstance(value, date) and not isinstance(value, datetime):
        return day(value)
    if isinstance(value, datetime):
        return local_time(value)
    return label(value) if hasattr(value, "value") else str(value)


def short(value: Any, limit: int = 60) -> str:
    """Return a value shortened for a table cell (audit before/after)."""
    text = "—" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


PRIORITIES = {1: "high", 2: "normal", 3: "low"}


def register(app: Flask) -> None:
    """Install the filters and globals the templates use."""
    app.jinja_env.filters.update(
        due=due, local_time=local_time, day=day, label=label, fact=fact, short=short
    )
    app.jinja_env.globals.update(
        now=now,
        timedelta=timedelta,
        priorities=PRIORITIES,
        zone_of=zone_of,
        buckets=dict(BUCKETS),
        bucket_order=[name for name, _ in BUCKETS],
        task_statuses=STATUS_FILTERS,
    )
