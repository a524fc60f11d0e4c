"""What happens around a deadline: a warning before it, reminders after it, and
reassignment up a ladder."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from models.enums import Role
from models.sop_spec.base import (
    DurationValue,
    Email,
    Problem,
    Slug,
    SpecModel,
    approx_hours,
    raise_problems,
)

NotifyTarget = Literal["assignee", "team", "managers", "admins"]


class ReassignTarget(SpecModel):
    """Where an escalated task goes: a role (within a team if given), a team queue, or a person."""

    role: Role | None = Field(
        default=None,
        description="Give the task to the least-loaded active user with this role.",
        examples=["manager"],
    )
    team: Slug | None = Field(
        default=None,
        description="Limit to this team (with `role`), or put the task in this team's queue.",
        examples=["compliance"],
    )
    user: Email | None = Field(
        default=None, description="Give the task to this person.", examples=["lead@example.org"]
    )

    @model_validator(mode="after")
    def _target(self) -> ReassignTarget:
        if self.user is None and self.role is None and self.team is None:
            raise ValueError("reassign_to needs role, team or user")
        if self.user is not None and (self.role is not None or self.team is not None):
            raise ValueError("reassign_to takes either user, or role and/or team, not both")
        return self


class LadderRung(SpecModel):
    """One step up the ladder, taken when the task has been overdue for `after`."""

    after: DurationValue = Field(
        description="How long after the deadline this rung applies (positive).",
        examples=["3bd"],
    )
    reassign_to: ReassignTarget | None = Field(
        default=None,
        description="Reassign the task (optional: a rung may only notify).",
        examples=[{"role": "manager"}],
    )
    notify: list[NotifyTarget] = Field(
        default_factory=list,
        description="Who is told: the assignee, the task's team, the managers, the admins.",
        examples=[["assignee", "managers"]],
    )

    @model_validator(mode="after")
    def _does_something(self) -> LadderRung:
        problems: list[Problem] = []
        if self.after.amount <= 0:
            problems.append(
                (("after",), f"expected a positive duration, got {self.after}", str(self.after))
            )
        if self.reassign_to is None and not self.notify:
            problems.append(((), "a ladder rung needs reassign_to or notify", None))
        raise_problems(problems, "LadderRung")
        return self


class Escalation(SpecModel):
    """Warnings, reminders and reassignment for tasks that near or pass their deadline."""

    warn_before: DurationValue | None = Field(
        default=None,
        description="Warn the assignee this long before the deadline.",
        examples=["1bd"],
    )
    remind_every: DurationValue | None = Field(
        default=None,
        description="Remind the assignee at this interval while the task is overdue.",
        examples=["1d"],
    )
    ladder: list[LadderRung] = Field(
        default_factory=list,
        description="Rungs ordered by `after`, each taken once.",
        examples=[[{"after": "3bd", "reassign_to": {"role": "manager"}, "notify": ["managers"]}]],
    )

    @model_validator(mode="after")
    def _check(self) -> Escalation:
        problems: list[Problem] = []
        for name in ("warn_before", "remind_every"):
            value = getattr(self, name)
            if value is not None and value.amount <= 0:
                problems.append(((name,), f"expected a positive duration, got {value}", str(value)))
        for index in range(1, len(self.ladder)):
            before, this = self.ladder[index - 1].after, self.ladder[index].after
            if approx_hours(this) <= approx_hours(before):
                problems.append(
                    (
                        ("ladder", index, "after"),
                        f"ladder rungs must be ordered by `after`: {this} does not come after "
                        f"{before} (ladder[{index - 1}])",
                        str(this),
                    )
                )
        raise_problems(problems, "Escalation")
        return self
