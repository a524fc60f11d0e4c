"""Timezone-aware deadline arithmetic: business days, DST-safe instants, offsets.

Pure functions only (no database, no Flask, no Prefect), so they can be tested at
frozen dates. Conventions used throughout:

* A *calendar code* is ``"US"`` or ``"US-<subdivision>"`` (e.g. ``"US-FL"``); its
  public holidays come from the ``holidays`` library, observed dates included.
* A *business day* is Monday to Friday and not one of those holidays.
* Every returned instant is an aware ``datetime`` in UTC.
* Local wall times are resolved with one rule (see ``deadline_instant``): a time in
  the spring-forward gap moves forward to the first instant that exists, an
  ambiguous time in the fall-back hour means its first (earlier) occurrence.
"""

from __future__ import annotations

import functools
import math
import threading
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from models.durations import Duration

Direction = Literal["forward", "backward"]

_ONE_DAY = timedelta(days=1)
# HolidayBase fills in a year the first time a date of that year is looked up, which
# mutates a shared cached object; the lock keeps concurrent workers from racing on it.
_HOLIDAY_LOCK = threading.Lock()


# --- calendars and zones ------------------------------------------------------------


def holiday_calendar(code: str) -> holidays.HolidayBase:
    """Return the (shared, cached) public-holiday calendar for a code like "US-FL" or "US".

    Raises ValueError naming the code if the country or subdivision is unknown. Years are
    filled in lazily on lookup, so any year works.
    """
    country, _, subdiv = str(code).strip().upper().partition("-")
    return _calendar(country, subdiv or None)


@functools.lru_cache(maxsize=64)
def _calendar(country: str, subdiv: str | None) -> holidays.HolidayBase:
    try:
        # No `years=`: with the default expand=True each year is built when first asked for.
        return holidays.country_holidays(country, subdiv=subdiv)
    except NotImplementedError as exc:  # how the library reports unknown countries/subdivs
        code = country + (f"-{subdiv}" if subdiv else "")
        raise ValueError(
            f'unknown holiday calendar "{code}"; expected a country or country-subdivision '
            f'code such as "US" or "US-FL"'
        ) from exc


@functools.lru_cache(maxsize=128)
def _zone(tz: str) -> ZoneInfo:
    """Return the ZoneInfo for an IANA name; raise ValueError naming it if unknown."""
    try:
        return ZoneInfo(tz)
    # Unknown keys raise ZoneInfoNotFoundError, malformed ones ValueError, and a
    # directory name such as "America" raises IsADirectoryError (an OSError).
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(
            f'unknown time zone "{tz}"; expected an IANA name such as "America/New_York"'
        ) from exc


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got naive {instant.isoformat()}")


# --- business days ------------------------------------------------------------------


def is_business_day(day: date, calendar_code: str) -> bool:
    """Return True if `day` is Monday-Friday and not a public holiday of the calendar."""
    if day.weekday() >= 5:
        return False
    cal = holiday_calendar(calendar_code)
    with _HOLIDAY_LOCK:
        return day not in cal


def roll_to_business_day(day: date, calendar_code: str, direction: Direction = "forward") -> date:
    """Return `day` if it is a business day, else the nearest one in `direction`."""
    if direction not in ("forward", "backward"):
        raise ValueError(f'direction must be "forward" or "backward", got "{direction}"')
    step = _ONE_DAY if direction == "forward" else -_ONE_DAY
    while not is_business_day(day, calendar_code):
        day += step
    return day


def add_business_days(day: date, n: int, calendar_code: str) -> date:
    """Return the date `n` business days after `day` (before it when n < 0).

    Counting walks one calendar day at a time and counts only business days, so
    `day` itself never counts: Saturday +1 is Monday and Saturday -1 is Friday.
    n == 0 returns `day` if it is a business day, else the next business day.
    In terms of ``business_day_table`` (index i, flag b) the result is the business
    day whose index is ``i(day) + n``, plus 1 when ``not b(day) and n <= 0``.
    """
    if n == 0:
        return roll_to_business_day(day, calendar_code, "forward")
    step = _ONE_DAY if n > 0 else -_ONE_DAY
    remaining = abs(n)
    while remaining:
        day += step
        if is_business_day(day, calendar_code):
            remaining -= 1
    return day


def business_days_between(start: date, end: date, calendar_code: str) -> int:
    """Return the number of business days d with start < d <= end (negated if end < start).

    E.g. due Friday, today the next Wednesday: 3 ("overdue by 3 business days").
    Equals ``index(end) - index(start)`` in any ``business_day_table`` covering both.
    """
    if end < start:
        return -business_days_between(end, start, calendar_code)
    count = 0
    day = start + _ONE_DAY
    while day <= end:
        count += is_business_day(day, calendar_code)
        day += _ONE_DAY
    return count


def business_day_table(calendar_code: str, start: date, end: date) -> list[tuple[date, int, bool]]:
    """Return (date, index, is_business_day) for every date in [start, end], in order.

    ``index`` is the number of business days in [start, date]: it rises by one on each
    business day and a non-business day carries the index of the business day before it
    (0 for non-business days before the first business day in the range). Hence
    ``index(b) - index(a) == business_days_between(a, b)``, and ``add_business_days(d, n)``
    is the row with is_business_day true and index ``index(d) + n + k`` where
    ``k = 1 if not is_business_day(d) and n <= 0 else 0`` (the target must lie in range).
    """
    if end < start:
        raise ValueError(f"table end {end} is before its start {start}")
    rows: list[tuple[date, int, bool]] = []
    index = 0
    day = start
    while day <= end:
        business = is_business_day(day, calendar_code)
        index += business
        rows.append((day, index, business))
        day += _ONE_DAY
    return rows


def apply_offset(day: date, offset: Duration, calendar_code: str) -> date:
    """Return `day` moved by a d/w/bd offset; raise ValueError for hours (dates have no time)."""
    if offset.unit == "d":
        return day + timedelta(days=offset.amount)
    if offset.unit == "w":
        return day + timedelta(weeks=offset.amount)
    if offset.is_business:
        return add_business_days(day, offset.amount, calendar_code)
    raise ValueError(
        f'cannot apply the hour offset "{offset}" to a date; use add_duration on an instant'
    )


# --- instants ------------------------------------------------------------------------


def _wall_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """Return the UTC instant of naive local `wall` in `zone` (gap -> forward, fold -> first)."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first  # exists; if ambiguous, fold=0 already is the earlier occurrence
    # In a gap, fold=1 reads the wall time with the post-transition offset (an instant
    # before the transition) and fold=0 with the pre-transition one (an instant after
    # it). ZoneInfo does not expose transitions, so bisect between the two on whole
    # seconds (tz transitions are on whole seconds) for the first instant whose local
    # wall time has reached `wall`: that is the transition, the gap's first valid instant.
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    lo, hi = math.floor(before.timestamp()), math.ceil(first.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        local = datetime.fromtimestamp(mid, UTC).astimezone(zone).replace(tzinfo=None)
        if local >= wall:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def end_of_day(day: date, tz: str) -> datetime:
    """Return the UTC instant at which `day` ends in zone `tz` (local midnight of the next day).

    Computed from the next day's local midnight, never as start + 24h, so 23- and
    25-hour DST days come out right.
    """
    return _wall_to_utc(datetime.combine(day + _ONE_DAY, time()), _zone(tz))


def deadline_instant(day: date, tz: str, at: time | None = None) -> datetime:
    """Return the UTC instant of local wall time `at` on `day` in `tz`, or end_of_day if None.

    A nonexistent wall time (spring-forward gap, e.g. 02:30 on 2026-03-08 in New York)
    moves forward to the first valid instant (03:00 EDT = 07:00Z). An ambiguous one
    (fall-back hour, e.g. 01:30 on 2026-11-01) means its first occurrence (fold=0,
    01:30 EDT = 05:30Z); `at.fold` is ignored. `at` must be naive: the zone is `tz`.
    """
    if at is None:
        return end_of_day(day, tz)
    if at.tzinfo is not None:
        raise ValueError(f"expected a naive local time of day, got {at.isoformat()}")
    wall = datetime.combine(day, at.replace(fold=0))
    return _wall_to_utc(wall, _zone(tz))


def local_date(instant: datetime, tz: str) -> date:
    """Return the calendar date in zone `tz` of the aware `instant`; ValueError if naive."""
    _require_aware(instant)
    return instant.astimezone(_zone(tz)).date()


def local_today(now: datetime, tz: str) -> date:
    """Return today's date in zone `tz` given the aware current instant `now`."""
    return local_date(now, tz)


def add_duration(instant: datetime, offset: Duration, tz: str, calendar_code: str) -> datetime:
    """Return `instant` moved by `offset`, as an aware UTC datetime.

    "h" adds exact elapsed hours. "d", "w" and "bd" move the local date in `tz` (business
    days per `calendar_code`) and keep the local wall time, so 09:00 stays 09:00 across a
    DST change; a wall time that does not exist or is ambiguous on the new date is
    resolved as in ``deadline_instant``.
    """
    _require_aware(instant)
    zone = _zone(tz)
    if offset.unit == "h":
        # Convert first: aware + timedelta in a non-UTC zone is wall-clock arithmetic.
        return instant.astimezone(UTC) + timedelta(hours=offset.amount)
    local = instant.astimezone(zone)
    new_day = apply_offset(local.date(), offset, calendar_code)
    return _wall_to_utc(datetime.combine(new_day, local.time().replace(fold=0)), zone)
