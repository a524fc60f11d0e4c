"""The `escalate` flow: warnings, reminders and reassignment, on its own schedule,
then the mail they call for."""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.notifications import notify_escalations
from models import utcnow
from services.engine.escalation import escalation_sweep
from sopflow.database import open_session


@flow(name="escalate", retries=2, retry_delay_seconds=30)
def escalate() -> dict[str, int]:
    """Run the escalation sweep once, now; return how many tasks each rule touched."""
    with open_session() as session:
        report = escalation_sweep(session, utcnow())
        session.commit()
    get_run_logger().info("escalation: %s", report.summary())
    # After the commit: the notices are planned from the events the sweep wrote.
    notify_escalations()
    return {
        "warned": len(report.warned),
        "reminded": len(report.reminded),
        "escalated": len(report.escalated),
        "errors": len(report.errors),
    }
