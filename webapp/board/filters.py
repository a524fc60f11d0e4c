"""The filter form of every task list: read from the URL, checked, and written back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from services.tasks.queries import STATUS_FILTERS, Cursor, TaskFilter
from webapp import params

FIELDS = ("site", "team", "sop", "status", "due_from", "due_to", "assignee", "q")
MAX_Q = 100


@dataclass
class FilterForm:
    """A parsed filter: the query filter, messages per field, and the clean values."""

    flt: TaskFilter
    errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    after: Cursor | None = None

    @property
    def active(self) -> bool:
        """True when anything narrows the list (so the form shows "Clear")."""
        return bool(self.values)


def parse(args: Mapping[str, str], statuses: Mapping[str, str] = STATUS_FILTERS) -> FilterForm:
    """Return the filter in `args`; malformed values become messages, never errors."""
    errors: dict[str, str] = {}
    assignee_raw = (args.get("assignee") or "").strip()
    assignee: int | None = None
    if assignee_raw == "none":
        assignee = 0
    elif assignee_raw:
        assignee = params.integer(args, "assignee", errors)
    flt = TaskFilter(
        site_id=params.integer(args, "site", errors),
        team_id=params.integer(args, "team", errors),
        sop_id=params.integer(args, "sop", errors),
        status=params.choice(args, "status", [s for s in statuses if s], errors),
        due_from=params.day(args, "due_from", errors),
        due_to=params.day(args, "due_to", errors),
        assignee_id=assignee,
        q=params.text(args, "q", MAX_Q, errors),
    )
    params.date_range(flt.due_from, flt.due_to, ("due_from", "due_to"), errors)
    if "due_to" in errors:
        flt = replace(flt, due_to=None)
    values = params.cleaned(args, FIELDS, errors)
    return FilterForm(flt, errors, values, Cursor.decode(args.get("after")))
