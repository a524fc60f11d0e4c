"""Dry runs: what a run would create and cancel, computed for real and rolled back."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from models import Task, TaskStatus
from services.engine.sweep import execute_run, start_run


@dataclass
class Preview:
    """What a run of the SOP would do now (nothing was written)."""

    sop: str
    version: int
    created: int = 0
    unchanged: int = 0
    skipped: int = 0
    cancelled: int = 0
    failed: int = 0
    per_step: dict[str, int] = field(default_factory=dict)
    sample: list[dict[str, Any]] = field(default_factory=list)
    cancelled_sample: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)

    def render(self) -> str:
        """Return the preview as text for the terminal (refs only, no names)."""
        lines = [
            f"dry run of {self.sop} v{self.version}: would create {self.created}, leave "
            f"{self.unchanged} unchanged, skip {self.skipped}, cancel {self.cancelled}, "
            f"fail {self.failed} (nothing was written)",
        ]
        lines += [f"  step {step}: {count} new" for step, count in sorted(self.per_step.items())]
        lines += [
            f"  + {r['step']} {r['subject']} due {r['due_on']} → {r['assignee']}"
            for r in self.sample
        ]
        lines += [f"  - {r['step']} {r['subject']}: {r['reason']}" for r in self.cancelled_sample]
        lines += [f"  ! {f['subject']}: {f['error']}" for f in self.failures]
        return "\n".join(lines)


def dry_run(
    session: Session,
    sop_slug: str,
    inputs: dict[str, Any] | None = None,
    now: datetime | None = None,
    sample_size: int = 10,
) -> Preview:
    """Run the SOP inside a transaction, read what it did, roll it all back."""
    try:
        run = start_run(session, sop_slug, "manual", now=now, inputs=inputs)
        execute_run(session, run, commit=False)
        preview = Preview(
            sop=sop_slug,
            version=run.version.number,
            created=run.created_count,
            unchanged=run.unchanged_count,
            skipped=run.skipped_count,
            cancelled=run.cancelled_count,
            failed=run.failed_count,
            failures=list(run.failures or [])[:sample_size],
        )
        created = session.scalars(
            select(Task)
            .where(Task.run_id == run.id, Task.status != TaskStatus.SKIPPED)
            .options(joinedload(Task.assignee), joinedload(Task.team))
            .order_by(Task.due_at, Task.id)
        ).all()
        preview.per_step = dict(Counter(t.step_id for t in created))
        preview.sample = [
            {
                "step": t.step_id,
                "subject": t.subject_ref,
                "due_on": t.due_on.isoformat(),
                "assignee": t.assignee.email
                if t.assignee
                else f"{t.team.slug if t.team else '?'} queue",
            }
            for t in created[:sample_size]
        ]
        cancelled = session.scalars(
            select(Task).where(
                Task.sop_id == run.sop_id,
                Task.status == TaskStatus.CANCELLED,
                Task.updated_at >= run.started_at,
            )
        ).all()
        preview.cancelled_sample = [
            {"step": t.step_id, "subject": t.subject_ref, "reason": t.cancel_reason}
            for t in cancelled[:sample_size]
        ]
        return preview
    finally:
        session.rollback()
