"""`sopflow serve`: one Prefect deployment per SOP, with the SOP's schedules, served here.

Schedules come from the newest version of each enabled SOP; `timezone: site`
becomes one cron per distinct site zone, each run narrowed to those sites.
A changed `sop_definitions/` (or a browser edit) is picked up without a
restart: a watcher syncs the folder every `reload_seconds` and, if the set of
schedules changed, re-executes the process so Prefect serves the new set.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from prefect import serve
from prefect.schedules import Cron
from sqlalchemy import select
from sqlalchemy.orm import Session

from flows.escalation import escalate
from flows.notifications import (
    DIGEST_CRON,
    DIGEST_TIMEZONE,
    SEND_CRON,
    daily_digest,
    send_notifications,
)
from flows.runs import run_sop
from models import Site, Sop
from services.sop_validation import SopValidationError
from services.sops.registry import latest_version, spec_for, sync_directory
from sopflow.database import default_engine

log = logging.getLogger(__name__)
ESCALATION_CRON = "*/15 * * * *"

Plan = tuple[tuple[str, tuple[tuple[str, str], ...]], ...]


def schedule_plan(session: Session) -> Plan:
    """Return ((sop slug, ((cron, zone), …)), …) for every enabled, loadable SOP."""
    zones = sorted(set(session.scalars(select(Site.timezone))))
    plan = []
    for sop in session.scalars(select(Sop).where(Sop.enabled.is_(True)).order_by(Sop.slug)):
        version = latest_version(session, sop.id)
        if version is None:
            continue
        try:
            spec = spec_for(version)
        except SopValidationError:
            continue
        crons = []
        for schedule in spec.schedules:
            for zone in zones if schedule.timezone == "site" else [schedule.timezone]:
                crons.append((schedule.cron, zone))
        plan.append((sop.slug, tuple(crons)))
    return tuple(plan)


def deployments_for(plan: Plan) -> list[Any]:
    """Return the runner deployments for a plan, plus the escalation sweep's and mail's."""
    deployments = []
    for slug, crons in plan:
        schedules = [
            Cron(cron, timezone=zone, parameters={"timezone": zone}, slug=f"{slug}-{i}")
            for i, (cron, zone) in enumerate(crons)
        ]
        deployments.append(
            run_sop.to_deployment(
                name=slug,
                schedules=schedules,
                parameters={"sop_id": slug, "trigger": "schedule"},
                description=f"SOP {slug}: scheduled, event and manual runs",
            )
        )
    deployments.append(escalate.to_deployment(name="escalate", cron=ESCALATION_CRON))
    deployments.append(
        daily_digest.to_deployment(
            name="daily-digest", schedules=[Cron(DIGEST_CRON, timezone=DIGEST_TIMEZONE)]
        )
    )
    deployments.append(send_notifications.to_deployment(name="send-notifications", cron=SEND_CRON))
    return deployments


def _watch(directory: Path, plan: Plan, reload_seconds: float) -> None:
    """Sync the folder periodically; re-exec this process when the schedules change."""
    while True:
        time.sleep(reload_seconds)
        try:
            with Session(default_engine()) as session:
                sync_directory(session, directory)
                session.commit()
                current = schedule_plan(session)
        except Exception:
            log.exception("reloading SOP schedules failed; keeping the current ones")
            continue
        if current != plan:
            log.warning("SOP schedules changed: restarting the scheduler to serve them")
            os.execv(sys.executable, [sys.executable, "-m", "sopflow.cli", *sys.argv[1:]])


def serve_sops(directory: Path, reload_seconds: float = 60.0) -> None:
    """Sync, then serve every SOP's deployment until interrupted."""
    with Session(default_engine()) as session:
        report = sync_directory(session, directory)
        session.commit()
        for line in report.lines():
            log.info(line)
        plan = schedule_plan(session)
    if reload_seconds > 0:
        threading.Thread(target=_watch, args=(directory, plan, reload_seconds), daemon=True).start()
    serve(*deployments_for(plan), print_starting_message=True)
