"""Tasks for board tests: made by a real SOP run (so checklists, evidence rules and
next steps are the engine's), or set directly when a test needs exact values."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Sop, Task, User
from services.engine.sweep import execute_run, start_run
from services.tasks.access import Scope, scope_for
from tests.support.factories import make_sop_version, make_task
from tests.support.world import RENEWAL, World, add_patient, load_sop

# RENEWAL with its first step in the team queue: VAs claim it, the next step is
# placed least-loaded among the VAs, the last one is a manager's sign-off.
QUEUE_RENEWAL = RENEWAL.replace("id: test-renewal", "id: queue-renewal").replace(
    "    assign: {strategy: round_robin, team: patient-services, role: va}",
    "    assign: {strategy: team_queue, team: patient-services}",
)


def run_sop(session: Session, slug: str, now: datetime) -> None:
    """Run the SOP `slug` once, as the scheduler would, at `now`."""
    run = start_run(session, slug, "schedule", now=now)
    session.commit()
    execute_run(session, run)
    session.commit()


def renewal_tasks(
    session: Session,
    world: World,
    n: int,
    now: datetime,
    text: str = QUEUE_RENEWAL,
    first_patient: int = 1,
) -> list[Task]:
    """Create `n` FL patients whose cards expire 30-40 days after `now` and run the SOP;
    return the SOP's tasks, by id."""
    today = now.date()
    for i in range(first_patient, first_patient + n):
        add_patient(
            session,
            world.fl,
            i,
            card_expires_on=today + timedelta(days=30 + i % 10),
            consent_email=True,
        )
    slug = "queue-renewal" if "id: queue-renewal" in text else "test-renewal"
    load_sop(session, text)
    run_sop(session, slug, now)
    sop = select(Sop.id).where(Sop.slug == slug).scalar_subquery()
    query = select(Task).where(Task.sop_id == sop).order_by(Task.id)
    return list(session.scalars(query))


def scope(session: Session, user: User) -> Scope:
    return scope_for(session, session.get(User, user.id))  # type: ignore[arg-type]


def plain_tasks(session: Session, n: int, start: date, **values: Any) -> list[Task]:
    """Create `n` tasks of a stub SOP due on consecutive days from `start`."""
    version = make_sop_version(session)
    tasks = [
        make_task(session, version, due_on=start + timedelta(days=i), **values) for i in range(n)
    ]
    session.commit()
    return tasks


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def page_token(client: FlaskClient, path: str = "/") -> str:
    """Return the CSRF token of a signed-in page (its <meta name="csrf-token">)."""
    match = _META.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def hx(token: str | None = None, target: str | None = None, current: str = "/") -> dict[str, str]:
    """Return the headers htmx sends: HX-Request, the target, the page's URL, the token."""
    headers = {"HX-Request": "true", "HX-Current-URL": f"http://localhost{current}"}
    if target:
        headers["HX-Target"] = target
    if token:
        headers["X-CSRFToken"] = token
    return headers
