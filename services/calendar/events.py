"""One task as one calendar component (VEVENT, or VTODO for clients that show tasks),
rendered once and cached until something it shows changes.

Minimum necessary (HIPAA 164.502(b)): a component carries the task's title
(PHI-free by SOP validation: titles may only use `subject.ref`), the site's
code, the opaque subject reference and a link back into the signed-in app,
never the task's description, a name or a condition.
"""

from __future__ import annotations

import functools
import threading
from datetime import date, datetime, time, timedelta
from typing import Literal, NamedTuple
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from models import TaskStatus
from services import deadlines
from services.calendar import ics
from services.engine.subjects import DEFAULT_CALENDAR, DEFAULT_TIMEZONE

Form = Literal["event", "todo"]
CLOSED = (TaskStatus.DONE.value, TaskStatus.CANCELLED.value)
# A task without a site: the engine's defaults.
DEFAULT_ZONE, DEFAULT_HOLIDAYS = DEFAULT_TIMEZONE, DEFAULT_CALENDAR
# Timed deadlines show as a short event starting at the deadline: calendars list
# events by their start time, so "17:00 Renewal package" reads as "due at 17:00".
TIMED_LENGTH = timedelta(minutes=15)
ALARM_AT = time(9, 0)  # the reminder: 09:00 site time, one working day before the deadline
_PRIORITY = {1: b"1", 2: b"5", 3: b"9"}  # RFC 5545: 1 highest, 5 normal, 9 lowest


class TaskFacts(NamedTuple):
    """Everything a task's component shows. A tuple, so comparing two (is the cached
    component still right?) is one C-level comparison: any change to what is shown
    (title, date, status, revision, site, ...) makes them differ."""

    id: int
    title: str
    status: str
    revision: int
    due_on: date
    due_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    priority: int
    subject_ref: str
    site_code: str | None
    site_timezone: str | None
    site_holidays: str | None

    @property
    def closed(self) -> bool:
        return self.status in CLOSED


def task_label(title: str, subject_ref: str, site_code: str | None) -> str:
    """Return "<task type> · <site> · #<ref>", e.g. "Renewal package · FL-Tampa · #P-4821":
    what feeds and mail show of a task (no PHI: titles may only use the opaque ref).

    Step titles end with " · <ref>" by convention; that suffix is replaced so the
    reference is shown once, marked with "#".
    """
    title = title.strip()
    suffix = f" · {subject_ref}"
    base = title[: -len(suffix)].rstrip() if subject_ref and title.endswith(suffix) else title
    parts = [base]
    if site_code and site_code not in base:
        parts.append(site_code)
    if subject_ref and subject_ref not in base:
        parts.append(f"#{subject_ref}")
    return " · ".join(parts)


def summary(facts: TaskFacts) -> str:
    """Return the component's SUMMARY: the task label, ticked once the task is done."""
    text = task_label(facts.title, facts.subject_ref, facts.site_code)
    return f"✓ {text}" if facts.status == TaskStatus.DONE.value else text


@functools.lru_cache(maxsize=16384)
def _end_of_day(day: date, zone: str) -> datetime:
    return deadlines.end_of_day(day, zone)


@functools.lru_cache(maxsize=16384)
def alarm_instant(day: date, zone: str, holidays: str) -> datetime:
    """Return 09:00 site time on the working day before `day` (site holidays skipped)."""
    before = deadlines.add_business_days(day, -1, holidays)
    return deadlines.deadline_instant(before, zone, ALARM_AT)


def is_timed(facts: TaskFacts) -> bool:
    """Return True when the deadline is a time of day (`due: at:`), not the end of the day."""
    return facts.due_at != _end_of_day(facts.due_on, facts.site_timezone or DEFAULT_ZONE)


def _sequence(facts: TaskFacts) -> bytes:
    # The board bumps `revision` when the title or the date changes; closing the task
    # is a change clients must also accept, hence +1 once closed.
    return b"%d" % (facts.revision + (1 if facts.closed else 0))


class EventRenderer:
    """Renders TaskFacts as components for one app address, keeping each task's latest
    component (per form, per process) so an unchanged task costs a dictionary lookup
    and a tuple comparison. Beyond `capacity` tasks the oldest entries are dropped."""

    def __init__(self, base_url: str, capacity: int = 100_000) -> None:
        self.base_url = base_url.rstrip("/")
        self.domain = urlsplit(self.base_url).hostname or "sopflow"
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._cache: dict[Form, dict[int, tuple[TaskFacts, bytes]]] = {"event": {}, "todo": {}}
        self._lock = threading.Lock()

    def render(self, facts: TaskFacts, form: Form = "event") -> bytes:
        """Return the component for `facts` (from the cache when nothing shown changed)."""
        cache = self._cache[form]
        entry = cache.get(facts.id)  # a dict read is atomic: no lock on the hot path
        if entry is not None and entry[0] == facts:
            self.hits += 1
            return entry[1]
        body = self._event(facts) if form == "event" else self._todo(facts)
        with self._lock:
            self.misses += 1
            cache.pop(facts.id, None)  # re-insert: the dict's order is then the age
            cache[facts.id] = (facts, body)
            while len(cache) > self.capacity:
                del cache[next(iter(cache))]
        return body

    def clear(self) -> None:
        with self._lock:
            for cache in self._cache.values():
                cache.clear()

    def task_url(self, task_id: int) -> str:
        return f"{self.base_url}/tasks/{task_id}"

    def _common(self, facts: TaskFacts, uid: str) -> list[bytes]:
        url = self.task_url(facts.id)
        title = summary(facts)
        when = facts.due_on.strftime("%a %d %b %Y")
        if is_timed(facts):
            local = facts.due_at.astimezone(ZoneInfo(facts.site_timezone or DEFAULT_ZONE))
            when += local.strftime(" %H:%M %Z")
        details = f"Due {when} · {facts.site_code or 'no site'} · #{facts.subject_ref}"
        return [
            ics.prop(b"UID", ics.text(f"{uid}@{self.domain}")),
            ics.prop(b"DTSTAMP", ics.utc_value(facts.updated_at)),
            ics.prop(b"SEQUENCE", _sequence(facts)),
            ics.prop(b"SUMMARY", ics.text(title)),
            ics.prop(b"DESCRIPTION", ics.text(f"{details}\nOpen in sopflow: {url}")),
            ics.prop(b"URL", ics.uri(url)),
        ]

    def _alarm(self, facts: TaskFacts) -> list[bytes]:
        if facts.closed:
            return []
        zone = facts.site_timezone or DEFAULT_ZONE
        at = alarm_instant(facts.due_on, zone, facts.site_holidays or DEFAULT_HOLIDAYS)
        due = facts.due_on.strftime("%a %d %b")
        return [
            b"BEGIN:VALARM\r\n",
            b"ACTION:DISPLAY\r\n",
            ics.prop(b"DESCRIPTION", ics.text(f"Due {due}: {summary(facts)}")),
            ics.prop(b"TRIGGER;VALUE=DATE-TIME", ics.utc_value(at)),
            b"END:VALARM\r\n",
        ]

    def _event(self, facts: TaskFacts) -> bytes:
        if is_timed(facts):
            start = ics.prop(b"DTSTART", ics.utc_value(facts.due_at))
            end = ics.prop(b"DTEND", ics.utc_value(facts.due_at + TIMED_LENGTH))
        else:  # all-day: DTEND is exclusive, the next day (RFC 5545 §3.6.1)
            start = ics.prop(b"DTSTART;VALUE=DATE", ics.date_value(facts.due_on))
            end = ics.prop(b"DTEND;VALUE=DATE", ics.date_value(facts.due_on + timedelta(days=1)))
        status = b"CANCELLED" if facts.status == TaskStatus.CANCELLED.value else b"CONFIRMED"
        lines = [
            b"BEGIN:VEVENT\r\n",
            *self._common(facts, f"task-{facts.id}"),
            start,
            end,
            b"STATUS:" + status + ics.CRLF,
            b"TRANSP:TRANSPARENT\r\n",  # a deadline does not make anyone busy
            *self._alarm(facts),
            b"END:VEVENT\r\n",
        ]
        return b"".join(lines)

    def _todo(self, facts: TaskFacts) -> bytes:
        if is_timed(facts):
            due = ics.prop(b"DUE", ics.utc_value(facts.due_at))
        else:
            due = ics.prop(b"DUE;VALUE=DATE", ics.date_value(facts.due_on))
        status = {
            TaskStatus.DONE.value: b"COMPLETED",
            TaskStatus.CANCELLED.value: b"CANCELLED",
            TaskStatus.IN_PROGRESS.value: b"IN-PROCESS",
        }.get(facts.status, b"NEEDS-ACTION")
        lines = [
            b"BEGIN:VTODO\r\n",
            *self._common(facts, f"task-{facts.id}-todo"),
            due,
            b"STATUS:" + status + ics.CRLF,
            b"PRIORITY:" + _PRIORITY.get(facts.priority, b"5") + ics.CRLF,
        ]
        if facts.status == TaskStatus.DONE.value:
            done_at = facts.completed_at or facts.updated_at
            lines += [ics.prop(b"COMPLETED", ics.utc_value(done_at)), b"PERCENT-COMPLETE:100\r\n"]
        lines += [*self._alarm(facts), b"END:VTODO\r\n"]
        return b"".join(lines)


@functools.cache
def renderer_for(base_url: str) -> EventRenderer:
    """Return the process's renderer (and its cache) for the app at `base_url`."""
    return EventRenderer(base_url)
