"""The shipped SOPs run on the demo data: tasks for every family, no failures, idempotent."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from models import InspectionKind, Task, TaskStatus, utcnow
from services.demo import seed_demo
from services.engine.subjects import fetch_one
from services.engine.sweep import execute_run, start_run
from services.inspections import schedule_inspection
from services.sops.registry import latest_version, prepared_for, sync_directory

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 11, 2)
NOW = datetime(2026, 11, 2, 13, 0, tzinfo=UTC)
# Kinds whose demo data always has due subjects on TODAY.
EXPECT_TASKS = {
    "patient-renewal",
    "certification-renewal",
    "physician-outreach",
    "document-expiry",
    "inspection-prep",
    "disposal-logging",
    "site-self-audit",
}


def run(session, slug, now=NOW):
    sop_run = start_run(session, slug, "schedule", now=now)
    session.commit()
    return execute_run(session, sop_run)


def test_every_shipped_sop_runs_on_the_demo_data(session):
    seed_demo(session, today=TODAY)
    session.commit()
    report = sync_directory(session, ROOT / "sop_definitions")
    session.commit()
    assert report.errors == [] and report.conflicts == []
    slugs = sorted(s.split(" ")[0] for s in report.created)
    assert set(slugs) >= EXPECT_TASKS

    for slug in slugs:
        first = run(session, slug)
        assert first.failed_count == 0, (slug, first.failures)
        if slug in EXPECT_TASKS:
            assert first.created_count > 0, slug
        again = run(session, slug)
        assert (again.created_count, again.failed_count) == (0, 0), slug

    steps = Counter(session.scalars(select(Task.step_id).where(Task.status == TaskStatus.OPEN)))
    assert steps["remind"] > 0
    # No title carries a patient's name (titles reach calendars and mail).
    names = session.execute(
        select(func.count())
        .select_from(Task)
        .where(Task.title.contains("Patient"), Task.subject_type == "patient")
    ).scalar_one()
    assert names == 0
    # Assignees are active members; queue tasks have a team.
    unplaced = session.scalar(
        select(func.count())
        .select_from(Task)
        .where(Task.team_id.is_(None), Task.status == TaskStatus.OPEN)
    )
    assert unplaced == 0


def test_scheduling_an_inspection_prepares_every_category(session):
    from flows.dispatch import install
    from services.events import set_listener

    # The event's run happens now, on the real clock (as in production): the inspection
    # must be ahead of the real today, not of the other tests' fixed one.
    today = utcnow().date()
    seed_demo(session, today=today)
    sync_directory(session, ROOT / "sop_definitions")
    session.commit()
    install()
    try:
        inspection = schedule_inspection(
            session,
            1,
            "State Office of Medical Marijuana Use",
            today + timedelta(days=20),
            InspectionKind.ANNOUNCED,
            today=today,
        )
        session.commit()
    finally:
        set_listener(lambda event, engine: None)
    tasks = session.scalars(
        select(Task).where(Task.subject_type == "inspection", Task.subject_id == inspection.id)
    ).all()
    assert len(tasks) == 7  # one per regulatory category
    assert all(t.due_on < inspection.scheduled_on for t in tasks)


def test_templates_read_relationships_loaded_per_batch(session):
    seed_demo(session, today=TODAY)
    sync_directory(session, ROOT / "sop_definitions")
    session.commit()
    run(session, "patient-renewal")
    with_caregiver = session.scalar(
        select(Task).where(Task.step_id == "remind", Task.description.contains("Linked caregivers"))
    )
    assert with_caregiver is not None
    sop_version = with_caregiver.sop_version
    subject = fetch_one(session, prepared_for(sop_version).spec, with_caregiver.subject_id)
    count = len(subject.view.caregivers)
    assert f"Linked caregivers: {count}." in with_caregiver.description
    assert latest_version(session, with_caregiver.sop_id).id == sop_version.id
