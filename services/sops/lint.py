"""The checks the browser editor runs on a stored SOP's new text.

The language itself is checked by the one validator (`check_sop_text`, the same
as `sopflow validate`). On top of it an edit must: stay under a size limit,
keep the SOP's id (the id is the database key), and not put every due date of
a step in the past (tasks would be created overdue): that needs the filter and
the offsets together, which no single key's validation sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from models.durations import Duration
from models.sop_spec import DueRule, FilterCondition, SopSpec, parse_date_value
from models.sop_spec.base import RelativeDate
from services.sop_validation import SopIssue, check_sop_text
from services.sop_validation.issues import FILE_PATH
from services.sop_validation.positions import format_path, locate

# An SOP is a few kilobytes; this leaves room for long ones and refuses pastes of logs.
MAX_SOP_CHARS = 256 * 1024


@dataclass
class EditCheck:
    """The outcome of checking an edit: the spec when it may be saved, else its issues."""

    spec: SopSpec | None
    issues: list[SopIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.spec is not None and not self.issues


def normalize_text(text: str) -> str:
    """Return `text` with LF line ends (a browser's textarea sends CRLF)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def source_name(slug: str) -> str:
    """Return the name issues of an edit of SOP `slug` are reported under."""
    return f"{slug}.yaml"


def check_edit(text: str, slug: str, today: date | None = None) -> EditCheck:
    """Return the issues of `text` as the next version of SOP `slug` (none: it may be saved)."""
    source = source_name(slug)
    if len(text) > MAX_SOP_CHARS:
        message = (
            f"the text has {len(text):,} characters; an SOP may have at most "
            f"{MAX_SOP_CHARS:,} ({MAX_SOP_CHARS // 1024} KB). Nothing was checked or saved"
        )
        return EditCheck(None, [SopIssue(source, 1, 1, FILE_PATH, message)])
    check = check_sop_text(text, source)
    if not check.ok or check.spec is None:
        return EditCheck(None, check.issues)
    issues: list[SopIssue] = []
    if check.spec.id != slug:
        issues.append(
            _issue(
                check.tree,
                source,
                ("id",),
                f'the id is "{check.spec.id}" but this is SOP "{slug}": an SOP keeps its id '
                "(its tasks and history hang on it); write a new file for a new SOP",
            )
        )
    issues += past_due_issues(check.spec, check.tree, source, today or date.today())
    return EditCheck(None if issues else check.spec, issues)


def _issue(tree: Any, source: str, loc: tuple[str | int, ...], message: str) -> SopIssue:
    position, _found = locate(tree, loc)
    return SopIssue(source, position.line + 1, position.col + 1, format_path(loc), message)


# --- every due date in the past -----------------------------------------------------


def latest_days(offset: Duration) -> float:
    """Return an upper bound, in days, of how far `offset` moves a date.

    Business days: -k bd goes back at least k calendar days; +k bd forward at most
    about 2k + 4 (weekends and a few holidays), which is generous on purpose: the
    check only speaks when it is sure.
    """
    per_unit = {"d": 1.0, "w": 7.0, "h": 1 / 24}
    if offset.unit in per_unit:
        return offset.amount * per_unit[offset.unit]
    return float(offset.amount) if offset.amount <= 0 else 2.0 * offset.amount + 4


def _latest_offset(rule: DueRule) -> tuple[float, tuple[str, ...], Duration]:
    """Return (days, key path inside the rule, offset) of the rule's latest offset."""
    options = [(latest_days(rule.offset), ("offset",), rule.offset)]
    options += [(latest_days(o), ("by_state", state), o) for state, o in rule.by_state.items()]
    return max(options, key=lambda option: option[0])


def _upper_bound(
    conditions: list[FilterCondition], field_name: str, today: date
) -> tuple[float, int] | None:
    """Return (latest anchor in days from today, filter index) that the filter allows
    for `field_name`, or None when the filter does not bound it from above."""
    bounds: list[tuple[float, int]] = []
    for index, condition in enumerate(conditions):
        if condition.field != field_name or condition.op not in ("lt", "lte", "eq", "in"):
            continue
        values = condition.value if isinstance(condition.value, list) else [condition.value]
        try:
            days = [_days_from(parse_date_value(v), today) for v in values]
        except ValueError:
            continue
        bounds.append((max(days) - (1 if condition.op == "lt" else 0), index))
    return min(bounds) if bounds else None


def _days_from(value: date | RelativeDate, today: date) -> int:
    return value.days if isinstance(value, RelativeDate) else (value - today).days


def _relative(days: float) -> str:
    whole = math.floor(days)
    return "today" if whole == 0 else f"today{whole:+d}d"


def past_due_issues(spec: SopSpec, tree: Any, source: str, today: date) -> list[SopIssue]:
    """Return an issue per step whose every due date would already be past when its
    task is created (so each task would be born overdue)."""
    issues: list[SopIssue] = []
    for index, step in enumerate(spec.steps):
        rule = step.due
        days, key, offset = _latest_offset(rule)
        if rule.anchor in ("run", "completion"):
            moment = "the run" if rule.anchor == "run" else "the completion of the step before"
            if days >= 0:
                continue
            why = f"the due date is {offset} after {moment}, i.e. before the task exists"
        else:
            field_name = rule.subject_field or ""
            bound = _upper_bound(spec.subjects.filter, field_name, today)
            if bound is None or bound[0] + days >= 0:
                continue
            why = (
                f"subjects.filter[{bound[1]}] keeps subjects whose {field_name} is on or before "
                f"{_relative(bound[0])}, and {offset} from it puts the latest due date at "
                f"{_relative(bound[0] + days)}"
            )
        issues.append(
            _issue(
                tree,
                source,
                ("steps", index, "due", *key),
                f"every due date of step {step.id} would be in the past: {why}; "
                "every task would be created overdue",
            )
        )
    return issues
