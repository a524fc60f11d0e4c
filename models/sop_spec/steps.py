"""One step of an SOP: the task it creates for each subject, when it is due, who
gets it, and what completing it takes."""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StrictBool, field_validator, model_validator

from models.durations import Duration
from models.enums import DocumentCategory, Role
from models.sop_spec.base import (
    DurationValue,
    Email,
    Problem,
    Slug,
    SpecModel,
    StateCode,
    StepId,
    Text,
    TimeOfDay,
    parse_time,
    raise_problems,
    show,
)
from models.sop_spec.escalation import Escalation

DUE_FROM_PATTERN = r"^(run|completion|subject\.[a-z_][a-z0-9_]*)$"
_DUE_FROM_RE = re.compile(DUE_FROM_PATTERN)
Anchor = Literal["run", "completion", "subject"]


class DueRule(SpecModel):
    """A point in time: an anchor date plus an offset (per state if needed), at a local time."""

    from_: str = Field(
        alias="from",
        description="The anchor: subject.<date field>, run (the run's date), or completion "
        "(when the last of the step's `after` steps was completed).",
        examples=["subject.card_expires_on", "run", "completion"],
    )
    offset: DurationValue = Field(
        default=Duration(0, "d"),
        description="Added to the anchor: d days, bd business days (site holidays skipped), "
        "w weeks, h hours; negative is before.",
        examples=["-45d", "3bd"],
    )
    by_state: dict[StateCode, DurationValue] = Field(
        default_factory=dict,
        description="Per-state offsets, keyed by the subject site's two-letter state code.",
        examples=[{"FL": "-45d", "OK": "-30d", "PA": "-60d"}],
    )
    at: TimeOfDay | None = Field(
        default=None,
        description="Local wall time in the site's zone; default: the end of the day for a "
        "deadline, the start of the day for `starts`.",
        examples=["17:00"],
    )

    @field_validator("from_", mode="plain")
    @classmethod
    def _anchor(cls, value: Any) -> str:
        if not isinstance(value, str) or not _DUE_FROM_RE.match(value):
            raise ValueError(f"expected subject.<date field>, run or completion, got {show(value)}")
        return value

    @property
    def anchor(self) -> Anchor:
        """The anchor: "run", "completion" or "subject"."""
        return "subject" if self.from_.startswith("subject.") else self.from_  # type: ignore[return-value]

    @property
    def subject_field(self) -> str | None:
        """The subject's date field when the anchor is `subject.<field>`."""
        return self.from_.removeprefix("subject.") if self.anchor == "subject" else None

    def offset_for_state(self, state: str | None) -> Duration:
        """The offset for a subject whose site is in `state` (the default when not listed)."""
        if state and state.upper() in self.by_state:
            return self.by_state[state.upper()]
        return self.offset

    @property
    def at_time(self) -> time | None:
        return parse_time(self.at) if self.at else None


Strategy = Literal["fixed", "team_queue", "round_robin", "least_loaded", "role"]
_NEEDS: dict[str, str] = {
    "fixed": "user",
    "team_queue": "team",
    "round_robin": "team",
    "least_loaded": "team",
    "role": "role",
}
_EXAMPLE = {"user": "<email>", "team": "<team slug>", "role": "va|manager|admin"}


class Assignment(SpecModel):
    """Who gets the task."""

    strategy: Strategy = Field(
        description="fixed: one person (user); team_queue: the team's queue, claimed by a "
        "member; round_robin / least_loaded: an active team member in turn / with the fewest "
        "open tasks; role: an active user with the role (in `team` if given).",
        examples=["round_robin"],
    )
    team: Slug | None = Field(
        default=None, description="The team slug.", examples=["patient-services"]
    )
    user: Email | None = Field(
        default=None, description="The person, for strategy fixed.", examples=["va@example.org"]
    )
    role: Role | None = Field(
        default=None, description="The role, for strategy role.", examples=["manager"]
    )

    @model_validator(mode="after")
    def _required_keys(self) -> Assignment:
        needed = _NEEDS[self.strategy]
        if getattr(self, needed) is None:
            raise ValueError(f"strategy {self.strategy} needs {needed}: {_EXAMPLE[needed]}")
        if self.user is not None and self.strategy != "fixed":
            raise_problems(
                [
                    (
                        ("user",),
                        f"user applies only to strategy fixed, not {self.strategy}",
                        self.user,
                    )
                ],
                "Assignment",
            )
        return self


class ChecklistItem(SpecModel):
    """A line of the task's checklist; required lines must be ticked to complete it."""

    text: Text = Field(
        description="What to check (a Jinja template).", examples=["Confirm contact preference"]
    )
    required: StrictBool = Field(
        default=True,
        description="Must be ticked before the task can be completed.",
        examples=[False],
    )


def _item(value: Any) -> Any:
    if isinstance(value, str):
        return {"text": value}
    if not isinstance(value, dict):
        raise ValueError(
            f"expected a checklist line (a text, or {{text, required}}), got {show(value)}"
        )
    return value


class _TextOrItemSchema:
    """JSON Schema: a checklist entry is a plain string or a ChecklistItem mapping."""

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        return {"anyOf": [{"type": "string", "minLength": 1}, handler(core_schema)]}


ChecklistEntry = Annotated[ChecklistItem, BeforeValidator(_item), _TextOrItemSchema()]
EvidenceKind = Literal["document", "file", "link", "any"]


class EvidenceRule(SpecModel):
    """Proof to attach to the task."""

    required: StrictBool = Field(
        default=True, description="The task cannot be completed without it.", examples=[True]
    )
    kind: EvidenceKind = Field(
        default="any",
        description="document: a filed Document; file: an upload; link: a URL; any: either.",
        examples=["document"],
    )
    category: DocumentCategory | None = Field(
        default=None,
        description="For documents: the regulatory category it is filed under.",
        examples=["patient_records"],
    )
    note: Text | None = Field(
        default=None,
        description="What to attach, shown next to the upload button.",
        examples=["The registry's renewal confirmation page"],
    )

    @model_validator(mode="after")
    def _category(self) -> EvidenceRule:
        if self.category is not None and self.kind not in ("document", "any"):
            raise_problems(
                [
                    (
                        ("category",),
                        f"category applies to kind document, not {self.kind}",
                        self.category,
                    )
                ],
                "EvidenceRule",
            )
        return self


class ApprovalRule(SpecModel):
    """Only a user with this role may complete the task."""

    role: Role = Field(description="The role that signs off.", examples=["manager"])


# The patient-message templates compliance approved; their texts are in
# services/notifications/patient_templates.py (a test keeps the two lists equal).
PatientTemplate = Literal["card-renewal", "certification-renewal"]


class PatientReminderRule(SpecModel):
    """A message to the patient, prepared from an approved template when the task starts.

    The patient's contact preference and consent decide the channel; without
    consent for the preferred channel nothing is prepared (the reason is noted on the task).
    """

    template: PatientTemplate = Field(
        description="The approved template: it carries the patient's name, the expiry date "
        "and the site's contact, never a condition or a treatment.",
        examples=["card-renewal"],
    )
    send: Literal["review", "auto"] = Field(
        default="review",
        description="review: a VA reads the prepared message on the task and sends it; auto: "
        "sopflow e-mails it itself when the patient prefers e-mail and consented (SMS, phone "
        "and letters are always prepared for a VA).",
        examples=["review"],
    )


Priority = Literal["high", "normal", "low"]
PRIORITY_RANK: dict[str, int] = {"high": 1, "normal": 2, "low": 3}


class Step(SpecModel):
    """One task per subject and cycle, created when the steps it waits for are done."""

    id: StepId = Field(description="Unique within the SOP.", examples=["remind"])
    title: Text = Field(
        description="A Jinja template. Titles reach calendar feeds and mail: use subject.ref, "
        "never names or conditions.",
        examples=["Renewal reminder · {{ subject.ref }}"],
    )
    description: str | None = Field(
        default=None,
        description="A Jinja template shown on the task (in the app only).",
        examples=["Card expires {{ subject.card_expires_on }}."],
    )
    after: list[StepId] = Field(
        default_factory=list,
        description="Step ids this step waits for; it starts when all of them are done.",
        examples=[["remind"]],
    )
    when: Text | None = Field(
        default=None,
        description="A Jinja expression; false skips the step for this subject (the reason "
        "is recorded).",
        examples=["subject.contact_preference != 'none'"],
    )
    due: DueRule = Field(
        description="The deadline.",
        examples=[{"from": "subject.card_expires_on", "offset": "-45d"}],
    )
    starts: DueRule | None = Field(
        default=None,
        description="When the task becomes visible (default: when it is created).",
        examples=[{"from": "subject.card_expires_on", "offset": "-60d"}],
    )
    priority: Priority = Field(default="normal", description="Board ordering.", examples=["high"])
    assign: Assignment | None = Field(
        default=None,
        description="Who gets the task (default: the owner team's queue).",
        examples=[{"strategy": "round_robin", "team": "patient-services"}],
    )
    checklist: list[ChecklistEntry] = Field(
        default_factory=list,
        description="Lines to tick: a string (required) or {text, required}.",
        examples=[["Confirm contact preference", {"text": "Note it", "required": False}]],
    )
    evidence: EvidenceRule | None = Field(
        default=None,
        description="Proof to attach.",
        examples=[{"required": True, "kind": "document", "category": "patient_records"}],
    )
    approval: ApprovalRule | None = Field(
        default=None,
        description="Who must complete (sign off) the task.",
        examples=[{"role": "manager"}],
    )
    escalation: Escalation | None = Field(
        default=None,
        description="Overrides the SOP's escalation for this step.",
        examples=[{"warn_before": "1bd"}],
    )
    patient_reminder: PatientReminderRule | None = Field(
        default=None,
        description="Prepare a reminder to the patient (subjects of kind patient) from an "
        "approved template, as this task's output.",
        examples=[{"template": "card-renewal", "send": "review"}],
    )

    @model_validator(mode="after")
    def _check(self) -> Step:
        problems: list[Problem] = []
        for name in ("due", "starts"):
            rule: DueRule | None = getattr(self, name)
            if rule is not None and rule.anchor == "completion" and not self.after:
                problems.append(
                    (
                        (name, "from"),
                        f'"from: completion" needs `after`: step "{self.id}" waits for no step',
                        rule.from_,
                    )
                )
        seen: set[str] = set()
        for index, other in enumerate(self.after):
            if other in seen:
                problems.append((("after", index), f'"{other}" is listed twice', other))
            seen.add(other)
        raise_problems(problems, "Step")
        return self

    @property
    def priority_rank(self) -> int:
        """1 high, 2 normal, 3 low (Task.priority)."""
        return PRIORITY_RANK[self.priority]

    @property
    def required_checklist(self) -> list[ChecklistItem]:
        return [item for item in self.checklist if item.required]
