"""Malformed SOPs: each problem is reported once, at its exact line and column, with
its key path and a message naming what was expected and what was found."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.sop_validation import (
    SopValidationError,
    check_paths,
    check_sop_text,
    format_issues,
    load_sop_text,
    validate_paths,
)

# Lines 1-8 of every case below (unless a case replaces part of it).
HEAD = """id: t-sop
title: Test
owner_team: compliance
triggers:
  - schedule: {cron: "0 7 * * 1-5"}
subjects:
  kind: patient
  cycle: card_expires_on
"""
# Lines 9-12: one valid step.
STEP = """steps:
  - id: a
    title: "A {{ subject.ref }}"
    due: {from: run}
"""
SCHEDULE = '  - schedule: {cron: "0 7 * * 1-5"}\n'
FILTER_AT = "  cycle:"


def with_filter(condition: str) -> str:
    return HEAD.replace(FILTER_AT, f"  filter:\n    - {condition}\n{FILTER_AT}") + STEP


def with_trigger(lines: str) -> str:
    return HEAD.replace(SCHEDULE, lines) + STEP


def one_step(*lines: str) -> str:
    return HEAD + "steps:\n  - id: a\n    title: A\n" + "".join(f"    {line}\n" for line in lines)


CASES: list[tuple[str, str, str]] = [
    # --- YAML itself
    (
        "yaml-syntax-error",
        HEAD + "steps: [\n",
        "10:1: (yaml): expected the node content, but found '<stream end>'",
    ),
    (
        "tab-indentation",
        HEAD + "steps:\n  - id: a\n\ttitle: x\n",
        "11:1: (yaml): found character '\\t' that cannot start any token "
        "(YAML indents with spaces; replace the tab)",
    ),
    (
        "duplicate-yaml-key",
        HEAD + STEP + "title: again\n",
        '13:1: (yaml): found duplicate key "title" with value "again"',
    ),
    (
        "document-not-a-mapping",
        "- a\n- b\n",
        "1:1: (root): the document is a list; expected a mapping of SOP keys",
    ),
    ("empty-file", "", "1:1: (root): the file is empty; expected a mapping of SOP keys"),
    (
        "impossible-date",
        with_filter("{field: card_expires_on, lte: 2026-02-30}"),
        "9:37: (yaml): invalid date 2026-02-30: day is out of range for month",
    ),
    # --- keys
    (
        "unknown-top-level-key",
        HEAD + STEP + "owner: x\n",
        '13:1: owner: unknown key "owner"; did you mean "owner_team"?',
    ),
    (
        "unknown-step-key",
        HEAD + STEP + "    assgin: {strategy: team_queue, team: compliance}\n",
        '13:5: steps[0].assgin: unknown key "assgin"; did you mean "assign"?',
    ),
    ("missing-id", HEAD.replace("id: t-sop\n", "") + STEP, '1:1: id: missing required key "id"'),
    (
        "missing-due",
        HEAD + "steps:\n  - id: a\n    title: A\n",
        '10:5: steps[0].due: missing required key "due"',
    ),
    (
        "bad-id-slug",
        HEAD.replace("id: t-sop", "id: Patient_Renewal") + STEP,
        '1:5: id: expected a slug like "patient-renewal" (2-63 lowercase letters, digits and '
        'dashes, starting with a letter), got "Patient_Renewal"',
    ),
    (
        "version-zero",
        HEAD.replace("title: Test\n", "title: Test\nversion: 0\n") + STEP,
        "3:10: version: expected a number >= 1, got 0",
    ),
    # --- steps and their graph
    (
        "empty-steps",
        HEAD + "steps: []\n",
        "9:8: steps: expected at least 1 item, got an empty list",
    ),
    (
        "duplicate-step-id",
        HEAD + STEP + "  - id: a\n    title: B\n    due: {from: run}\n",
        '13:9: steps[1].id: duplicate step id "a" (first used by steps[0])',
    ),
    (
        "after-unknown-step",
        HEAD + STEP + "    after: [remnd]\n",
        '13:13: steps[0].after[0]: unknown step "remnd" (steps: a)',
    ),
    (
        "dependency-cycle",
        HEAD
        + "steps:\n  - id: a\n    title: A\n    after: [b]\n    due: {from: run}\n"
        + "  - id: b\n    title: B\n    after: [a]\n    due: {from: run}\n",
        "16:12: steps[1].after: dependency cycle: a -> b -> a",
    ),
    (
        "step-waits-for-itself",
        HEAD + STEP + "    after: [a]\n",
        "13:12: steps[0].after: dependency cycle: a -> a",
    ),
    (
        "completion-without-after",
        one_step("due: {from: completion, offset: 3bd}"),
        '12:17: steps[0].due.from: "from: completion" needs `after`: step "a" waits for no step',
    ),
    (
        "starts-completion-without-after",
        one_step("due: {from: run}", "starts: {from: completion}"),
        '13:20: steps[0].starts.from: "from: completion" needs `after`',
    ),
    # --- durations and times
    (
        "bad-duration",
        one_step("due: {from: run, offset: soon}"),
        '12:30: steps[0].due.offset: expected a duration like -45d or 3bd, got "soon"',
    ),
    (
        "bad-by-state-duration",
        one_step("due:", "  from: run", "  by_state: {FL: -45d, OK: thirty}"),
        '14:32: steps[0].due.by_state.OK: expected a duration like -45d or 3bd, got "thirty"',
    ),
    (
        "bad-by-state-key",
        one_step("due:", "  from: run", "  by_state: {Florida: -45d}"),
        '14:18: steps[0].due.by_state.Florida: expected a two-letter state code like "FL", '
        'got "Florida"',
    ),
    (
        "bad-wall-time",
        one_step("due: {from: run, at: 25:00}"),
        '12:26: steps[0].due.at: expected a local wall time like "17:00"',
    ),
    (
        "due-from-unknown-field",
        one_step("due: {from: subject.card_expiry, offset: -45d}"),
        '12:17: steps[0].due.from: patient has no field "card_expiry"; did you mean '
        '"subject.card_expires_on"? (date fields: date_of_birth, card_expires_on, '
        "certification_expires_on, created_at)",
    ),
    (
        "due-from-non-date-field",
        one_step("due: {from: subject.status}"),
        "12:17: steps[0].due.from: subject.status is not a date field of patient",
    ),
    # --- triggers
    (
        "bad-cron",
        HEAD.replace('"0 7 * * 1-5"', '"0 25 * * *"') + STEP,
        '5:22: triggers[0].schedule.cron: invalid cron expression "0 25 * * *"',
    ),
    (
        "cron-never-fires",
        HEAD.replace('"0 7 * * 1-5"', '"0 0 30 2 *"') + STEP,
        '5:22: triggers[0].schedule.cron: cron expression "0 0 30 2 *" never fires (no such date)',
    ),
    (
        "cron-fires-once-in-four-years",
        HEAD.replace('"0 7 * * 1-5"', '"0 0 29 2 *"') + STEP,
        '5:22: triggers[0].schedule.cron: cron expression "0 0 29 2 *" does not fire in 2025',
    ),
    (
        "bad-timezone",
        with_trigger('  - schedule: {cron: "0 7 * * 1-5", timezone: Mars/Olympus}\n'),
        '5:47: triggers[0].schedule.timezone: unknown time zone "Mars/Olympus"',
    ),
    (
        "unknown-event",
        with_trigger("  - event: {name: patient.deleted}\n"),
        "5:19: triggers[0].event.name: expected one of disposal.logged, inspection.scheduled, "
        'document.expiring, patient.changed, physician.changed, got "patient.deleted"',
    ),
    (
        "event-of-another-kind",
        with_trigger("  - event: {name: disposal.logged}\n"),
        "5:19: triggers[0].event.name: event disposal.logged carries a disposal record, "
        "but subjects.kind is patient",
    ),
    (
        "two-trigger-kinds-in-one-item",
        with_trigger(SCHEDULE + "    event: {name: patient.changed}\n"),
        "5:5: triggers[0]: a trigger has exactly one of schedule, event, manual; "
        "got schedule, event",
    ),
    (
        "duplicate-manual-input-ids",
        with_trigger(
            "  - manual:\n      inputs:\n        - {id: days, type: integer}\n"
            "        - {id: days, type: string}\n"
        ),
        '8:16: triggers[0].manual.inputs[1].id: duplicate input id "days" '
        "(first used by inputs[0])",
    ),
    (
        "input-default-of-wrong-type",
        with_trigger(
            "  - manual:\n      inputs:\n        - {id: days, type: integer, default: soon}\n"
        ),
        "7:46: triggers[0].manual.inputs[0].default: default of an integer input must be "
        'a whole number, got "soon"',
    ),
    # --- subjects
    (
        "unknown-subject-kind",
        HEAD.replace("kind: patient", "kind: customer") + STEP,
        "7:9: subjects.kind: expected one of patient, caregiver, physician, practice, document, "
        'disposal, inspection, site, got "customer"',
    ),
    (
        "bad-cycle",
        HEAD.replace("cycle: card_expires_on", "cycle: weekly") + STEP,
        "8:10: subjects.cycle: cycle must be a date or text field of patient or a keyword; "
        'got "weekly"',
    ),
    (
        "filter-unknown-field",
        with_filter("{field: nmae, eq: x}"),
        '9:15: subjects.filter[0].field: patient has no field "nmae" (fields: id, site_id,',
    ),
    (
        "filter-two-operators",
        with_filter("{field: card_expires_on, lte: today+60d, gte: today}"),
        "9:7: subjects.filter[0]: use exactly one operator per condition, got 2: lte, gte",
    ),
    (
        "filter-no-operator",
        with_filter("{field: status}"),
        '9:7: subjects.filter[0]: condition on "status" has no operator',
    ),
    (
        "filter-in-not-a-list",
        with_filter("{field: status, in: active}"),
        '9:27: subjects.filter[0].in: expected a list like [active, lapsed], got "active"',
    ),
    (
        "filter-bad-relative-date",
        with_filter("{field: card_expires_on, lte: tomorrow}"),
        '9:37: subjects.filter[0].lte: "card_expires_on" is a date: expected a date like today, '
        'today+60d, today-2w or 2026-12-31, got "tomorrow"',
    ),
    (
        "filter-value-not-in-enum",
        with_filter("{field: status, eq: alive}"),
        '9:27: subjects.filter[0].eq: "status" takes one of active, lapsed, inactive, deceased, '
        'got "alive"',
    ),
    (
        "filter-order-on-boolean",
        with_filter("{field: consent_sms, lt: true}"),
        '9:32: subjects.filter[0].lt: lt does not apply to the true/false field "consent_sms"',
    ),
    # --- expressions and templates
    (
        "template-unknown-name",
        one_step("due: {from: run}").replace("title: A", 'title: "A {{ patient.ref }}"'),
        "11:18: steps[0].title: 'patient' is undefined (names: subject, site, today, run, inputs)",
    ),
    (
        "template-unknown-attribute",
        one_step("due: {from: run}").replace("title: A", 'title: "Renewal · {{ subject.nmae }}"'),
        '11:34: steps[0].title: subject (a patient) has no attribute "nmae"',
    ),
    (
        "template-broken-syntax",
        one_step("due: {from: run}").replace("title: A", 'title: "A {{ subject.ref "'),
        "11:13: steps[0].title: unexpected end of template, expected 'end of print statement'.",
    ),
    (
        "template-phi-in-title",
        one_step("due: {from: run}").replace("title: A", 'title: "Call {{ subject.last_name }}"'),
        "11:29: steps[0].title: titles reach calendar feeds and mail: use subject.ref, "
        "not subject.last_name (protected health information)",
    ),
    (
        "template-undeclared-input",
        one_step("due: {from: run}").replace("title: A", 'title: "A {{ inputs.days }}"'),
        "11:25: steps[0].title: 'days' is not a declared input (inputs: none)",
    ),
    (
        "template-error-on-second-line-of-block",
        one_step(
            "description: |",
            "  Line one {{ subject.ref }}",
            "  Line two {{ subject.card_expires }}",
            "due: {from: run}",
        ),
        '14:27: steps[0].description: subject (a patient) has no attribute "card_expires"; '
        'did you mean "card_expires_on"?',
    ),
    (
        "template-in-checklist",
        HEAD + STEP + '    checklist:\n      - ok\n      - {text: "Call {{ subject.phnoe }}"}\n',
        '15:33: steps[0].checklist[1].text: subject (a patient) has no attribute "phnoe"; '
        'did you mean "phone"?',
    ),
    (
        "checklist-line-not-text",
        HEAD + STEP + "    checklist: [1]\n",
        "13:17: steps[0].checklist[0]: expected a checklist line (a text, or {text, required}), "
        "got 1",
    ),
    (
        "bad-when-expression",
        one_step("when: \"subject.status == 'active' and\"", "due: {from: run}"),
        "12:12: steps[0].when: unexpected 'end of template'",
    ),
    (
        "when-hides-bad-attribute-behind-or",
        one_step('when: "subject.consent_email or subject.consent_smss"', "due: {from: run}"),
        '12:45: steps[0].when: subject (a patient) has no attribute "consent_smss"; '
        'did you mean "consent_sms"?',
    ),
    # --- assignment, evidence, approval, priority
    (
        "round-robin-without-team",
        HEAD + STEP + "    assign: {strategy: round_robin}\n",
        "13:13: steps[0].assign: strategy round_robin needs team: <team slug>",
    ),
    (
        "fixed-without-user",
        HEAD + STEP + "    assign: {strategy: fixed, team: compliance}\n",
        "13:13: steps[0].assign: strategy fixed needs user: <email>",
    ),
    (
        "bad-role",
        HEAD + STEP + "    assign: {strategy: role, role: boss}\n",
        '13:36: steps[0].assign.role: expected one of va, manager, admin, got "boss"',
    ),
    (
        "evidence-bad-kind",
        HEAD + STEP + "    evidence: {kind: photo}\n",
        '13:22: steps[0].evidence.kind: expected one of document, file, link, any, got "photo"',
    ),
    (
        "approval-bad-role",
        HEAD + STEP + "    approval: {role: supervisor}\n",
        '13:22: steps[0].approval.role: expected one of va, manager, admin, got "supervisor"',
    ),
    (
        "priority-bad-value",
        HEAD + STEP + "    priority: urgent\n",
        '13:15: steps[0].priority: expected one of high, normal, low, got "urgent"',
    ),
    # --- escalation
    (
        "ladder-bad-duration",
        HEAD + STEP + "escalation:\n  ladder:\n    - {after: later, notify: [managers]}\n",
        '15:15: escalation.ladder[0].after: expected a duration like -45d or 3bd, got "later"',
    ),
    (
        "ladder-out-of-order",
        HEAD
        + STEP
        + "escalation:\n  ladder:\n    - {after: 3bd, notify: [managers]}\n"
        + "    - {after: 1bd, notify: [admins]}\n",
        "16:15: escalation.ladder[1].after: ladder rungs must be ordered by `after`: "
        "1bd does not come after 3bd (ladder[0])",
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_sop_is_reported_precisely(text: str, expected: str) -> None:
    result = check_sop_text(text, "x.yaml")
    assert result.spec is None
    reported = [str(issue) for issue in result.issues]
    assert len(reported) == 1, "\n".join(reported)
    assert reported[0].startswith(f"x.yaml:{expected}"), reported[0]


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 35
    assert len({name for name, _, _ in CASES}) == len(CASES)


def test_the_base_of_the_cases_is_valid() -> None:
    assert check_sop_text(HEAD + STEP, "x.yaml").ok


def test_issue_string_format() -> None:
    with pytest.raises(SopValidationError) as caught:
        load_sop_text(one_step("due: {from: run, offset: soon}"), "sop_definitions/x.yaml")
    (issue,) = caught.value.issues
    assert (issue.source, issue.line, issue.col, issue.path) == (
        "sop_definitions/x.yaml",
        12,
        30,
        "steps[0].due.offset",
    )
    assert str(issue) == (
        "sop_definitions/x.yaml:12:30: steps[0].due.offset: expected a duration like -45d or 3bd, "
        'got "soon"'
    )
    assert format_issues([issue, issue]) == f"{issue}\n{issue}"


def test_every_error_of_a_file_is_collected_in_file_order() -> None:
    text = (
        HEAD.replace("id: t-sop", "id: X")
        + "steps:\n  - id: a\n    title: A\n    due: {from: run, offset: soon}\n"
        + "    priority: urgent\n    assign: {strategy: round_robin}\n"
    )
    lines = [f"{i.line}:{i.path}" for i in check_sop_text(text, "x.yaml").issues]
    assert lines == ["1:id", "12:steps[0].due.offset", "13:steps[0].priority", "14:steps[0].assign"]


# --- several files ------------------------------------------------------------------------


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_two_files_with_the_same_id(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", HEAD + STEP)
    _write(tmp_path, "b.yml", HEAD + STEP)
    issues = validate_paths([tmp_path])
    assert [str(i) for i in issues] == [
        f'{tmp_path / "b.yml"}:1:5: id: duplicate SOP id "t-sop" (also declared in '
        f"{tmp_path / 'a.yaml'})"
    ]


def test_a_broken_file_does_not_hide_the_good_ones(tmp_path: Path) -> None:
    _write(tmp_path, "1-good.yaml", HEAD + STEP)
    _write(tmp_path, "2-broken.yaml", HEAD.replace("id: t-sop", "id: broken") + "steps: [\n")
    _write(tmp_path, "3-good.yaml", HEAD.replace("id: t-sop", "id: other-sop") + STEP)
    _write(tmp_path, "notes.txt", "not an SOP")
    results = check_paths([tmp_path])
    assert [(Path(r.source).name, r.ok) for r in results] == [
        ("1-good.yaml", True),
        ("2-broken.yaml", False),
        ("3-good.yaml", True),
    ]
    issues = validate_paths([tmp_path])
    assert [Path(i.source).name for i in issues] == ["2-broken.yaml"]
    assert issues[0].path == "(yaml)"


def test_an_unreadable_path_is_an_issue(tmp_path: Path) -> None:
    (issue,) = validate_paths([tmp_path / "missing.yaml"])
    assert issue.path == "(file)" and issue.line == 1 and "cannot read" in issue.message
