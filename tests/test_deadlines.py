"""Deadline arithmetic at fixed dates: business days, holidays per state, DST edges."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import holidays
import pytest

from models.durations import Duration
from services.deadlines import (
    add_business_days,
    add_duration,
    apply_offset,
    business_day_table,
    business_days_between,
    deadline_instant,
    end_of_day,
    holiday_calendar,
    is_business_day,
    local_date,
    local_today,
    roll_to_business_day,
)

NY = "America/New_York"
CHI = "America/Chicago"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- calendars -----------------------------------------------------------------------


def test_holiday_calendar_is_cached_and_case_insensitive():
    cal = holiday_calendar("US-FL")
    assert holiday_calendar("us-fl") is cal
    assert cal.subdiv == "FL"
    assert holiday_calendar("US").subdiv is None


@pytest.mark.parametrize("code", ["US-XX", "ZZ", "ZZ-FL", ""])
def test_unknown_calendar_code_raises_value_error(code):
    with pytest.raises(ValueError, match="unknown holiday calendar"):
        holiday_calendar(code)
    with pytest.raises(ValueError, match="unknown holiday calendar"):
        is_business_day(date(2026, 3, 3), code)


def test_holiday_years_expand_lazily_far_from_today():
    # Christmas 2041 and 1999 are Wednesday and Saturday (observed Friday 1999-12-24).
    assert not is_business_day(date(2041, 12, 25), "US-PA")
    assert not is_business_day(date(1999, 12, 24), "US-PA")
    assert is_business_day(date(2041, 12, 26), "US-PA")


# --- is_business_day -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 3, 6), True),  # Friday
        (date(2026, 3, 7), False),  # Saturday
        (date(2026, 3, 8), False),  # Sunday
        (date(2026, 3, 9), True),  # Monday
        (date(2026, 1, 1), False),  # New Year's Day
        (date(2026, 7, 3), False),  # Independence Day observed (July 4 is a Saturday)
        (date(2026, 11, 26), False),  # Thanksgiving
        (date(2026, 12, 25), False),  # Christmas
        (date(2027, 12, 24), False),  # Christmas 2027 (Saturday) observed
        (date(2027, 12, 31), False),  # New Year's Day 2028 (Saturday) observed in 2027
    ],
)
def test_federal_business_days(day, expected):
    assert is_business_day(day, "US") is expected


def test_library_agrees_on_observed_independence_day_2026():
    us = holidays.US(years=2026)
    assert date(2026, 7, 4).weekday() == 5
    assert "observed" in us[date(2026, 7, 3)].lower()


@pytest.mark.parametrize(
    ("day", "fl", "pa", "ok", "us"),
    [
        # Presidents' Day: FL does not keep it (holidays 0.109).
        (date(2026, 2, 16), True, False, False, False),
        # Columbus Day: PA and federal only.
        (date(2026, 10, 12), True, False, True, False),
        # Friday after Thanksgiving: all three states, not federal.
        (date(2026, 11, 27), False, False, False, True),
    ],
)
def test_state_holidays_differ(day, fl, pa, ok, us):
    assert is_business_day(day, "US-FL") is fl
    assert is_business_day(day, "US-PA") is pa
    assert is_business_day(day, "US-OK") is ok
    assert is_business_day(day, "US") is us


# --- add_business_days / roll ---------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "n", "expected"),
    [
        (date(2026, 7, 1), 1, date(2026, 7, 2)),
        (date(2026, 7, 2), 1, date(2026, 7, 6)),  # skips observed July 4 + weekend
        (date(2026, 7, 6), -1, date(2026, 7, 2)),
        (date(2026, 7, 2), 5, date(2026, 7, 10)),
        (date(2026, 3, 7), 1, date(2026, 3, 9)),  # Saturday +1 is Monday
        (date(2026, 3, 7), -1, date(2026, 3, 6)),  # Saturday -1 is Friday
        (date(2026, 3, 8), -3, date(2026, 3, 4)),
        (date(2026, 11, 25), 1, date(2026, 11, 27)),  # federal: the Friday is a workday
        (date(2026, 12, 31), 1, date(2027, 1, 4)),  # New Year's Day 2027 is a Friday
        (date(2027, 1, 4), -1, date(2026, 12, 31)),
        (date(2026, 12, 24), 3, date(2026, 12, 30)),
    ],
)
def test_add_business_days(day, n, expected):
    assert add_business_days(day, n, "US") == expected


def test_add_business_days_uses_state_calendar():
    assert add_business_days(date(2026, 11, 25), 1, "US-FL") == date(2026, 11, 30)
    assert add_business_days(date(2026, 10, 9), 1, "US-PA") == date(2026, 10, 13)
    assert add_business_days(date(2026, 10, 9), 1, "US-OK") == date(2026, 10, 12)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 3, 4), date(2026, 3, 4)),  # business day: itself
        (date(2026, 3, 7), date(2026, 3, 9)),  # Saturday: next Monday
        (date(2026, 3, 8), date(2026, 3, 9)),  # Sunday
        (date(2026, 7, 3), date(2026, 7, 6)),  # holiday before a weekend
    ],
)
def test_zero_business_days_rolls_forward(day, expected):
    assert add_business_days(day, 0, "US") == expected
    assert roll_to_business_day(day, "US") == expected


def test_roll_backward_and_bad_direction():
    assert roll_to_business_day(date(2026, 7, 5), "US", "backward") == date(2026, 7, 2)
    assert roll_to_business_day(date(2026, 7, 2), "US", "backward") == date(2026, 7, 2)
    with pytest.raises(ValueError, match="direction"):
        roll_to_business_day(date(2026, 7, 5), "US", "sideways")  # type: ignore[arg-type]


# --- apply_offset --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-45d", date(2026, 1, 16)),
        ("10d", date(2026, 3, 12)),
        ("2w", date(2026, 3, 16)),
        ("-1w", date(2026, 2, 23)),
        ("3bd", date(2026, 3, 5)),
        ("-3bd", date(2026, 2, 25)),
        ("0bd", date(2026, 3, 2)),
        ("-10bd", date(2026, 2, 13)),  # crosses Presidents' Day (federal)
    ],
)
def test_apply_offset(text, expected):
    assert apply_offset(date(2026, 3, 2), Duration.parse(text), "US") == expected


def test_apply_offset_crosses_year_backwards():
    assert apply_offset(date(2026, 1, 5), Duration.parse("-3bd"), "US") == date(2025, 12, 30)
    assert apply_offset(date(2026, 1, 20), Duration.parse("-45d"), "US") == date(2025, 12, 6)


def test_apply_offset_rejects_hours():
    with pytest.raises(ValueError, match=r'hour offset "4h".*add_duration'):
        apply_offset(date(2026, 3, 2), Duration.parse("4h"), "US")


# --- business_days_between -------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (date(2026, 7, 2), date(2026, 7, 8), 3),  # holiday + weekend not counted
        (date(2026, 7, 8), date(2026, 7, 2), -3),
        (date(2026, 7, 2), date(2026, 7, 2), 0),
        (date(2026, 7, 3), date(2026, 7, 5), 0),
        (date(2026, 3, 6), date(2026, 3, 9), 1),  # Friday due, Monday: 1 day overdue
        (date(2026, 12, 30), date(2027, 1, 5), 3),
    ],
)
def test_business_days_between(start, end, expected):
    assert business_days_between(start, end, "US") == expected


# --- business_day_table ----------------------------------------------------------------


def test_business_day_table_semantics():
    rows = business_day_table("US", date(2026, 7, 3), date(2026, 7, 7))
    assert rows == [
        (date(2026, 7, 3), 0, False),  # before the first business day in range: 0
        (date(2026, 7, 4), 0, False),
        (date(2026, 7, 5), 0, False),
        (date(2026, 7, 6), 1, True),
        (date(2026, 7, 7), 2, True),
    ]
    with pytest.raises(ValueError, match="before its start"):
        business_day_table("US", date(2026, 7, 7), date(2026, 7, 3))


@pytest.mark.parametrize("code", ["US", "US-FL", "US-PA", "US-OK"])
def test_business_day_table_agrees_with_add_business_days_over_a_year(code):
    rows = business_day_table(code, date(2025, 11, 1), date(2027, 2, 28))
    index = {d: i for d, i, _ in rows}
    flag = {d: b for d, _, b in rows}
    by_index = {i: d for d, i, b in rows if b}
    day = date(2026, 1, 1)
    while day <= date(2026, 12, 31):
        for n in (-10, -3, -1, 0, 1, 2, 5, 20):
            # The set-based rule documented on business_day_table.
            target = index[day] + n + (1 if not flag[day] and n <= 0 else 0)
            assert add_business_days(day, n, code) == by_index[target], (day, n)
        other = day + timedelta(days=17)
        assert business_days_between(day, other, code) == index[other] - index[day]
        assert flag[day] is is_business_day(day, code)
        day += timedelta(days=1)


# --- end_of_day / deadline_instant -------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "tz", "expected"),
    [
        (date(2026, 3, 7), NY, utc(2026, 3, 8, 5)),
        (date(2026, 3, 8), NY, utc(2026, 3, 9, 4)),  # 23-hour day
        (date(2026, 10, 31), NY, utc(2026, 11, 1, 4)),
        (date(2026, 11, 1), NY, utc(2026, 11, 2, 5)),  # 25-hour day
        (date(2026, 3, 7), CHI, utc(2026, 3, 8, 6)),
        (date(2026, 3, 8), CHI, utc(2026, 3, 9, 5)),
        (date(2026, 10, 31), CHI, utc(2026, 11, 1, 5)),
        (date(2026, 11, 1), CHI, utc(2026, 11, 2, 6)),
        (date(2026, 12, 31), "UTC", utc(2027, 1, 1)),
    ],
)
def test_end_of_day_across_dst(day, tz, expected):
    result = end_of_day(day, tz)
    assert result == expected
    assert result.tzinfo is UTC
    assert deadline_instant(day, tz) == expected


def test_dst_day_lengths():
    assert end_of_day(date(2026, 3, 8), NY) - end_of_day(date(2026, 3, 7), NY) == timedelta(
        hours=23
    )
    assert end_of_day(date(2026, 11, 1), CHI) - end_of_day(date(2026, 10, 31), CHI) == (
        timedelta(hours=25)
    )


def test_end_of_day_when_local_midnight_does_not_exist():
    # Samoa skipped 2011-12-30 entirely (UTC-10 -> UTC+14): 29 Dec ends when 31 Dec begins.
    assert end_of_day(date(2011, 12, 29), "Pacific/Apia") == utc(2011, 12, 30, 10)


@pytest.mark.parametrize(
    ("day", "at", "tz", "expected"),
    [
        (date(2026, 3, 7), time(9), NY, utc(2026, 3, 7, 14)),  # EST
        (date(2026, 3, 8), time(9), NY, utc(2026, 3, 8, 13)),  # EDT
        (date(2026, 11, 1), time(9), CHI, utc(2026, 11, 1, 15)),  # CST
        # Spring-forward gap: 02:30 does not exist, moves to 03:00 daylight time.
        (date(2026, 3, 8), time(2, 30), NY, utc(2026, 3, 8, 7)),
        (date(2026, 3, 8), time(2, 0), CHI, utc(2026, 3, 8, 8)),
        (date(2026, 3, 8), time(3, 0), NY, utc(2026, 3, 8, 7)),  # first valid instant
        # Fall-back fold: 01:30 happens twice; the first (daylight) occurrence wins.
        (date(2026, 11, 1), time(1, 30), NY, utc(2026, 11, 1, 5, 30)),
        (date(2026, 11, 1), time(1, 30, fold=1), NY, utc(2026, 11, 1, 5, 30)),
        (date(2026, 11, 1), time(1, 30), CHI, utc(2026, 11, 1, 6, 30)),
        (date(2026, 11, 1), time(2, 0), NY, utc(2026, 11, 1, 7)),  # after the fold: EST
    ],
)
def test_deadline_instant_wall_times(day, at, tz, expected):
    assert deadline_instant(day, tz, at) == expected


def test_deadline_instant_rejects_aware_time():
    with pytest.raises(ValueError, match="naive local time"):
        deadline_instant(date(2026, 3, 8), NY, time(9, tzinfo=UTC))


# --- local dates -------------------------------------------------------------------------


def test_local_date_and_today():
    instant = utc(2026, 3, 9, 3, 30)  # 23:30 EDT on 8 March, 22:30 CDT
    assert local_date(instant, NY) == date(2026, 3, 8)
    assert local_date(instant, "UTC") == date(2026, 3, 9)
    assert local_today(instant, CHI) == date(2026, 3, 8)
    # End of day is the first instant of the next local date.
    eod = end_of_day(date(2026, 11, 1), NY)
    assert local_date(eod, NY) == date(2026, 11, 2)
    assert local_date(eod - timedelta(microseconds=1), NY) == date(2026, 11, 1)


def test_naive_datetime_rejected():
    naive = datetime(2026, 3, 8, 12)
    with pytest.raises(ValueError, match="timezone-aware"):
        local_date(naive, NY)
    with pytest.raises(ValueError, match="timezone-aware"):
        local_today(naive, NY)
    with pytest.raises(ValueError, match="timezone-aware"):
        add_duration(naive, Duration.parse("1d"), NY, "US")


@pytest.mark.parametrize("tz", ["Mars/Olympus_Mons", "America", "", "../etc/passwd"])
def test_unknown_zone_raises_value_error(tz):
    with pytest.raises(ValueError, match="unknown time zone"):
        end_of_day(date(2026, 3, 8), tz)
    with pytest.raises(ValueError, match="unknown time zone"):
        local_date(utc(2026, 3, 8), tz)


# --- add_duration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "text", "tz", "expected"),
    [
        # 09:00 EST Saturday + 1 day = 09:00 EDT Sunday (only 23 hours later).
        (utc(2026, 3, 7, 14), "1d", NY, utc(2026, 3, 8, 13)),
        (utc(2026, 3, 7, 14), "24h", NY, utc(2026, 3, 8, 14)),
        (utc(2026, 10, 31, 13), "1d", NY, utc(2026, 11, 1, 14)),
        (utc(2026, 10, 31, 14), "1w", CHI, utc(2026, 11, 7, 15)),
        (utc(2026, 11, 1, 14), "-1d", NY, utc(2026, 10, 31, 13)),
        (utc(2026, 10, 31, 13), "-4h", NY, utc(2026, 10, 31, 9)),
        # Thursday 17:00 EDT + 1bd skips the observed holiday and the weekend.
        (utc(2026, 7, 2, 21), "1bd", NY, utc(2026, 7, 6, 21)),
        # Friday 09:00 EST + 1bd lands on Monday 9 March, now EDT.
        (utc(2026, 3, 6, 14), "1bd", NY, utc(2026, 3, 9, 13)),
        # Local date differs from the UTC date: 22:00 CST on Dec 31 + 1bd -> Jan 4 22:00 CST.
        (utc(2027, 1, 1, 4), "1bd", CHI, utc(2027, 1, 5, 4)),
        # 02:30 EST + 1d would be 02:30 on the spring-forward day: moved to 03:00 EDT.
        (utc(2026, 3, 7, 7, 30), "1d", NY, utc(2026, 3, 8, 7)),
    ],
)
def test_add_duration(start, text, tz, expected):
    result = add_duration(start, Duration.parse(text), tz, "US")
    assert result == expected
    assert result.tzinfo is UTC


def test_add_duration_accepts_any_aware_input_zone():
    from zoneinfo import ZoneInfo

    # 2026-03-07 09:00 in New York, given as a New York-aware datetime: hours are elapsed.
    start = datetime(2026, 3, 7, 9, tzinfo=ZoneInfo(NY))
    assert add_duration(start, Duration.parse("24h"), NY, "US") == utc(2026, 3, 8, 14)
    assert add_duration(start, Duration.parse("1d"), NY, "US") == utc(2026, 3, 8, 13)
