"""Urgency buckets of open work (overdue, due today, this week, later), each task
judged in its own site's time zone: in Python for a row, in SQL for the counts."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, or_, select
from sqlalchemy.orm import Session

from models import Site, Task
from services import deadlines
from services.engine.subjects import DEFAULT_TIMEZONE

BUCKETS: tuple[tuple[str, str], ...] = (
    ("overdue", "Overdue"),
    ("today", "Due today"),
    ("week", "Due this week"),
    ("later", "Later"),
)


def week_end(day: date) -> date:
    """Return the Sunday that ends `day`'s week (Monday to Sunday)."""
    return day + timedelta(days=6 - day.weekday())


def bucket_of(task: Task, now: datetime) -> str:
    """Return the task's urgency bucket as of `now`, in its site's time zone."""
    if task.due_at < now:
        return "overdue"
    today = deadlines.local_date(now, task.site.timezone if task.site else DEFAULT_TIMEZONE)
    if task.due_on <= today:
        return "today"
    return "week" if task.due_on <= week_end(today) else "later"


def site_zones(session: Session) -> dict[int, str]:
    """Return every site's time zone by site id (a handful of rows)."""
    return {site_id: tz for site_id, tz in session.execute(select(Site.id, Site.timezone))}


def bucket_case(zone_of_site: dict[int, str], now: datetime) -> ColumnElement[str]:
    """Return a SQL CASE giving each open task its bucket (one branch per time zone)."""
    zones: dict[str, list[int]] = {}
    for site_id, tz in sorted(zone_of_site.items()):
        zones.setdefault(tz, []).append(site_id)
    whens: list[tuple[ColumnElement[bool], str]] = [
        (Task.snoozed_until > now, "snoozed"),
        (Task.starts_at > now, "upcoming"),
        (Task.due_at < now, "overdue"),
    ]
    zone_sets = [(tz, Task.site_id.in_(ids)) for tz, ids in zones.items()]
    if DEFAULT_TIMEZONE not in zones:
        zone_sets.append((DEFAULT_TIMEZONE, Task.site_id.is_(None)))
    else:
        zone_sets = [
            (tz, or_(cond, Task.site_id.is_(None)) if tz == DEFAULT_TIMEZONE else cond)
            for tz, cond in zone_sets
        ]
    for tz, in_zone in zone_sets:
        today = deadlines.local_date(now, tz)
        whens.append((and_(in_zone, Task.due_on <= today), "today"))
        whens.append((and_(in_zone, Task.due_on <= week_end(today)), "week"))
    return case(*whens, else_="later")
