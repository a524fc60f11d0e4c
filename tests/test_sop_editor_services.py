"""The SOP editor's services: checks, preview against live data, save, conflicts,
restore, apply to open tasks, diff, the SOP list, run now (both backends)."""

from __future__ import annotations

import threading
import time
import types
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import (
    AuditEvent,
    Sop,
    SopRun,
    SopVersion,
    SopVersionSource,
    Task,
    TaskEvent,
    TaskStatus,
)
from services.engine.inputs import InputError
from services.engine.sweep import RunError
from services.sops.editing import EditError, InvalidEdit, SaveConflict, restore_version, save_edit
from services.sops.history import side_by_side
from services.sops.impact import preview_edit
from services.sops.launch import run_now
from services.sops.lint import MAX_SOP_CHARS, check_edit
from services.sops.overview import sop_overview
from tests.support.sop_editing import RENEWAL_TEXT, renewal_with_fl, renewal_world


def _messages(text: str) -> list[str]:
    return [f"{i.line}:{i.path}: {i.message}" for i in check_edit(text, "patient-renewal").issues]


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        (("offset: -21d", "offset: -21dd"), "expected a duration like -45d"),
        (
            ("owner_team: patient-services", "owner_team: patient-services\nowner: x"),
            'unknown key "owner"',
        ),
        (
            (
                "when: \"subject.contact_preference != 'none'\"",
                'when: "subject.contact_preference !="',
            ),
            "steps[0].when: unexpected 'end of template'",
        ),
        (("after: [remind]", "after: [confirm]"), "dependency cycle"),
        (('cron: "0 7 * * 1-5"', 'cron: "0 7 30 2 *"'), "never fires"),
        (("offset: -3bd", "offset: -70d"), "every due date of step confirm would be in the past"),
        (("id: patient-renewal", "id: patient-renewals"), "an SOP keeps its id"),
        (("steps:\n", "steps:\n  - id: [\n"), "(yaml)"),
    ],
)
def test_bad_input_is_caught_with_a_located_message(broken, expected):
    old, new = broken
    assert old in RENEWAL_TEXT
    messages = _messages(RENEWAL_TEXT.replace(old, new, 1))
    assert messages, "expected an issue"
    assert any(expected in m for m in messages), messages


def test_the_shipped_sop_passes_and_a_huge_paste_is_refused():
    assert check_edit(RENEWAL_TEXT, "patient-renewal").ok
    (issue,) = check_edit("x" * (MAX_SOP_CHARS + 1), "patient-renewal").issues
    assert "at most 262,144" in issue.message and "Nothing was checked or saved" in issue.message


def test_preview_counts_redated_tasks_and_writes_nothing(session):
    w = renewal_world(session)
    before = {t.id: t.due_on for t in session.scalars(select(Task))}
    impact = preview_edit(session, w.sop, renewal_with_fl("-60d"), now=w.now)
    remind = impact.per_step["remind"]
    assert (remind.redate, remind.unchanged, remind.create, remind.cancel) == (3, 2, 0, 0)
    assert impact.open_tasks == 5
    sample = impact.sample("redate")
    assert len(sample) == 3
    assert all((c.after["due_on"] - c.before["due_on"]).days == -15 for c in sample)
    assert impact.warning and "re-date or cancel 3 of 5" in impact.warning
    # Nothing was written: same tasks, same dates, one version.
    session.expire_all()
    assert {t.id: t.due_on for t in session.scalars(select(Task))} == before
    assert session.scalar(select(func.count()).select_from(SopVersion)) == 1
    assert session.scalar(select(func.count()).select_from(SopRun)) == 1


def test_preview_shows_what_the_next_run_creates_and_removed_steps_cancel(session):
    w = renewal_world(session)
    new_step = (
        '  - id: welcome\n    title: "Welcome call · {{ subject.ref }}"\n'
        "    due: {from: run, offset: 2d}\n"
    )
    text = RENEWAL_TEXT.replace("steps:\n", "steps:\n" + new_step, 1)
    impact = preview_edit(session, w.sop, text, now=w.now)
    assert impact.per_step["welcome"].create == 5
    assert impact.created_sample[0]["step"] == "welcome"
    # Removing the reminder step: its open tasks would be cancelled on "apply".
    without_remind = RENEWAL_TEXT.replace("    after: [remind]\n", "", 1)
    start = without_remind.index("  - id: remind")
    end = without_remind.index("  - id: package")
    impact = preview_edit(session, w.sop, without_remind[:start] + without_remind[end:], now=w.now)
    assert impact.per_step["remind"].cancel == 5
    assert impact.run_error is None


def test_preview_reports_a_run_that_would_fail(session):
    w = renewal_world(session)
    text = RENEWAL_TEXT.replace(
        "assign: {strategy: round_robin, team: patient-services}",
        "assign: {strategy: round_robin, team: no-such-team}",
        1,
    )
    impact = preview_edit(session, w.sop, text, now=w.now)
    assert impact.run_error and "no-such-team" in impact.run_error


def test_save_appends_a_version_and_apply_redates_open_tasks(session):
    w = renewal_world(session)
    manager = w.world.manager
    with pytest.raises(EditError, match="change note is required"):
        save_edit(session, w.sop, renewal_with_fl("-60d"), 1, manager.id, "  ")
    saved = save_edit(
        session,
        w.sop,
        renewal_with_fl("-60d").replace("\n", "\r\n"),  # as a browser's textarea sends it
        base=1,
        author_id=manager.id,
        note="FL: remind 60 days ahead",
        apply_to_open=True,
        now=w.now,
    )
    session.commit()
    assert saved.version.number == 2 and saved.version.source is SopVersionSource.BROWSER
    assert "\r" not in saved.version.yaml_text
    assert saved.applied and saved.applied.counts["redate"] == 3 and saved.applied.moved == 5
    fl_ids = {p.id for p in w.fl}
    tasks = session.scalars(select(Task)).all()
    for task in tasks:
        assert task.sop_version_id == saved.version.id
        if task.subject_id in fl_ids:
            assert task.due_on == w.fl[0].card_expires_on - timedelta(days=60)
            assert task.revision == 1
    updates = session.scalars(
        select(AuditEvent).where(AuditEvent.entity_type == "task", AuditEvent.action == "update")
    ).all()
    assert {e.entity_id for e in updates if "due_on" in (e.after or {})} == {
        str(t.id) for t in tasks if t.subject_id in fl_ids
    }
    events = session.scalars(select(TaskEvent).where(TaskEvent.kind == "sop_changed")).all()
    assert len(events) == 3 and "version 2" in events[0].message


def test_save_without_apply_leaves_open_tasks_on_their_version(session):
    w = renewal_world(session)
    save_edit(session, w.sop, renewal_with_fl("-60d"), 1, w.world.manager.id, "note")
    session.commit()
    assert {t.sop_version.number for t in session.scalars(select(Task))} == {1}


def test_a_save_from_a_stale_base_is_refused_and_nothing_is_lost(session):
    w = renewal_world(session)
    first = save_edit(session, w.sop, renewal_with_fl("-60d"), 1, w.world.manager.id, "A: 60 days")
    session.commit()
    mine = renewal_with_fl("-50d")
    with pytest.raises(SaveConflict) as conflict:
        save_edit(session, w.sop, mine, 1, w.world.admin.id, "B: 50 days")
    session.rollback()
    assert conflict.value.latest.number == first.version.number == 2
    assert "version 2 was saved" in str(conflict.value)
    # The other manager's text is what the diff shows against mine.
    diff = side_by_side(conflict.value.latest.yaml_text, mine)
    assert (diff.added, diff.removed) == (1, 1)
    assert session.scalar(select(func.count()).select_from(SopVersion)) == 2
    # Told, they save over it knowingly: a third version; the second is still there.
    third = save_edit(session, w.sop, mine, 2, w.world.admin.id, "B: 50 days after all")
    session.commit()
    assert third.version.number == 3


def test_invalid_text_is_not_saved(session):
    w = renewal_world(session)
    with pytest.raises(InvalidEdit) as invalid:
        save_edit(session, w.sop, renewal_with_fl("-60dd"), 1, w.world.manager.id, "typo")
    assert invalid.value.issues[0].path == "steps[0].due.by_state.FL"
    with pytest.raises(EditError, match="same as version 1"):
        save_edit(session, w.sop, RENEWAL_TEXT, 1, w.world.manager.id, "no change")


def test_restore_appends_a_copy_of_an_old_version(session):
    w = renewal_world(session)
    save_edit(session, w.sop, renewal_with_fl("-60d"), 1, w.world.manager.id, "60 days")
    session.commit()
    restored = restore_version(session, w.sop, 1, base=2, author_id=w.world.manager.id)
    session.commit()
    assert restored.number == 3 and restored.source is SopVersionSource.RESTORE
    assert restored.yaml_text == RENEWAL_TEXT and restored.note == "Restored version 1"
    assert [v.number for v in session.scalars(select(SopVersion))] == [1, 2, 3]


def test_side_by_side_diff_folds_unchanged_lines():
    diff = side_by_side(RENEWAL_TEXT, renewal_with_fl("-60d"))
    kinds = [row.kind for row in diff.rows]
    assert kinds[0] == "skip" and kinds[-1] == "skip" and kinds.count("replace") == 1
    (changed,) = [row for row in diff.rows if row.kind == "replace"]
    assert (
        "-45d" in changed.left and "-60d" in changed.right and changed.left_no == changed.right_no
    )
    assert side_by_side("a\n", "a\n").same


def test_the_sop_list_shows_versions_triggers_next_runs_work_and_broken_files(session):
    w = renewal_world(session)
    from models import Sop

    broken = Sop(slug="broken", title="broken.yaml", load_error="broken.yaml:3:1: (yaml): bad")
    session.add(broken)
    session.commit()
    rows = {row.sop.slug: row for row in sop_overview(session, now=w.now)}
    renewal = rows["patient-renewal"]
    assert renewal.version.number == 1 and renewal.spec.owner_team == "patient-services"
    assert renewal.triggers[0] == "schedule 0 7 * * 1-5 (site zone)"
    zones = {run.zone for run in renewal.next_runs}
    assert zones == {"America/New_York", "America/Chicago"}
    assert all(run.at.hour == 7 and run.at.weekday() < 5 for run in renewal.next_runs)
    assert renewal.open_tasks == 5 and renewal.last_run.created_count == 5
    assert rows["broken"].problem == "broken.yaml:3:1: (yaml): bad"


def test_run_now_checks_input_types_and_records_the_start(session, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    w = renewal_world(session)
    with pytest.raises(InputError, match="unknown input"):
        run_now(session, w.sop, {"horizon": "x"})
    started = run_now(session, w.sop, {"note": "audit in March"})
    assert started.run is not None and started.run.trigger == "manual"
    assert started.run.trigger_detail["inputs"] == {"note": "audit in March"}
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "run_started"))
    assert event.after["run_id"] == started.run.id and event.after["via"] == "in-process"
    w.sop.enabled = False
    session.commit()
    with pytest.raises(RunError, match="disabled"):
        run_now(session, w.sop, {})


def test_open_tasks_of_a_cancelled_step_are_cancelled_on_apply(session):
    w = renewal_world(session)
    text = RENEWAL_TEXT.replace("    after: [remind]\n", "", 1)
    start, end = text.index("  - id: remind"), text.index("  - id: package")
    saved = save_edit(
        session, w.sop, text[:start] + text[end:], 1, w.world.manager.id, "drop", True, w.now
    )
    session.commit()
    assert saved.applied.counts["cancel"] == 5
    statuses = {t.status for t in session.scalars(select(Task))}
    assert statuses == {TaskStatus.CANCELLED}


def test_two_saves_at_the_same_instant_one_wins_the_other_is_told(session, engine):
    """The base check and the insert race: a row lock (PostgreSQL) or the write lock and
    the unique version number (SQLite) make the second save a conflict, not a loss."""
    w = renewal_world(session)
    first, second = Session(engine), Session(engine)
    outcome: dict[str, str] = {}

    def other_manager() -> None:
        try:
            save_edit(second, second.get(Sop, w.sop.id), renewal_with_fl("-50d"), 1, None, "B")
            second.commit()
            outcome["second"] = "saved"
        except SaveConflict as conflict:
            second.rollback()
            outcome["second"] = f"conflict with v{conflict.latest.number}"

    try:
        save_edit(first, first.get(Sop, w.sop.id), renewal_with_fl("-60d"), 1, None, "A")
        thread = threading.Thread(target=other_manager)
        thread.start()
        time.sleep(0.5)  # the other save is now waiting on the first one's lock
        first.commit()
        thread.join(timeout=30)
    finally:
        first.close()
        second.close()
    assert outcome == {"second": "conflict with v2"}
    session.expire_all()
    notes = session.scalars(select(SopVersion.note).order_by(SopVersion.number)).all()
    assert notes == [None, "A"]


def test_run_now_with_a_prefect_api_starts_the_deployment(session, monkeypatch):
    """With PREFECT_API_URL set the run is the SOP's deployment's (flows/serve.py), started
    with the typed inputs and linked by its flow-run id."""
    import prefect.deployments

    w = renewal_world(session)
    calls = []

    def fake_run_deployment(name, **kwargs):
        calls.append((name, kwargs))
        return types.SimpleNamespace(id="0b6e1d1c-0000-4000-8000-000000000001")

    monkeypatch.setattr(prefect.deployments, "run_deployment", fake_run_deployment)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    monkeypatch.delenv("PREFECT_UI_URL", raising=False)
    started = run_now(session, w.sop, {"note": "x"})
    ((name, kwargs),) = calls
    assert name == "run-sop/patient-renewal" and kwargs["timeout"] == 0
    assert kwargs["parameters"] == {
        "sop_id": "patient-renewal",
        "trigger": "manual",
        "inputs": {"note": "x"},
    }
    assert started.url == (
        "http://127.0.0.1:4200/api/flow_runs/0b6e1d1c-0000-4000-8000-000000000001"
    )
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "run_started"))
    assert event.after["flow_run_id"] == started.flow_run_id and event.after["via"] == "prefect"


def test_disabling_pauses_the_deployment_schedules(session, monkeypatch):
    import prefect.client.orchestration as orchestration

    from services.sops.editing import set_enabled
    from services.sops.launch import pause_schedules

    w = renewal_world(session)
    seen = []

    class FakeClient:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read_deployment_by_name(self, name):
            seen.append(("read", name))
            return types.SimpleNamespace(id="dep-1")

        def pause_deployment(self, deployment_id):
            seen.append(("pause", deployment_id))

        def resume_deployment(self, deployment_id):
            seen.append(("resume", deployment_id))

    monkeypatch.setattr(orchestration, "get_client", lambda sync_client: FakeClient())
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert pause_schedules("patient-renewal", True) is None and seen == []  # no server: no call
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert set_enabled(session, w.sop, False) and not set_enabled(session, w.sop, False)
    assert pause_schedules("patient-renewal", True) is None
    assert pause_schedules("patient-renewal", False) is None
    assert seen == [
        ("read", "run-sop/patient-renewal"),
        ("pause", "dep-1"),
        ("read", "run-sop/patient-renewal"),
        ("resume", "dep-1"),
    ]
    monkeypatch.setattr(orchestration, "get_client", lambda sync_client: 1 / 0)
    assert "Prefect was not updated (ZeroDivisionError)" in pause_schedules("x", True)
