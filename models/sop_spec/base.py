"""Building blocks of the SOP language: the strict base model, checked scalar types
(slugs, durations, relative dates, ...) and the way validators report a problem
at a precise key path."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from difflib import get_close_matches
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError, ValidationError

from models.durations import DURATION_PATTERN, Duration

SLUG_PATTERN = r"^[a-z][a-z0-9-]{1,62}$"
STEP_ID_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
IDENTIFIER_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
STATE_PATTERN = r"^[A-Z]{2}$"
TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"
RELATIVE_DATE_PATTERN = r"^today([+-][0-9]{1,4}[dw])?$"
ISO_DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str, Any]  # (key path inside the model, message, offending value)


class SpecModel(BaseModel):
    """Base of every SOP-language model: unknown keys are errors; specs are immutable."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        serialize_by_alias=True,
    )


def show(value: Any) -> str:
    """Render an offending value for an error message: strings quoted, containers named."""
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 60 else text[:56] + '…"'
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list" if value else "an empty list"
    return str(value)


def suggest(name: str, options: Sequence[str], prefix: str = "") -> str:
    """'; did you mean "x"?' for the closest option, or "" when nothing is close."""
    hint = get_close_matches(name, list(options), n=1)
    return f'; did you mean "{prefix}{hint[0]}"?' if hint else ""


def raise_problems(problems: Sequence[Problem], title: str = "SopSpec") -> None:
    """Raise one ValidationError holding every problem at its own key path.

    Raised inside a validator, pydantic merges these errors into the outer
    error with the locations prefixed, so each points at the offending key.
    """
    if not problems:
        return
    raise ValidationError.from_exception_data(
        title,
        [
            {
                "type": PydanticCustomError("sop", "{message}", {"message": message}),
                "loc": loc,
                "input": value,
            }
            for loc, message, value in problems
        ],
    )


def _matcher(pattern: str, expected: str) -> PlainValidator:
    regex = re.compile(pattern)

    def check(value: Any) -> str:
        if not isinstance(value, str) or not regex.match(value):
            raise ValueError(f"expected {expected}, got {show(value)}")
        return value

    return PlainValidator(check)


Slug = Annotated[
    str,
    _matcher(
        SLUG_PATTERN,
        'a slug like "patient-renewal" (2-63 lowercase letters, digits and dashes, '
        "starting with a letter)",
    ),
    WithJsonSchema({"type": "string", "pattern": SLUG_PATTERN}),
]
StepId = Annotated[
    str,
    _matcher(
        STEP_ID_PATTERN,
        'a step id like "remind" (lowercase letters, digits and dashes, starting with a letter)',
    ),
    WithJsonSchema({"type": "string", "pattern": STEP_ID_PATTERN}),
]
Identifier = Annotated[
    str,
    _matcher(
        IDENTIFIER_PATTERN,
        'an identifier like "horizon_days" (lowercase letters, digits and underscores)',
    ),
    WithJsonSchema({"type": "string", "pattern": IDENTIFIER_PATTERN}),
]
StateCode = Annotated[
    str,
    _matcher(STATE_PATTERN, 'a two-letter state code like "FL"'),
    WithJsonSchema({"type": "string", "pattern": STATE_PATTERN}),
]
TimeOfDay = Annotated[
    str,
    _matcher(TIME_PATTERN, 'a local wall time like "17:00" (24-hour HH:MM, quoted)'),
    WithJsonSchema({"type": "string", "pattern": TIME_PATTERN}),
]
Email = Annotated[
    str,
    _matcher(EMAIL_PATTERN, 'an e-mail address like "va@example.org"'),
    WithJsonSchema({"type": "string", "pattern": EMAIL_PATTERN}),
]
Text = Annotated[
    str,
    _matcher(r"\S", "a non-empty text"),
    WithJsonSchema({"type": "string", "minLength": 1}),
]


def _duration(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected a duration like -45d or 3bd, got {show(value)}")
    return Duration.parse(str(value))


DurationValue = Annotated[
    Duration,
    PlainValidator(_duration),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN}),
]


def approx_hours(duration: Duration) -> float:
    """A duration's rough length in hours, for ordering (a business day counts as a day)."""
    per_unit = {"h": 1.0, "d": 24.0, "bd": 24.0, "w": 168.0}
    return duration.amount * per_unit[duration.unit]


def parse_time(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


@dataclass(frozen=True)
class RelativeDate:
    """A date written relative to the run's day: `today`, `today+60d`, `today-2w`."""

    days: int
    text: str

    def resolve(self, today: date) -> date:
        return today + timedelta(days=self.days)


_RELATIVE_RE = re.compile(RELATIVE_DATE_PATTERN)
DATE_EXPECTED = "a date like today, today+60d, today-2w or 2026-12-31"


def parse_date_value(value: Any) -> date | RelativeDate:
    """Read a filter's date operand; raise ValueError naming the expected forms."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        match = _RELATIVE_RE.match(text)
        if match:
            offset = match.group(1)
            if not offset:
                return RelativeDate(0, text)
            amount = int(offset[:-1])
            return RelativeDate(amount * (7 if offset.endswith("w") else 1), text)
        if re.match(ISO_DATE_PATTERN, text):
            try:
                return date.fromisoformat(text)
            except ValueError:
                pass
    raise ValueError(f"expected {DATE_EXPECTED}, got {show(value)}")


def resolve_date_value(value: Any, today: date) -> date:
    """The calendar date a filter operand means on the run's day `today`."""
    parsed = parse_date_value(value)
    return parsed.resolve(today) if isinstance(parsed, RelativeDate) else parsed
