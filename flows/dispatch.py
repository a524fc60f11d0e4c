"""Events start SOP runs: through the Prefect deployment when a Prefect API is
configured (`sopflow serve` is serving them), else in-process for the subject."""

from __future__ import annotations

import logging
import os

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from services.engine.listening import run_for_subject, sops_listening
from services.events import DomainEvent, set_listener

log = logging.getLogger(__name__)


def prefect_api_configured() -> bool:
    """Return True when a Prefect server is configured (PREFECT_API_URL)."""
    return bool(os.environ.get("PREFECT_API_URL"))


def start_runs_for(event: DomainEvent, engine: Engine) -> list[str]:
    """Start a run of every SOP listening to `event`; return their slugs."""
    with Session(engine) as session:
        slugs = sops_listening(session, event.name)
    for slug in slugs:
        if not (prefect_api_configured() and _start_deployment(slug, event)):
            run_for_subject(engine, slug, "event", event.subject_id)
        log.info("event %s for subject %s started %s", event.name, event.subject_id, slug)
    return slugs


def _start_deployment(slug: str, event: DomainEvent) -> bool:
    """Start the SOP's served deployment for the event's subject; return False when the
    deployment is not registered (no `sopflow serve` yet), so the caller runs it here
    rather than losing the event."""
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    try:
        # timeout=0: returns once the run is scheduled (~60 ms), never waits for it.
        run_deployment(
            f"run-sop/{slug}",
            parameters={"sop_id": slug, "trigger": "event", "subject_id": event.subject_id},
            timeout=0,
            as_subflow=False,
            # Always the blocking call: from a thread that has an event loop running
            # (a worker of an async server, a test using Playwright) Prefect would
            # otherwise return an un-awaited coroutine and start nothing.
            _sync=True,
        )
    except ObjectNotFound:
        log.warning("deployment run-sop/%s is not served: running it in this process", slug)
        return False
    return True


def install() -> None:
    """Make SOP runs the listener of domain events in this process."""
    set_listener(lambda event, engine: start_runs_for(event, engine) and None)
