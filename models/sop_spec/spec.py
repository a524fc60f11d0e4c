"""The whole SOP: identity, triggers, subjects, steps and escalation, with the checks
that need more than one part of the file (step references, cycles, date fields)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, StrictInt, model_validator

from models.sop_spec.base import Problem, Slug, SpecModel, Text, raise_problems, suggest
from models.sop_spec.escalation import Escalation
from models.sop_spec.steps import Assignment, Step
from models.sop_spec.subjects import SubjectSelector
from models.sop_spec.triggers import (
    EVENT_SUBJECT_KINDS,
    ManualInput,
    ScheduleTrigger,
    Trigger,
)
from models.subject_kinds import SubjectKindInfo

SCHEMA_TITLE = "sopflow SOP definition"


class SopSpec(SpecModel):
    """A standard operating procedure: which records it is about, when it runs, and the
    tasks it creates for each of them."""

    model_config = ConfigDict(title=SCHEMA_TITLE)

    id: Slug = Field(
        description="The SOP's permanent slug (the database key; never reuse one).",
        examples=["patient-renewal"],
    )
    title: Text = Field(description="The SOP's name.", examples=["Patient card renewal"])
    description: str | None = Field(
        default=None,
        description="What the SOP is for and the rules it follows.",
        examples=["Renews state registry cards before they lapse."],
    )
    version: Annotated[StrictInt, Field(ge=1)] | None = Field(
        default=None,
        description="The author's label; the database numbers stored versions itself.",
        examples=[3],
    )
    owner_team: Slug = Field(
        description="The team that owns the SOP; its queue is the default assignment.",
        examples=["patient-services"],
    )
    triggers: list[Trigger] = Field(
        min_length=1,
        description="When the SOP runs: at least one schedule, event or manual trigger.",
        examples=[[{"schedule": {"cron": "0 7 * * 1-5", "timezone": "site"}}]],
    )
    subjects: SubjectSelector = Field(
        description="The records the SOP creates tasks for.",
        examples=[{"kind": "patient", "cycle": "card_expires_on"}],
    )
    steps: list[Step] = Field(
        min_length=1,
        description="The tasks created for each subject, in dependency order.",
        examples=[[{"id": "remind", "title": "Remind {{ subject.ref }}", "due": {"from": "run"}}]],
    )
    escalation: Escalation | None = Field(
        default=None,
        description="Warnings, reminders and reassignment for every step (a step may override).",
        examples=[{"warn_before": "1bd", "remind_every": "1d"}],
    )

    @model_validator(mode="after")
    def _cross_check(self) -> SopSpec:
        problems = self._step_id_problems() + self._after_problems()
        if not problems:
            problems += self._cycle_problems()
        problems += self._anchor_problems() + self._event_problems()
        raise_problems(problems, "SopSpec")
        return self

    def _step_id_problems(self) -> list[Problem]:
        first: dict[str, int] = {}
        problems: list[Problem] = []
        for index, step in enumerate(self.steps):
            if step.id in first:
                problems.append(
                    (
                        ("steps", index, "id"),
                        f'duplicate step id "{step.id}" (first used by steps[{first[step.id]}])',
                        step.id,
                    )
                )
            first.setdefault(step.id, index)
        return problems

    def _after_problems(self) -> list[Problem]:
        ids = [step.id for step in self.steps]
        problems: list[Problem] = []
        for index, step in enumerate(self.steps):
            for position, other in enumerate(step.after):
                if other not in ids:
                    problems.append(
                        (
                            ("steps", index, "after", position),
                            f'unknown step "{other}"{suggest(other, ids)} '
                            f"(steps: {', '.join(ids)})",
                            other,
                        )
                    )
        return problems

    def _cycle_problems(self) -> list[Problem]:
        """Name each dependency cycle once, e.g. "a -> b -> a" (a waits for b, b for a)."""
        index_of = {step.id: i for i, step in enumerate(self.steps)}
        state: dict[str, int] = {}  # 1 visiting, 2 done
        problems: list[Problem] = []

        def visit(step_id: str, path: list[str]) -> None:
            state[step_id] = 1
            for other in self.steps[index_of[step_id]].after:
                if state.get(other) == 1:
                    cycle = [*path[path.index(other) :], other]
                    problems.append(
                        (
                            ("steps", index_of[step_id], "after"),
                            f"dependency cycle: {' -> '.join(cycle)}",
                            list(self.steps[index_of[step_id]].after),
                        )
                    )
                elif other not in state:
                    visit(other, [*path, other])
            state[step_id] = 2

        for step in self.steps:
            if step.id not in state:
                visit(step.id, [step.id])
        return problems

    def _anchor_problems(self) -> list[Problem]:
        info = self.subjects.info
        problems: list[Problem] = []
        for index, step in enumerate(self.steps):
            for name in ("due", "starts"):
                rule = getattr(step, name)
                field = rule.subject_field if rule is not None else None
                if field is None:
                    continue
                message = _date_field_problem(info, field)
                if message:
                    problems.append((("steps", index, name, "from"), message, rule.from_))
        return problems

    def _event_problems(self) -> list[Problem]:
        problems: list[Problem] = []
        for index, trigger in enumerate(self.triggers):
            if trigger.event is None:
                continue
            carried = EVENT_SUBJECT_KINDS[trigger.event.name]
            if carried is not self.subjects.kind:
                problems.append(
                    (
                        ("triggers", index, "event", "name"),
                        f"event {trigger.event.name} carries a {carried.value} record, but "
                        f"subjects.kind is {self.subjects.kind.value}",
                        trigger.event.name,
                    )
                )
        return problems

    # --- what the engine reads -------------------------------------------------

    @property
    def subject_info(self) -> SubjectKindInfo:
        """The subject kind's registry entry (table class, fields, site column, sample)."""
        return self.subjects.info

    def steps_by_id(self) -> dict[str, Step]:
        return {step.id: step for step in self.steps}

    def step(self, step_id: str) -> Step:
        """The step with this id; KeyError if there is none."""
        return self.steps_by_id()[step_id]

    def topological_steps(self) -> list[Step]:
        """Every step after the steps it waits for; ties keep the file's order."""
        done: set[str] = set()
        ordered: list[Step] = []
        pending = list(self.steps)
        while pending:
            ready = [step for step in pending if set(step.after) <= done]
            if not ready:  # unreachable: validation rejects cycles
                raise ValueError("dependency cycle")
            ordered.append(ready[0])
            done.add(ready[0].id)
            pending.remove(ready[0])
        return ordered

    def root_steps(self) -> list[Step]:
        """Steps that wait for nothing: created as soon as a subject qualifies."""
        return [step for step in self.steps if not step.after]

    def dependents(self, step_id: str) -> list[Step]:
        """Steps that list `step_id` in `after` (candidates once it is completed)."""
        return [step for step in self.steps if step_id in step.after]

    def assignment_for(self, step: Step) -> Assignment:
        """The step's assignment, or the owner team's queue when it declares none."""
        return step.assign or Assignment(strategy="team_queue", team=self.owner_team)

    def escalation_for(self, step: Step) -> Escalation | None:
        """The step's own escalation, else the SOP's."""
        return step.escalation or self.escalation

    @property
    def schedules(self) -> list[ScheduleTrigger]:
        return [t.schedule for t in self.triggers if t.schedule is not None]

    @property
    def event_names(self) -> list[str]:
        return [t.event.name for t in self.triggers if t.event is not None]

    @property
    def manual_inputs(self) -> list[ManualInput]:
        """Every declared manual input (empty when the SOP has no manual trigger)."""
        return [i for t in self.triggers if t.manual is not None for i in t.manual.inputs]

    @property
    def is_manual(self) -> bool:
        return any(t.manual is not None for t in self.triggers)

    def input_defaults(self) -> dict[str, Any]:
        """The `inputs` of a run that was given no values (scheduled and event runs)."""
        return {i.id: i.default for i in self.manual_inputs}


def _date_field_problem(info: SubjectKindInfo, field: str) -> str | None:
    if info.field(field) is None:
        return (
            f'{info.kind.value} has no field "{field}"'
            f"{suggest(field, info.date_fields, 'subject.')} "
            f"(date fields: {', '.join(info.date_fields) or 'none'})"
        )
    if field not in info.date_fields:
        return (
            f"subject.{field} is not a date field of {info.kind.value} "
            f"(date fields: {', '.join(info.date_fields) or 'none'})"
        )
    return None
