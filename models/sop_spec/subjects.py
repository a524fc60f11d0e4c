"""Which records an SOP is about: a subject kind, filter conditions that compile to
SQL, an optional per-subject expression, and the field that identifies a cycle."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import ConfigDict, Field, PlainValidator, StrictBool, WithJsonSchema, model_validator

from models.enums import SubjectKind
from models.sop_spec.base import (
    DATE_EXPECTED,
    Identifier,
    Problem,
    SpecModel,
    Text,
    parse_date_value,
    raise_problems,
    resolve_date_value,
    show,
    suggest,
)
from models.subject_kinds import SubjectField, SubjectKindInfo, subject_kind

FilterOp = Literal["eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte", "is_null"]
FILTER_OPS: tuple[FilterOp, ...] = ("eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte", "is_null")
LIST_OPS = ("in", "not_in")
ORDER_OPS = ("lt", "lte", "gt", "gte")
CycleKeyword = Literal["run_date", "run_week", "run_month", "run_quarter", "once"]
CYCLE_KEYWORDS: tuple[str, ...] = ("run_date", "run_week", "run_month", "run_quarter", "once")

_SCALAR_SCHEMA = {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}


def _scalar(value: Any) -> Any:
    if isinstance(value, dict | list | tuple):
        raise ValueError(
            f"expected a single value (text, number, true/false or date), got {show(value)}"
        )
    return value


def _scalar_list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list like [active, lapsed], got {show(value)}")
    if not value:
        raise ValueError("expected a list of at least one value, got an empty list")
    return [_scalar(item) for item in value]


FilterValue = Annotated[Any, PlainValidator(_scalar), WithJsonSchema(_SCALAR_SCHEMA)]
FilterList = Annotated[
    list[Any],
    PlainValidator(_scalar_list),
    WithJsonSchema({"type": "array", "items": _SCALAR_SCHEMA, "minItems": 1}),
]


class FilterCondition(SpecModel):
    """`{field: <column>, <op>: <value>}` with exactly one operator, or `{any: [...]}`."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "maxProperties": 2})

    field: Identifier | None = Field(
        default=None,
        description="A column of the subject kind's table.",
        examples=["card_expires_on"],
    )
    eq: FilterValue | None = Field(default=None, description="Equal to.", examples=["active"])
    ne: FilterValue | None = Field(default=None, description="Not equal to.", examples=["none"])
    in_: FilterList | None = Field(
        default=None, alias="in", description="One of the listed values.", examples=[["active"]]
    )
    not_in: FilterList | None = Field(
        default=None, description="None of the listed values.", examples=[["declined"]]
    )
    lt: FilterValue | None = Field(
        default=None, description="Less than (before, for dates).", examples=["today"]
    )
    lte: FilterValue | None = Field(
        default=None,
        description="Less than or equal (on or before). Dates: today, today+60d, today-2w, "
        "or an ISO date.",
        examples=["today+60d"],
    )
    gt: FilterValue | None = Field(
        default=None, description="Greater than (after, for dates).", examples=["today"]
    )
    gte: FilterValue | None = Field(
        default=None, description="Greater than or equal (on or after).", examples=["today-30d"]
    )
    is_null: StrictBool | None = Field(
        default=None,
        description="true: the column is empty; false: it has a value.",
        examples=[True],
    )
    any_of: list[FilterCondition] | None = Field(
        default=None,
        alias="any",
        description="Alternatives: the condition holds when any of these holds.",
        examples=[[{"field": "last_contacted_on", "is_null": True}]],
    )

    @model_validator(mode="after")
    def _one_operator(self) -> FilterCondition:
        ops = [op for op in FILTER_OPS if _attr(op) in self.model_fields_set]
        if self.any_of is not None:
            if self.field is not None or ops:
                raise ValueError("`any` stands alone: put the field conditions inside its list")
            if not self.any_of:
                raise ValueError("`any` needs at least one condition")
            return self
        if self.field is None:
            raise ValueError("a condition needs `field:` and one operator (or `any:`)")
        if not ops:
            raise ValueError(
                f'condition on "{self.field}" has no operator; use one of {", ".join(FILTER_OPS)}'
            )
        if len(ops) > 1:
            raise ValueError(
                f"use exactly one operator per condition, got {len(ops)}: {', '.join(ops)} "
                "(write one condition per operator; conditions are ANDed)"
            )
        if self.value is None:
            raise ValueError(f"{ops[0]}: null is not a value; use is_null: true")
        return self

    @property
    def op(self) -> FilterOp | None:
        """The operator (None for an `any` group)."""
        for op in FILTER_OPS:
            if _attr(op) in self.model_fields_set:
                return op
        return None

    @property
    def value(self) -> Any:
        """The operand as written (relative dates unresolved)."""
        return getattr(self, _attr(self.op)) if self.op else None

    def resolved_value(self, column: SubjectField, today: date) -> Any:
        """The operand as a Python value for `column`: dates resolved against `today`,
        enum values as enum members."""
        return _typed(column, self.value, today)


def _attr(op: str) -> str:
    return "in_" if op == "in" else op


def _typed(column: SubjectField, value: Any, today: date) -> Any:
    if isinstance(value, list):
        return [_typed(column, item, today) for item in value]
    if column.is_temporal:
        return resolve_date_value(value, today)
    if column.enum is not None:
        return column.enum(value)
    return value


def _value_problem(column: SubjectField, op: str, value: Any) -> str | None:
    """Why `value` does not fit `column` under `op` (None if it does)."""
    if op == "is_null":
        return None
    if isinstance(value, list):
        for item in value:
            problem = _value_problem(column, "eq", item)
            if problem:
                return problem
        return None
    if op in ORDER_OPS and column.type in ("boolean",):
        return f'{op} does not apply to the true/false field "{column.name}"; use eq'
    if column.is_temporal:
        try:
            parse_date_value(value)
        except ValueError:
            return f'"{column.name}" is a date: expected {DATE_EXPECTED}, got {show(value)}'
        return None
    if column.enum is not None:
        if value not in column.choices:
            return f'"{column.name}" takes one of {", ".join(column.choices)}, got {show(value)}'
        return None
    checks = {
        "boolean": (lambda v: isinstance(v, bool), "true or false"),
        "integer": (lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
        "number": (lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number"),
        "string": (lambda v: isinstance(v, str), "a text (quote numbers)"),
    }
    fits, expected = checks[column.type]
    return None if fits(value) else f'"{column.name}" takes {expected}, got {show(value)}'


def _unknown_field(info: SubjectKindInfo, name: str, fields: tuple[str, ...] | None = None) -> str:
    names = fields if fields is not None else tuple(info.fields)
    return (
        f'{info.kind.value} has no field "{name}"{suggest(name, names)} '
        f"(fields: {', '.join(names)})"
    )


class SubjectSelector(SpecModel):
    """Which records get tasks, and what makes one cycle of work distinct from the next."""

    kind: SubjectKind = Field(
        description="The kind of record the SOP is about.", examples=["patient"]
    )
    filter: list[FilterCondition] = Field(
        default_factory=list,
        description="Conditions on the table's columns, ANDed and compiled to SQL.",
        examples=[[{"field": "status", "in": ["active", "lapsed"]}]],
    )
    when: Text | None = Field(
        default=None,
        description="A Jinja expression evaluated per subject after the filter; false skips it. "
        "Names: subject, site, today, run, inputs.",
        examples=["subject.consent_email or subject.consent_sms"],
    )
    cycle: str = Field(
        description="What identifies one cycle of work for a subject (the last part of a "
        "task's identity): a date or text field of the subject (a new value starts a new "
        "cycle), or run_date, run_week, run_month, run_quarter, once.",
        examples=["card_expires_on", "once"],
    )

    @model_validator(mode="after")
    def _check_fields(self) -> SubjectSelector:
        info = subject_kind(self.kind)
        problems: list[Problem] = []
        for index, condition in enumerate(self.filter):
            problems.extend(_condition_problems(info, condition, ("filter", index)))
        if self.cycle not in CYCLE_KEYWORDS:
            column = info.field(self.cycle)
            if column is None or self.cycle not in info.cycle_fields:
                allowed = (*CYCLE_KEYWORDS, *info.cycle_fields)
                problems.append(
                    (
                        ("cycle",),
                        f"cycle must be a date or text field of {info.kind.value} or a keyword; "
                        f"got {show(self.cycle)}{suggest(self.cycle, allowed)} "
                        f"(allowed: {', '.join(allowed)})",
                        self.cycle,
                    )
                )
        raise_problems(problems, "SubjectSelector")
        return self

    @property
    def info(self) -> SubjectKindInfo:
        """The registry entry of the subject kind (model class, fields, sample)."""
        return subject_kind(self.kind)

    @property
    def cycle_field(self) -> str | None:
        return None if self.cycle in CYCLE_KEYWORDS else self.cycle

    def cycle_key(self, subject: Any, run_date: date) -> str:
        """The cycle part of a task's identity for `subject` in a run on `run_date`."""
        if self.cycle == "once":
            return "once"
        if self.cycle == "run_date":
            return run_date.isoformat()
        if self.cycle == "run_week":
            year, week, _ = run_date.isocalendar()
            return f"{year}-W{week:02d}"
        if self.cycle == "run_month":
            return f"{run_date.year}-{run_date.month:02d}"
        if self.cycle == "run_quarter":
            return f"{run_date.year}-Q{(run_date.month - 1) // 3 + 1}"
        value = getattr(subject, self.cycle)
        if value is None:
            return "none"
        return (value.isoformat() if isinstance(value, date) else str(value))[:40]

    def where_clause(self, today: date) -> sa.ColumnElement[bool]:
        """The filter as one SQL condition on the kind's table (true when there is none)."""
        model = self.info.model
        return sa.and_(sa.true(), *(_clause(self.info, model, c, today) for c in self.filter))


def _condition_problems(
    info: SubjectKindInfo, condition: FilterCondition, loc: tuple[str | int, ...]
) -> list[Problem]:
    if condition.any_of is not None:
        problems: list[Problem] = []
        for index, inner in enumerate(condition.any_of):
            problems.extend(_condition_problems(info, inner, (*loc, "any", index)))
        return problems
    name = condition.field or ""
    column = info.field(name)
    if column is None:
        return [((*loc, "field"), _unknown_field(info, name), name)]
    op = condition.op or "eq"
    message = _value_problem(column, op, condition.value)
    return [((*loc, op), message, condition.value)] if message else []


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _clause(info: SubjectKindInfo, model: Any, condition: FilterCondition, today: date) -> Any:
    if condition.any_of is not None:
        return sa.or_(*(_clause(info, model, c, today) for c in condition.any_of))
    column_info = info.fields[condition.field or ""]
    column = getattr(model, column_info.name)
    op = condition.op
    if op == "is_null":
        return column.is_(None) if condition.is_null else column.is_not(None)
    value = condition.resolved_value(column_info, today)
    if column_info.type == "datetime":
        return _datetime_clause(column, op, value)
    simple = {
        "eq": column.__eq__,
        "ne": column.__ne__,
        "lt": column.__lt__,
        "lte": column.__le__,
        "gt": column.__gt__,
        "gte": column.__ge__,
        "in": column.in_,
        "not_in": column.not_in,
    }
    return simple[op or "eq"](value)


def _datetime_clause(column: Any, op: str | None, value: Any) -> Any:
    """Compare an instant column with calendar days (UTC days, whole-day semantics)."""
    if isinstance(value, list):
        ranges = [_datetime_clause(column, "eq", day) for day in value]
        return sa.or_(*ranges) if op == "in" else sa.not_(sa.or_(*ranges))
    start, end = _day_start(value), _day_start(value + timedelta(days=1))
    return {
        "eq": sa.and_(column >= start, column < end),
        "ne": sa.or_(column < start, column >= end),
        "lt": column < start,
        "lte": column < end,
        "gt": column >= end,
        "gte": column >= start,
    }[op or "eq"]
