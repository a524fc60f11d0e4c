"""The SOP language: one pydantic model, the single source of truth.

`SopSpec` validates a parsed YAML document; its JSON Schema (committed as
`sop_definitions/sop.schema.json`) is generated from it. Unknown keys are
errors everywhere. Cross-part checks (step references, dependency cycles,
filter fields and due anchors against the subject kind's table) raise errors
located at the offending key, so a loader can point at the exact line.
"""

from models.sop_spec.base import (
    RelativeDate,
    SpecModel,
    approx_hours,
    parse_date_value,
    resolve_date_value,
)
from models.sop_spec.escalation import Escalation, LadderRung, NotifyTarget, ReassignTarget
from models.sop_spec.spec import SCHEMA_TITLE, SopSpec
from models.sop_spec.steps import (
    PRIORITY_RANK,
    ApprovalRule,
    Assignment,
    ChecklistItem,
    DueRule,
    EvidenceRule,
    Priority,
    Step,
    Strategy,
)
from models.sop_spec.subjects import (
    CYCLE_KEYWORDS,
    FILTER_OPS,
    FilterCondition,
    FilterOp,
    SubjectSelector,
)
from models.sop_spec.triggers import (
    EVENT_SUBJECT_KINDS,
    EventTrigger,
    ManualInput,
    ManualTrigger,
    ScheduleTrigger,
    Trigger,
    check_cron,
    check_timezone,
)

__all__ = [
    "CYCLE_KEYWORDS",
    "EVENT_SUBJECT_KINDS",
    "FILTER_OPS",
    "PRIORITY_RANK",
    "SCHEMA_TITLE",
    "ApprovalRule",
    "Assignment",
    "ChecklistItem",
    "DueRule",
    "Escalation",
    "EventTrigger",
    "EvidenceRule",
    "FilterCondition",
    "FilterOp",
    "LadderRung",
    "ManualInput",
    "ManualTrigger",
    "NotifyTarget",
    "Priority",
    "ReassignTarget",
    "RelativeDate",
    "ScheduleTrigger",
    "SopSpec",
    "SpecModel",
    "Step",
    "Strategy",
    "SubjectSelector",
    "Trigger",
    "approx_hours",
    "check_cron",
    "check_timezone",
    "parse_date_value",
    "resolve_date_value",
]
