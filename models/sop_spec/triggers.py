"""When an SOP runs: on a cron schedule, on a data event, or by hand with typed inputs."""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from typing import Any, Literal
from zoneinfo import available_timezones

from croniter import CroniterBadCronError, CroniterBadDateError, croniter
from pydantic import ConfigDict, Field, StrictBool, field_validator, model_validator

from models.enums import SubjectKind
from models.sop_spec.base import (
    Identifier,
    Problem,
    SpecModel,
    Text,
    raise_problems,
    show,
    suggest,
)

EventName = Literal[
    "disposal.logged",
    "inspection.scheduled",
    "document.expiring",
    "patient.changed",
    "physician.changed",
]

# The subject every event carries: an SOP triggered by it must be about that kind.
EVENT_SUBJECT_KINDS: dict[str, SubjectKind] = {
    "disposal.logged": SubjectKind.DISPOSAL,
    "inspection.scheduled": SubjectKind.INSPECTION,
    "document.expiring": SubjectKind.DOCUMENT,
    "patient.changed": SubjectKind.PATIENT,
    "physician.changed": SubjectKind.PHYSICIAN,
}

CRON_ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
SITE_ZONE = "site"


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_timezone(value: str) -> str:
    """Accept an IANA zone name or "site"; raise ValueError naming the bad one."""
    if value == SITE_ZONE or value in _zones():
        return value
    raise ValueError(
        f"unknown time zone {show(value)} (expected an IANA name like America/Denver, "
        f'or "site" for each subject\'s site zone){suggest(value, sorted(_zones()))}'
    )


def check_cron(expr: str) -> str:
    """Accept a 5-field cron expression (or an @alias) that fires at least once a year."""
    text = " ".join(str(expr).split())
    if not text.startswith("@") and len(text.split(" ")) != 5:
        raise ValueError(
            "expected a cron expression of 5 fields (minute hour day-of-month month "
            f'day-of-week) like "0 7 * * 1-5", got {show(expr)}'
        )
    if text.startswith("@") and text not in CRON_ALIASES:
        raise ValueError(f"unknown cron alias {show(expr)} (known: {', '.join(CRON_ALIASES)})")
    if not croniter.is_valid(text):
        raise ValueError(f'invalid cron expression {show(expr)} (e.g. "0 7 * * 1-5")')
    # Every calendar year of a leap cycle must see a run: "0 0 30 2 *" never fires,
    # "0 0 29 2 *" fires once in four years.
    silent = [year for year in range(2025, 2029) if not _fires_in(text, year)]
    if len(silent) == 4:
        raise ValueError(f"cron expression {show(expr)} never fires (no such date)")
    if silent:
        raise ValueError(
            f"cron expression {show(expr)} does not fire in {silent[0]}: "
            "a schedule must fire at least once a year"
        )
    return text


def _fires_in(expr: str, year: int) -> bool:
    try:
        start = datetime(year - 1, 12, 31, 23, 59, 59)
        fire = croniter(expr, start, max_years_between_matches=1).get_next(datetime)
    except (CroniterBadDateError, CroniterBadCronError):
        return False
    return fire.year == year


class ScheduleTrigger(SpecModel):
    """Run on a cron schedule."""

    cron: str = Field(
        description="A 5-field cron expression (minute hour day-of-month month day-of-week) "
        "that fires at least once a year.",
        examples=["0 7 * * 1-5", "0 6 1 1,4,7,10 *"],
    )
    timezone: str = Field(
        default=SITE_ZONE,
        description='The zone the cron is read in: an IANA name, or "site" to run at that '
        "local time in each subject's site zone.",
        examples=["site", "America/Denver"],
    )

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_timezone(value)


class EventTrigger(SpecModel):
    """Run when a record is created or changed; the run covers that record only."""

    name: EventName = Field(
        description="The event. Its record must be of the SOP's subject kind "
        "(disposal.logged -> disposal, inspection.scheduled -> inspection, "
        "document.expiring -> document, patient.changed -> patient, "
        "physician.changed -> physician).",
        examples=["disposal.logged"],
    )

    @property
    def subject_kind(self) -> SubjectKind:
        return EVENT_SUBJECT_KINDS[self.name]


InputType = Literal["string", "integer", "boolean", "date", "site", "team", "choice"]


def _default_problem(kind: str, value: Any, choices: list[str] | None) -> str | None:
    """Why `value` is not a valid default of an input of type `kind` (None if it is)."""
    ok: bool
    if kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
        expected = "a whole number"
    elif kind == "boolean":
        ok = isinstance(value, bool)
        expected = "true or false"
    elif kind == "date":
        ok = isinstance(value, date) and not isinstance(value, datetime)
        if isinstance(value, str):
            try:
                date.fromisoformat(value)
                ok = True
            except ValueError:
                ok = False
        expected = "an ISO date like 2026-12-31"
    elif kind == "choice":
        ok = value in (choices or [])
        expected = "one of " + ", ".join(choices or [])
    else:
        ok = isinstance(value, str)
        expected = "a text"
    if ok:
        return None
    article = "an" if kind[0] in "aeiou" else "a"
    return f"default of {article} {kind} input must be {expected}, got {show(value)}"


class ManualInput(SpecModel):
    """A typed value a manager enters when starting a run by hand."""

    id: Identifier = Field(
        description="The input's name; templates read it as inputs.<id>.",
        examples=["horizon_days"],
    )
    type: InputType = Field(
        description="The value's type; `site` and `team` take a site code or team slug, "
        "`choice` one of `choices`.",
        examples=["integer"],
    )
    label: Text | None = Field(
        default=None,
        description="The form label (defaults to the id).",
        examples=["Look-ahead (days)"],
    )
    description: str | None = Field(
        default=None, description="Help text under the field.", examples=["Days ahead to look."]
    )
    required: StrictBool = Field(
        default=False,
        description="The run cannot start without a value (when there is no default).",
        examples=[False],
    )
    default: Any = Field(
        default=None,
        description="The value used when none is entered, and for scheduled and event runs.",
        examples=[60],
    )
    choices: list[Text] | None = Field(
        default=None,
        description="The allowed values of a `choice` input.",
        examples=[["FL", "OK", "PA"]],
    )

    @model_validator(mode="after")
    def _check(self) -> ManualInput:
        problems: list[Problem] = []
        if self.type == "choice" and not self.choices:
            problems.append(((), "a choice input needs choices: [...]", None))
        if self.type != "choice" and self.choices is not None:
            problems.append((("choices",), "choices apply only to type choice", self.choices))
        if self.default is not None and not problems:
            message = _default_problem(self.type, self.default, self.choices)
            if message:
                problems.append((("default",), message, self.default))
        raise_problems(problems, "ManualInput")
        return self


class ManualTrigger(SpecModel):
    """Allow a manager to start a run from the board."""

    inputs: list[ManualInput] = Field(
        default_factory=list,
        description="The typed values asked for when the run starts.",
        examples=[[{"id": "horizon_days", "type": "integer", "default": 60}]],
    )

    @model_validator(mode="after")
    def _unique_ids(self) -> ManualTrigger:
        seen: dict[str, int] = {}
        problems: list[Problem] = []
        for index, item in enumerate(self.inputs):
            if item.id in seen:
                problems.append(
                    (
                        ("inputs", index, "id"),
                        f'duplicate input id "{item.id}" (first used by inputs[{seen[item.id]}])',
                        item.id,
                    )
                )
            seen.setdefault(item.id, index)
        raise_problems(problems, "ManualTrigger")
        return self


class Trigger(SpecModel):
    """One way the SOP starts: exactly one of `schedule`, `event`, `manual`."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "maxProperties": 1})

    schedule: ScheduleTrigger | None = Field(
        default=None,
        description="Run on a cron schedule.",
        examples=[{"cron": "0 7 * * 1-5", "timezone": "site"}],
    )
    event: EventTrigger | None = Field(
        default=None,
        description="Run when a record is created or changed.",
        examples=[{"name": "disposal.logged"}],
    )
    manual: ManualTrigger | None = Field(
        default=None,
        description="Allow a manager to start a run, with typed inputs.",
        examples=[{"inputs": [{"id": "horizon_days", "type": "integer", "default": 60}]}],
    )

    @model_validator(mode="before")
    @classmethod
    def _bare_manual(cls, data: Any) -> Any:
        # `- manual:` with nothing under it means "manual, no inputs".
        if isinstance(data, dict) and "manual" in data and data["manual"] is None:
            return {**data, "manual": {}}
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> Trigger:
        given = [name for name in ("schedule", "event", "manual") if getattr(self, name)]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(
                f"a trigger has exactly one of schedule, event, manual; got {found} "
                "(write one list item per trigger)"
            )
        return self

    @property
    def kind(self) -> Literal["schedule", "event", "manual"]:
        if self.schedule:
            return "schedule"
        return "event" if self.event else "manual"
