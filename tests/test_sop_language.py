"""The SOP language: shipped SOPs validate, the committed JSON Schema is current, and
the helpers the engine reads (order, offsets, cycles, SQL filters) behave."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.dialects import sqlite

from models import Patient, SubjectKind
from models.durations import Duration
from models.sop_spec import SopSpec, resolve_date_value
from models.subject_kinds import subject_kind, subject_kinds
from services.sop_validation import (
    REGENERATE_HINT,
    SCHEMA_PATH,
    SopValidationError,
    check_sop_text,
    load_sop_file,
    load_sop_text,
    sandbox_environment,
    schema_json,
    validate_paths,
)

SOP_DIR = Path(__file__).resolve().parent.parent / "sop_definitions"
SHIPPED = sorted(SOP_DIR.glob("*.yaml"))
SCHEMA_COMMENT = "# yaml-language-server: $schema=./sop.schema.json"


def spec_of(name: str) -> SopSpec:
    return load_sop_file(SOP_DIR / f"{name}.yaml")


def test_the_four_families_are_shipped() -> None:
    assert {p.stem for p in SHIPPED} >= {
        "patient-renewal",
        "certification-renewal",
        "physician-outreach",
        "inspection-prep",
        "document-expiry",
        "disposal-logging",
    }


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_sop_validates(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    result = check_sop_text(text, str(path))
    assert result.issues == [], "\n".join(map(str, result.issues))
    assert text.splitlines()[0] == SCHEMA_COMMENT
    assert result.spec is not None and result.spec.id == path.stem


def test_sop_directory_has_no_issues() -> None:
    assert validate_paths([SOP_DIR]) == []


def test_schema_is_not_drifting() -> None:
    committed = SCHEMA_PATH.read_text(encoding="utf-8") if SCHEMA_PATH.exists() else ""
    assert committed == schema_json(), (
        f"{SCHEMA_PATH.name} differs from the SopSpec model; regenerate it with: {REGENERATE_HINT}"
    )


def test_schema_documents_itself() -> None:
    schema = json.loads(schema_json())
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["title"]
    assert schema["additionalProperties"] is False
    undocumented = [
        f"{owner}.{name}"
        for owner, model in [("SopSpec", schema), *schema["$defs"].items()]
        for name, prop in model.get("properties", {}).items()
        if not prop.get("description") or not prop.get("examples")
    ]
    assert undocumented == []


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_sop_matches_the_json_schema(path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from ruamel.yaml import YAML

    def jsonable(value: object) -> object:
        if isinstance(value, dict):
            return {k: jsonable(v) for k, v in value.items()}
        if isinstance(value, list):
            return [jsonable(v) for v in value]
        return value.isoformat() if isinstance(value, date) else value

    data = jsonable(YAML(typ="safe").load(path.read_text(encoding="utf-8")))
    validator = jsonschema.Draft202012Validator(json.loads(schema_json()))
    assert [e.message for e in validator.iter_errors(data)] == []


# --- helpers the engine reads ---------------------------------------------------------


def test_topological_order_and_dependents() -> None:
    spec = spec_of("disposal-logging")
    assert [s.id for s in spec.topological_steps()] == [
        "witness",
        "hold",
        "destroy",
        "record-state",
    ]
    assert [s.id for s in spec.root_steps()] == ["witness"]
    assert [s.id for s in spec.dependents("hold")] == ["destroy"]
    prep = spec_of("inspection-prep")
    order = [s.id for s in prep.topological_steps()]
    assert order[-1] == "readiness-review" and len(order) == 8


def test_topological_order_puts_dependencies_first_whatever_the_file_order() -> None:
    spec = load_sop_text(
        """
id: order-test
title: Order
owner_team: compliance
triggers: [{manual: {}}]
subjects: {kind: site, cycle: run_month}
steps:
  - {id: c, title: C, after: [b], due: {from: completion, offset: 1d}}
  - {id: b, title: B, after: [a], due: {from: completion, offset: 1d}}
  - {id: a, title: A, due: {from: run}}
  - {id: d, title: D, due: {from: run}}
""",
        "order.yaml",
    )
    assert [s.id for s in spec.topological_steps()] == ["a", "b", "c", "d"]
    assert list(spec.steps_by_id()) == ["c", "b", "a", "d"]


def test_offset_for_state() -> None:
    due = spec_of("patient-renewal").step("remind").due
    assert due.offset_for_state("FL") == Duration(-45, "d")
    assert due.offset_for_state("OK") == Duration(-30, "d")
    assert due.offset_for_state("pa") == Duration(-60, "d")
    assert due.offset_for_state("TX") == due.offset == Duration(-45, "d")
    assert due.offset_for_state(None) == Duration(-45, "d")
    assert due.anchor == "subject" and due.subject_field == "card_expires_on"
    assert due.at_time is not None and due.at_time.hour == 17


def test_due_rule_anchors() -> None:
    spec = spec_of("disposal-logging")
    hold = spec.step("hold").due
    assert hold.anchor == "completion" and hold.subject_field is None
    assert hold.offset == Duration(3, "bd") and hold.offset.is_business
    assert hold.offset_for_state("IL") == Duration(3, "d")
    assert spec_of("physician-outreach").step("schedule-call").due.anchor == "run"


def test_step_details() -> None:
    step = spec_of("patient-renewal").step("confirm")
    assert step.approval is not None and step.approval.role == "manager"
    assert step.evidence is not None and step.evidence.required
    assert step.priority_rank == 1
    remind = spec_of("patient-renewal").step("remind")
    assert [item.required for item in remind.checklist] == [True, True, False, False]
    assert len(remind.required_checklist) == 2


def test_assignment_and_escalation_defaults() -> None:
    spec = load_sop_text(
        """
id: default-test
title: Defaults
owner_team: compliance
triggers: [{manual: }]
subjects: {kind: document, cycle: expires_on}
escalation: {warn_before: 1bd}
steps:
  - {id: a, title: A, due: {from: run}}
  - {id: b, title: B, due: {from: run}, escalation: {remind_every: 1d}}
""",
        "defaults.yaml",
    )
    assignment = spec.assignment_for(spec.step("a"))
    assert (assignment.strategy, assignment.team) == ("team_queue", "compliance")
    assert spec.escalation_for(spec.step("a")) == spec.escalation
    assert spec.escalation_for(spec.step("b")).remind_every == Duration(1, "d")
    assert spec.is_manual and spec.schedules == [] and spec.event_names == []


def test_triggers_and_inputs() -> None:
    spec = spec_of("patient-renewal")
    assert [t.kind for t in spec.triggers] == ["schedule", "event", "manual"]
    assert spec.schedules[0].cron == "0 7 * * 1-5" and spec.schedules[0].timezone == "site"
    assert spec.event_names == ["patient.changed"]
    assert spec.input_defaults() == {"note": None}


@pytest.mark.parametrize(
    ("cycle", "expected"),
    [
        ("once", "once"),
        ("run_date", "2026-11-02"),
        ("run_week", "2026-W45"),
        ("run_month", "2026-11"),
        ("run_quarter", "2026-Q4"),
        ("card_expires_on", "2026-12-31"),
    ],
)
def test_cycle_key(cycle: str, expected: str) -> None:
    spec = spec_of("patient-renewal")
    selector = spec.subjects.model_copy(update={"cycle": cycle})
    subject = subject_kind("patient").sample()
    assert selector.cycle_key(subject, date(2026, 11, 2)) == expected


def test_cycle_key_of_an_empty_field() -> None:
    spec = spec_of("physician-outreach")

    class NeverContacted:
        last_contacted_on = None

    assert spec.subjects.cycle_key(NeverContacted(), date(2026, 11, 2)) == "none"


def _sql(spec: SopSpec, today: date) -> str:
    clause = spec.subjects.where_clause(today)
    return str(clause.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))


def test_filter_compiles_to_sql_with_resolved_dates() -> None:
    sql = _sql(spec_of("patient-renewal"), date(2026, 11, 2))
    assert "patient.status IN ('active', 'lapsed')" in sql
    assert "patient.card_expires_on <= '2027-01-01'" in sql
    assert "patient.card_expires_on >= '2026-10-03'" in sql


def test_any_group_compiles_to_or() -> None:
    sql = _sql(spec_of("physician-outreach"), date(2026, 11, 2))
    assert "physician.engagement_stage NOT IN ('declined')" in sql
    assert (
        "(physician.last_contacted_on IS NULL OR physician.last_contacted_on <= '2026-10-03' "
        "OR physician.next_follow_up_on <= '2026-11-02')"
    ) in sql


def test_relative_dates() -> None:
    today = date(2026, 2, 27)
    assert resolve_date_value("today", today) == today
    assert resolve_date_value("today+2w", today) == date(2026, 3, 13)
    assert resolve_date_value("today-30d", today) == date(2026, 1, 28)
    assert resolve_date_value("2026-12-31", today) == date(2026, 12, 31)
    with pytest.raises(ValueError, match="today\\+60d"):
        resolve_date_value("next week", today)


# --- subject kinds ---------------------------------------------------------------------


def test_every_subject_kind_is_registered() -> None:
    assert set(subject_kinds()) == set(SubjectKind)


@pytest.mark.parametrize("kind", list(SubjectKind), ids=[k.value for k in SubjectKind])
def test_sample_subject_covers_every_column(kind: SubjectKind) -> None:
    info = subject_kind(kind)
    sample = info.sample()
    for column in info.model.__table__.columns:
        assert getattr(sample, column.key) is not None, column.key
    assert sample.ref == f"{info.ref_prefix}{sample.id}"
    site = sample if kind is SubjectKind.SITE else sample.site
    assert (site.code, site.state, site.timezone) == ("FL-Tampa", "FL", "America/New_York")


def test_ref_prefixes_follow_the_models() -> None:
    assert Patient(id=7).ref == "P-7"
    assert subject_kind("patient").ref_prefix == "P-"
    assert subject_kind("disposal").ref_prefix == "W-"
    assert subject_kind("physician").ref_for(type("Row", (), {"id": 5, "ref": None})()) == "DR-5"
    assert "card_expires_on" in subject_kind("patient").date_fields
    assert "last_name" not in subject_kind("patient").cycle_fields


def test_sandbox_is_shared_strict_and_safe() -> None:
    from jinja2 import UndefinedError
    from jinja2.exceptions import SecurityError

    env = sandbox_environment()
    assert env is sandbox_environment()
    with pytest.raises(UndefinedError):
        env.from_string("{{ nope }}").render()
    with pytest.raises(SecurityError):
        env.from_string("{{ x.__class__ }}").render(x=1)
    assert env.from_string("{{ s.ref }}").render(s=subject_kind("patient").sample()) == "P-4821"


def test_load_sop_text_raises_with_every_issue() -> None:
    text = """id: Bad_Id
title: Bad
owner_team: compliance
triggers:
  - schedule: {cron: "0 0 30 2 *", timezone: America/Denvr}
subjects: {kind: patient, cycle: card_expires_on}
steps:
  - id: a
    title: A
    due: {from: run, offset: soon}
    priority: urgent
"""
    with pytest.raises(SopValidationError) as caught:
        load_sop_text(text, "bad.yaml")
    lines = [str(issue) for issue in caught.value.issues]
    assert lines == [
        'bad.yaml:1:5: id: expected a slug like "patient-renewal" (2-63 lowercase letters, '
        'digits and dashes, starting with a letter), got "Bad_Id"',
        'bad.yaml:5:22: triggers[0].schedule.cron: cron expression "0 0 30 2 *" never fires '
        "(no such date)",
        'bad.yaml:5:46: triggers[0].schedule.timezone: unknown time zone "America/Denvr" '
        '(expected an IANA name like America/Denver, or "site" for each subject\'s site zone); '
        'did you mean "America/Denver"?',
        'bad.yaml:10:30: steps[0].due.offset: expected a duration like -45d or 3bd, got "soon"',
        'bad.yaml:11:15: steps[0].priority: expected one of high, normal, low, got "urgent"',
    ]
    assert str(caught.value) == "\n".join(lines)
