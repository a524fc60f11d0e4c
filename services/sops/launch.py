"""Starting an SOP run by hand, and pausing or resuming its Prefect schedules.

With a Prefect API configured (`PREFECT_API_URL`, as `sopflow up` sets it) a
manual run is a run of the SOP's deployment (`run-sop/<slug>`, served by
`sopflow serve`); without one it runs here, in-process, like `sopflow run
--in-process`. Either way the start is recorded in the audit trail.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from models import Sop, SopRun, record
from services.engine.inputs import coerce_inputs
from services.engine.sweep import RunError, execute_run, start_run

log = logging.getLogger(__name__)


def prefect_api_url() -> str | None:
    """Return the configured Prefect API URL, or None (runs then happen in-process)."""
    return os.environ.get("PREFECT_API_URL") or None


def flow_run_url(flow_run_id: str | None) -> str | None:
    """Return a link to a Prefect flow run: the UI's page when PREFECT_UI_URL is set,
    else the API's record of it; None without a Prefect server or a run id."""
    if not flow_run_id:
        return None
    ui = os.environ.get("PREFECT_UI_URL")
    if ui:
        return f"{ui.rstrip('/')}/runs/flow-run/{flow_run_id}"
    api = prefect_api_url()
    return f"{api.rstrip('/')}/flow_runs/{flow_run_id}" if api else None


def deployment_name(slug: str) -> str:
    """Return the Prefect deployment serving SOP `slug` (see flows/serve.py)."""
    return f"run-sop/{slug}"


@dataclass
class Started:
    """A run started by hand: the in-process run, or the Prefect flow run's id."""

    run: SopRun | None = None
    flow_run_id: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str | None:
        return flow_run_url(self.flow_run_id)


def run_now(session: Session, sop: Sop, raw_inputs: dict[str, str]) -> Started:
    """Start a manual run of `sop` with its declared inputs (checked by type); return it.

    Raises InputError for a bad input and RunError for a disabled or unloadable SOP.
    Commits (an in-process run commits batch by batch).
    """
    if not sop.enabled:
        raise RunError(f"{sop.title} is disabled: enable it before running it")
    values = coerce_inputs(session, sop.slug, raw_inputs)
    if prefect_api_url():
        from prefect.deployments import run_deployment

        try:
            # timeout=0: returns as soon as the run is scheduled; the worker runs it.
            flow_run = run_deployment(
                deployment_name(sop.slug),
                parameters={"sop_id": sop.slug, "trigger": "manual", "inputs": values},
                timeout=0,
                as_subflow=False,
                _sync=True,  # never an un-awaited coroutine, whatever loop runs here
            )
        except Exception as exc:  # no such deployment (`sopflow serve` not running), server down
            raise RunError(
                f"Prefect could not start {deployment_name(sop.slug)} ({type(exc).__name__}); "
                "is `sopflow serve` running?"
            ) from exc
        started = Started(flow_run_id=str(flow_run.id), inputs=values)
        _record(session, sop, started, "prefect")
        session.commit()
        return started
    run = start_run(session, sop.slug, "manual", inputs=values)
    started = Started(run=run, inputs=values)
    _record(session, sop, started, "in-process")
    session.commit()
    execute_run(session, run)
    return started


def _record(session: Session, sop: Sop, started: Started, via: str) -> None:
    after = {
        "via": via,
        "inputs": started.inputs,
        "run_id": started.run.id if started.run else None,
        "flow_run_id": started.flow_run_id,
    }
    record(session, "run_started", "sop", sop.id, after=after)


def pause_schedules(slug: str, paused: bool) -> str | None:
    """Pause or resume the SOP's deployment schedules on the Prefect server.

    Returns None when done or when no Prefect API is configured (then `sopflow
    serve` drops or adds the schedules at its next reload), else a message saying
    what went wrong: the database's `enabled` stays authoritative.
    """
    if not prefect_api_url():
        return None
    try:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name(deployment_name(slug))
            if paused:
                client.pause_deployment(deployment.id)
            else:
                client.resume_deployment(deployment.id)
    except Exception as exc:  # the server may be down or not serve this SOP yet
        action = "pause" if paused else "resume"
        log.warning("could not %s the Prefect schedules of %s: %s", action, slug, exc)
        return (
            f"Prefect was not updated ({type(exc).__name__}); the scheduler applies the change "
            "at its next reload"
        )
    return None
