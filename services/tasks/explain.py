""" "Why am I doing this?": a task's step as its SOP defines it, in words and in YAML."""

from __future__ import annotations

import functools
import textwrap
from dataclasses import dataclass

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from models import SopVersion
from models.sop_spec import DueRule, Step
from services.sops.registry import spec_for


@dataclass(frozen=True)
class StepExplanation:
    """A step's definition for people: the SOP, the rules in words, and its YAML text."""

    sop_title: str
    sop_description: str | None
    version_number: int
    step: Step | None
    rules: list[str]
    yaml_text: str | None


_UNITS = {"d": "day", "bd": "business day", "w": "week", "h": "hour"}


def _offset_words(amount: int, unit: str) -> str:
    if amount == 0:
        return "on"
    noun = _UNITS.get(unit, unit) + ("s" if abs(amount) != 1 else "")
    return f"{abs(amount)} {noun} {'before' if amount < 0 else 'after'}"


def _due_words(rule: DueRule, what: str) -> str:
    anchor = {"run": "the run's date", "completion": "the previous step's completion"}.get(
        rule.anchor, f"the subject's {rule.subject_field}"
    )
    text = f"{what} {_offset_words(rule.offset.amount, rule.offset.unit)} {anchor}"
    if rule.by_state:
        text += " (by state: " + ", ".join(f"{s} {o}" for s, o in sorted(rule.by_state.items()))
        text += ")"
    if rule.at:
        text += f", at {rule.at} site time"
    return text


def rules_in_words(step: Step) -> list[str]:
    """Return one short sentence per rule of the step (due, start, assignment, gates)."""
    lines = [_due_words(step.due, "Due")]
    if step.starts is not None:
        lines.append(_due_words(step.starts, "Visible from"))
    if step.after:
        lines.append("Starts when these steps are done: " + ", ".join(step.after))
    if step.when:
        lines.append(f"Only when: {step.when}")
    if step.assign is not None:
        rule = step.assign
        team = rule.team or ""
        how = {
            "fixed": f"Assigned to {rule.user}",
            "team_queue": f"Goes to the {team} queue",
            "round_robin": f"Assigned in turn within {team}",
            "least_loaded": f"Assigned to the least-loaded member of {team}",
            "role": f"Assigned to a {rule.role.value if rule.role else ''}"
            + (f" in {team}" if team else ""),
        }
        lines.append(how[rule.strategy])
    if step.evidence is not None and step.evidence.required:
        kind = step.evidence.kind
        category = step.evidence.category.value.replace("_", " ") if step.evidence.category else ""
        lines.append(f"Needs evidence: {kind}" + (f", filed under {category}" if category else ""))
    if step.approval is not None:
        lines.append(f"Signed off by a {step.approval.role.value}")
    return lines


@functools.lru_cache(maxsize=512)
def step_yaml(text: str, step_id: str) -> str | None:
    """Return the step's lines exactly as written in the SOP text (comments and
    citations included), dedented; None when it cannot be found."""
    try:
        data = YAML().load(text)
    except YAMLError:
        return None
    steps = data.get("steps") if hasattr(data, "get") else None
    if not steps:
        return None
    lines = text.splitlines()
    keys = list(data.keys())
    after_steps = keys[keys.index("steps") + 1 :]
    end_of_steps = data.lc.key(after_steps[0])[0] if after_steps else len(lines)
    starts = [item.lc.line for item in steps]
    for index, item in enumerate(steps):
        if hasattr(item, "get") and item.get("id") == step_id:
            end = starts[index + 1] if index + 1 < len(starts) else end_of_steps
            chunk = lines[starts[index] : end]
            while chunk and not chunk[-1].strip():
                chunk.pop()
            if chunk:
                first = chunk[0]
                dash = first.index("-") if first.lstrip().startswith("-") else None
                if dash is not None:
                    chunk[0] = first[:dash] + " " + first[dash + 1 :]
            return textwrap.dedent("\n".join(chunk))
    return None


def explain(version: SopVersion, step_id: str) -> StepExplanation:
    """Return the explanation of `step_id` as defined in the task's SOP version."""
    spec = spec_for(version)
    step = spec.steps_by_id().get(step_id)
    return StepExplanation(
        sop_title=spec.title,
        sop_description=spec.description,
        version_number=version.number,
        step=step,
        rules=rules_in_words(step) if step else [],
        yaml_text=step_yaml(version.yaml_text, step_id),
    )
