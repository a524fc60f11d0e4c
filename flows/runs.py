"""The generic `run-sop` flow: start a run, sweep its subjects in coarse batches, finish.

Each batch is one Prefect task (thousands of subjects, one transaction) with
retries on transient database errors: never one Prefect task per created item.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.runtime import flow_run
from sqlalchemy.exc import DBAPIError, OperationalError

from models import SopRun
from services.engine.sweep import add_batch, finish_run, process_batch, start_run
from sopflow.database import open_session


def is_transient(task_: Any, task_run: Any, state: Any) -> bool:
    """Retry a batch only for errors a retry can cure: a dropped connection, a
    deadlock or serialization failure, a locked SQLite file."""
    exc = state.data if isinstance(state.data, BaseException) else None
    if isinstance(exc, OperationalError):
        return True
    if isinstance(exc, DBAPIError):
        code = getattr(exc.orig, "sqlstate", None) or ""
        return exc.connection_invalidated or code in ("40001", "40P01")
    return False


@task(
    name="sweep-batch", retries=3, retry_delay_seconds=[1, 5, 20], retry_condition_fn=is_transient
)
def sweep_batch(run_id: int, after_id: int, limit: int | None) -> int | None:
    """Process the subjects after `after_id`; commit; return the last id (None: done)."""
    with open_session() as session:
        run = session.get(SopRun, run_id)
        batch = process_batch(session, run, after_id, limit)
        if batch.last_id is not None:
            add_batch(run, batch)
        session.commit()
        return batch.last_id


def _run_name() -> str:
    params = flow_run.parameters
    extra = f" · subject {params['subject_id']}" if params.get("subject_id") else ""
    return f"{params['sop_id']} · {params.get('trigger', 'manual')}{extra}"


@flow(name="run-sop", flow_run_name=_run_name, log_prints=False)
def run_sop(
    sop_id: str,
    trigger: str = "manual",
    inputs: dict[str, Any] | None = None,
    subject_id: int | None = None,
    timezone: str | None = None,
    batch_size: int | None = None,
) -> dict[str, Any]:
    """Run the newest version of SOP `sop_id`; return the run's counts."""
    logger = get_run_logger()
    with open_session() as session:
        run = start_run(
            session,
            sop_id,
            trigger,
            inputs=inputs,
            subject_id=subject_id,
            timezone=timezone,
            flow_run_id=str(flow_run.id) if flow_run.id else None,
        )
        session.commit()
        run_id = run.id
    after_id: int | None = 0
    try:
        while after_id is not None:
            after_id = sweep_batch(run_id, after_id, batch_size)
    except Exception as exc:
        with open_session() as session:
            finish_run(
                session, session.get(SopRun, run_id), error=f"{type(exc).__name__}: {exc}"[:300]
            )
            session.commit()
        raise
    with open_session() as session:
        run = finish_run(session, session.get(SopRun, run_id))
        session.commit()
        counts = {
            "run_id": run.id,
            "created": run.created_count,
            "unchanged": run.unchanged_count,
            "skipped": run.skipped_count,
            "cancelled": run.cancelled_count,
            "failed": run.failed_count,
        }
    # Ids and counts only: never a subject's name in a log.
    logger.info("SOP %s run %s: %s", sop_id, run_id, counts)
    return counts
