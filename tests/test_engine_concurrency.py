"""Two runs at once create nothing twice; a killed run, rerun, ends with exactly the right tasks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from models import DisposalRecord, RunStatus, SopRun, Task
from services.engine.sweep import execute_run, start_run
from tests.support.world import RENEWAL, TODAY, add_patient, build_world, load_sop

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@pytest.mark.postgres_only  # SQLite serialises writers: the race needs PostgreSQL
def test_two_concurrent_runs_create_each_task_once(session, engine):
    world = build_world(session)
    for i in range(300):
        add_patient(session, world.fl, i, card_expires_on=TODAY + timedelta(days=20 + i % 30))
    load_sop(session, RENEWAL)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def one_run() -> None:
        try:
            with Session(engine) as own:
                run = start_run(own, "test-renewal", "schedule", now=NOW)
                own.commit()
                barrier.wait()
                execute_run(own, run, batch_size=50)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert session.scalar(select(func.count()).select_from(Task)) == 300
    runs = session.scalars(select(SopRun)).all()
    assert sum(r.created_count for r in runs) == 300
    assert sum(r.created_count + r.unchanged_count for r in runs) == 600


@pytest.mark.postgres_only  # a writer waiting on another's uncommitted key
def test_a_run_that_meets_a_concurrent_writers_keys_skips_them(session, engine):
    # The set-based sweep inserts without a conflict arbiter first; a key that another
    # transaction wrote after the sweep planned must make it skip, not fail.
    world = build_world(session)
    for i in range(20):
        add_patient(session, world.fl, i, card_expires_on=TODAY + timedelta(days=20 + i))
    load_sop(session, RENEWAL)
    session.commit()
    with Session(engine) as other:
        first = start_run(other, "test-renewal", "schedule", now=NOW)
        execute_run(other, first, commit=False)  # 20 tasks, not committed yet
        assert first.created_count == 20
        outcome: dict[str, object] = {}

        def second_run() -> None:
            try:
                with Session(engine) as own:
                    run = start_run(own, "test-renewal", "schedule", now=NOW)
                    own.commit()
                    execute_run(own, run)
                    outcome["counts"] = (run.created_count, run.unchanged_count, run.status)
            except BaseException as exc:  # reported below
                outcome["error"] = exc

        thread = threading.Thread(target=second_run)
        thread.start()
        deadline = time.monotonic() + 60
        waiting = 0
        while not waiting and time.monotonic() < deadline and thread.is_alive():
            waiting = session.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
            session.rollback()
            time.sleep(0.02)
        assert waiting, "the second run should wait on the first one's keys"
        other.commit()
    thread.join(timeout=60)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["counts"] == (0, 20, RunStatus.COMPLETED)
    assert session.scalar(select(func.count()).select_from(Task)) == 20


def test_a_killed_run_rerun_ends_with_exactly_the_tasks(session, database_url, tmp_path):
    world = build_world(session)
    for i in range(3000):
        add_patient(session, world.fl, i, card_expires_on=TODAY + timedelta(days=10 + i % 40))
    session.commit()
    load_sop(session, RENEWAL)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SOPFLOW_INSTANCE": str(tmp_path),
        "SOPFLOW_SLOW_BATCH_SECONDS": "0.5",
    }
    command = [
        sys.executable,
        "-m",
        "sopflow.cli",
        "run",
        "test-renewal",
        "--in-process",
        "--batch-size",
        "300",
    ]
    child = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        partial = session.scalar(select(func.count()).select_from(Task))
        session.rollback()
        if partial:
            break
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    partial = session.scalar(select(func.count()).select_from(Task))
    session.rollback()
    assert 0 < partial < 3000, "the run should have been killed midway"

    rerun = subprocess.run(
        command,
        env={**env, "SOPFLOW_SLOW_BATCH_SECONDS": "0"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert session.scalar(select(func.count()).select_from(Task)) == 3000
    keys = session.scalar(select(func.count(func.distinct(Task.subject_id))).select_from(Task))
    assert keys == 3000
    assert f"{3000 - partial} created, {partial} unchanged" in rerun.stdout


def test_logging_waste_starts_the_disposal_sop_for_that_record(session, engine):
    from flows.dispatch import install
    from services.disposal import WasteEntry, log_disposal
    from services.events import set_listener
    from tests.support.world import load_sop as load

    world = build_world(session)
    load(session, (ROOT / "sop_definitions" / "disposal-logging.yaml").read_text())
    install()
    try:
        entry = WasteEntry(
            site_id=world.fl.id,
            source_type="package",
            tag="1A4060300002EE1000012345",
            weight="120.5",
            unit="g",
            reason="damage",
            method="grind_and_mix",
            witness1_id=world.vas[1].id,
            witness2_id=world.vas[2].id,
            mixed_material="cat litter",
            mixed_weight="130",
        )
        record = log_disposal(session, entry, world.vas[0])
        session.commit()
    finally:
        set_listener(lambda event, engine: None)
    created = session.scalars(select(Task).where(Task.subject_id == record.id)).all()
    assert [t.subject_type.value for t in created] == ["disposal"]
    assert created[0].subject_ref == f"W-{record.id}"
    assert session.get(DisposalRecord, record.id).tag == "1A4060300002EE1000012345"
