"""Urgency buckets of open work (overdue, due today, this week, later), each task
judged in its own site's time zone: in Python for a row, in SQL for the counts."""

from __future__ import annotations

import functools
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, case, or_, select
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


_SITE_ZONES = select(Site.id, Site.timezone)  # built once: it never changes

# The site ids of each time zone, in a stable, hashable form (see `zone_layout`).
ZoneLayout = tuple[tuple[str, tuple[int, ...]], ...]


def site_zones(session: Session) -> dict[int, str]:
    """Return every site's time zone by site id (a handful of rows)."""
    return {site_id: tz for site_id, tz in session.execute(_SITE_ZONES)}


def zone_layout(zone_of_site: dict[int, str]) -> ZoneLayout:
    """Return the site ids of each zone, sorted: what the SQL of the buckets depends on."""
    zones: dict[str, list[int]] = {}
    for site_id, tz in sorted(zone_of_site.items()):
        zones.setdefault(tz, []).append(site_id)
    return tuple((tz, tuple(ids)) for tz, ids in zones.items())


def _zones(layout: ZoneLayout) -> list[tuple[str, tuple[int, ...], bool]]:
    """Return (zone, its site ids, whether tasks without a site are judged in it): the
    layout's zones, plus the default zone when no site uses it."""
    zones = [(tz, ids, tz == DEFAULT_TIMEZONE) for tz, ids in layout]
    if DEFAULT_TIMEZONE not in dict(layout):
        zones.append((DEFAULT_TIMEZONE, (), True))
    return zones


@functools.lru_cache(maxsize=64)
def bucket_case(layout: ZoneLayout) -> ColumnElement[str]:
    """Return a SQL CASE giving each open task its bucket (one branch per time zone).

    The moment and each zone's dates are bind parameters (`bucket_params` gives their
    values), so the expression is built once per layout: the counts are asked for on
    every list and after every change, and building it cost more than running it.
    """
    whens: list[tuple[ColumnElement[bool], str]] = [
        (Task.snoozed_until > bindparam("bucket_now"), "snoozed"),
        (Task.starts_at > bindparam("bucket_now"), "upcoming"),
        (Task.due_at < bindparam("bucket_now"), "overdue"),
        # Due after every zone's week: later, whatever the zone. Most open work is, and
        # this spares the database the per-zone branches for it.
        (Task.due_on > bindparam("bucket_after_weeks"), "later"),
    ]
    for i, (_, site_ids, siteless) in enumerate(_zones(layout)):
        in_zone: ColumnElement[bool] = Task.site_id.is_(None)
        if site_ids:
            in_site = Task.site_id.in_(site_ids)
            in_zone = or_(in_site, in_zone) if siteless else in_site
        whens.append((and_(in_zone, Task.due_on <= bindparam(f"bucket_today_{i}")), "today"))
        whens.append((and_(in_zone, Task.due_on <= bindparam(f"bucket_week_{i}")), "week"))
    return case(*whens, else_="later")


def bucket_params(layout: ZoneLayout, now: datetime) -> dict[str, Any]:
    """Return the values of `bucket_case(layout)`'s parameters as of `now`."""
    params: dict[str, Any] = {"bucket_now": now}
    week_ends = []
    for i, (tz, _, _) in enumerate(_zones(layout)):
        today = deadlines.local_date(now, tz)
        week_ends.append(week_end(today))
        params[f"bucket_today_{i}"] = today
        params[f"bucket_week_{i}"] = week_ends[-1]
    params["bucket_after_weeks"] = max(week_ends)
    return params
