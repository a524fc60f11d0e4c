"""Benchmark the board's views with 200k tasks, beside a hello-world route.

    python bench/board.py [--tasks 200000] [--requests 200]

Runs on PostgreSQL when SOPFLOW_BENCH_DATABASE_URL is set (THAT DATABASE IS
WIPED: point it at a scratch database), else on a SQLite file in a temporary
directory. The data is the scaled demo set (`seed_demo`), the shipped SOPs, and
tasks written the way the engine writes them: two renewal SOPs, three steps each,
two past yearly cycles done and the current one in progress, a fifth of the open
work in the team queue and the rest spread over the team.

Every request goes through the real WSGI app (Flask's test client, signed in,
CSRF and htmx headers included). Views: hello world (a route returning a
constant, behind the same session and sign-in machinery), My queue, the team
queue, a task's page, claiming from the team queue and completing a task (which
creates the SOP's next step). Each prints p50/p95 and their ratio to hello world.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SOPFLOW_INSTANCE", tempfile.mkdtemp(prefix="sopflow-bench-"))
os.environ.pop("DATABASE_URL", None)

from sqlalchemy import func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from sopflow.config import database_url as normalise_url  # noqa: E402
from tests.support.databases import prepare_database  # noqa: E402

TARGET = 8.0  # the bound: each view's p95 within 8x hello world's
CHUNK = 5000


@dataclass
class Shape:
    """What the generated data looks like, for the report."""

    tasks: int = 0
    open: int = 0
    queue: int = 0
    mine: int = 0


def _steps(session: Any, slug: str) -> tuple[Any, list[Any]]:
    from models import Sop
    from services.sops.registry import latest_version, spec_for

    sop = session.scalar(select(Sop).where(Sop.slug == slug))
    version = latest_version(session, sop.id)
    return version, spec_for(version).steps


def _people(session: Any) -> tuple[int, list[int], list[int]]:
    from models import Role, Team, User, team_members

    team_id = session.scalar(select(Team.id).where(Team.slug == "patient-services"))
    members = session.execute(
        select(User.id, User.role)
        .join(team_members, team_members.c.user_id == User.id)
        .where(team_members.c.team_id == team_id, User.active.is_(True))
        .order_by(User.id)
    ).all()
    vas = [uid for uid, role in members if role == Role.VA]
    managers = [uid for uid, role in members if role != Role.VA]
    return team_id, vas, managers


def generate_tasks(session: Any, target: int, now: datetime) -> Shape:
    """Insert about `target` tasks for the demo patients (Core, in chunks); return the shape."""
    from models import Patient, Site, Task
    from services import deadlines

    rng = random.Random(4)
    team_id, vas, managers = _people(session)
    zones = dict(session.execute(select(Site.id, Site.timezone)).all())
    sops = [_steps(session, "patient-renewal"), _steps(session, "certification-renewal")]
    fields = {
        "patient-renewal": "card_expires_on",
        "certification-renewal": "certification_expires_on",
    }
    patients = session.execute(
        select(
            Patient.id, Patient.site_id, Patient.card_expires_on, Patient.certification_expires_on
        ).order_by(Patient.id)
    ).all()
    rows: list[dict[str, Any]] = []
    late = now - timedelta(days=5)
    shape = Shape()
    turn = 0
    offsets = {0: -45, 1: -21, 2: -3}

    def flush() -> None:
        if rows:
            session.execute(insert(Task), rows)
            rows.clear()

    for pid, site_id, card, cert in patients:
        if shape.tasks >= target:
            break
        tz = zones[site_id]
        for version, steps in sops:
            slug = version.sop.slug
            expiry = card if fields[slug] == "card_expires_on" else cert
            if expiry is None:
                continue
            roll = rng.random()
            current_done = 0 if roll < 0.55 else (1 if roll < 0.85 else 2)
            for years_back in (2, 1, 0):
                cycle_day = expiry - timedelta(days=365 * years_back)
                for index, step in enumerate(steps):
                    if years_back == 0 and index > current_done:
                        break
                    done = years_back > 0 or index < current_done
                    due_on = cycle_day + timedelta(days=offsets.get(index, -3))
                    due_at = deadlines.deadline_instant(
                        due_on, tz, clock(17) if index == 0 else None
                    )
                    queue = not done and index < 2 and rng.random() < 0.2
                    if step.approval is not None:
                        assignee = managers[turn % len(managers)] if managers else None
                    else:
                        assignee = None if queue else vas[turn % len(vas)]
                    turn += 1
                    ref = f"P-{pid}"
                    rows.append(
                        {
                            "title": step.title.replace("{{ subject.ref }}", ref)[:300],
                            "sop_id": version.sop_id,
                            "sop_version_id": version.id,
                            "step_id": step.id,
                            "subject_type": "patient",
                            "subject_id": pid,
                            "subject_ref": ref,
                            "cycle": cycle_day.isoformat(),
                            "site_id": site_id,
                            "team_id": team_id,
                            "assignee_id": assignee,
                            "status": "done" if done else "open",
                            "priority": step.priority_rank,
                            "due_on": due_on,
                            "due_at": due_at,
                            "escalation_level": int(not done and due_at < late),
                            "evidence_required": bool(step.evidence and step.evidence.required),
                            "approval_role": step.approval.role.value if step.approval else None,
                            "revision": 0,
                            "created_at": due_at - timedelta(days=30),
                            "updated_at": due_at - timedelta(days=30),
                            "completed_at": due_at - timedelta(days=1) if done else None,
                            "completed_by_id": assignee if done else None,
                        }
                    )
                    shape.tasks += 1
                    shape.open += not done
                    shape.queue += queue
                    if len(rows) >= CHUNK:
                        flush()
    flush()
    return shape


def build(url: str, tasks: int, patients: int, now: datetime) -> Shape:
    """Make `url` a migrated database holding the demo set, the SOPs and `tasks` tasks."""
    from models import db
    from services.demo import seed_demo
    from services.sops.registry import sync_directory
    from webapp import create_app

    prepare_database(url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        started = time.perf_counter()
        seed_demo(db.session, patients=patients)
        sync_directory(db.session, ROOT / "sop_definitions")
        db.session.commit()
        shape = generate_tasks(db.session, tasks, now)
        db.session.commit()
        # What autovacuum leaves behind in a live database: statistics and a visibility
        # map (index-only scans).
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            postgres = connection.dialect.name == "postgresql"
            connection.execute(text("VACUUM ANALYZE" if postgres else "ANALYZE"))
        print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
        db.session.remove()
        db.engine.dispose()
    return shape


def existing_shape(url: str) -> Shape:
    """Return the shape of the tasks already in `url` (for --reuse)."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            total, open_, queue = connection.execute(
                text(
                    "SELECT count(*), count(*) FILTER (WHERE status = 'open'), "
                    "count(*) FILTER (WHERE status = 'open' AND assignee_id IS NULL) FROM task"
                )
            ).one()
    finally:
        engine.dispose()
    return Shape(total, open_, queue)


_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def _timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    response = call()
    response.get_data()
    elapsed = time.perf_counter() - started
    assert response.status_code < 400, (response.status_code, response.get_data(as_text=True)[:300])
    return elapsed


def measure(url: str, requests: int) -> tuple[dict[str, list[float]], Shape]:
    """Drive each view `requests` times (after a warm-up); return the seconds per view."""
    from models import ChecklistItem, Task, User, db, utcnow
    from services.tasks.actions import ensure_checklist
    from webapp import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False})
    app.add_url_rule("/_bench/hello", "bench_hello", lambda: "hello")
    shape = Shape()
    with app.app_context():
        va = db.session.scalar(select(User).where(User.email.like("va.ana@%")))
        open_mine = select(Task.id).where(Task.assignee_id == va.id, Task.status == "open")
        shape.mine = db.session.scalar(select(func.count()).select_from(open_mine.subquery()))
        mine = list(db.session.scalars(open_mine.order_by(Task.due_at).limit(requests + 20)))
        remind = list(
            db.session.scalars(
                open_mine.where(Task.step_id == "remind")
                .order_by(Task.id.desc())
                .limit(requests + 20)
            )
        )
        for task_id in remind:  # ready to complete: every checklist line ticked
            for item in ensure_checklist(db.session, db.session.get(Task, task_id)):
                item.done_at, item.done_by_id = utcnow(), va.id
        db.session.commit()
        queue = list(
            db.session.scalars(
                select(Task.id)
                .where(Task.assignee_id.is_(None), Task.status == "open", Task.team_id.is_not(None))
                .order_by(Task.due_at, Task.id)
                .limit(requests + 20)
            )
        )
        assert db.session.scalar(select(func.count()).select_from(ChecklistItem)) > 0
        email = va.email
        db.session.remove()

    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"email": email, "password": "sopflow-demo", "csrf_token": token})
    token = _META.search(client.get("/").get_data(as_text=True)).group(1)
    hx = {"HX-Request": "true", "X-CSRFToken": token}

    for task_id in mine:  # first views create checklist rows: not what is measured
        client.get(f"/tasks/{task_id}").get_data()

    views: dict[str, Callable[[int], Any]] = {
        "hello world": lambda i: client.get("/_bench/hello"),
        "my queue": lambda i: client.get("/"),
        "team queue": lambda i: client.get("/team"),
        "task detail": lambda i: client.get(f"/tasks/{mine[i % len(mine)]}"),
        "claim": lambda i: client.post(
            f"/tasks/{queue.pop(0)}/claim",
            headers={**hx, "HX-Target": "row", "HX-Current-URL": "http://localhost/team"},
        ),
        "complete": lambda i: client.post(
            f"/tasks/{remind.pop(0)}/complete",
            headers={**hx, "HX-Target": "task-detail", "HX-Current-URL": "http://localhost/"},
        ),
    }
    timings: dict[str, list[float]] = {name: [] for name in views}
    warmup = 10
    # Interleave the views so that drift (caches, autovacuum) hits them all alike.
    for i in range(requests + warmup):
        for name, call in views.items():
            elapsed = _timed(lambda call=call, i=i: call(i))
            if i >= warmup:
                timings[name].append(elapsed)
    return timings, shape


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(backend: str, timings: dict[str, list[float]], shape: Shape, total: Shape) -> bool:
    """Print the table; return True when every view is within TARGET x hello world (p95)."""
    hello50 = statistics.median(timings["hello world"])
    hello95 = percentile(timings["hello world"], 0.95)
    print()
    print(
        f"{backend}: {total.tasks:,} tasks, {total.open:,} open, {total.queue:,} in the team "
        f"queue; the VA's own open tasks: {shape.mine:,}"
    )
    header = f"{'view':<14}{'p50 ms':>9}{'p95 ms':>9}{'p50 x':>8}{'p95 x':>8}"
    print(header)
    print("-" * len(header))
    ok = True
    for name, values in timings.items():
        p50, p95 = statistics.median(values), percentile(values, 0.95)
        ratio50, ratio95 = p50 / hello50, p95 / hello95
        ok &= ratio95 <= TARGET or name == "hello world"
        print(f"{name:<14}{p50 * 1000:>9.2f}{p95 * 1000:>9.2f}{ratio50:>8.1f}{ratio95:>8.1f}")
    verdict = "within" if ok else "NOT within"
    print(f"every view's p95 {verdict} {TARGET:.0f}x hello world's ({len(values)} requests each)")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--patients", type=int, default=14_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--reuse", action="store_true", help="measure the database of a previous run again"
    )
    args = parser.parse_args()
    import logging

    logging.disable(logging.INFO)
    now = datetime.now(UTC)
    pg = os.environ.get("SOPFLOW_BENCH_DATABASE_URL")
    with tempfile.TemporaryDirectory(prefix="sopflow-bench-") as tmp:
        if pg:
            url, backend = normalise_url(pg), "postgresql"
            print(f"PostgreSQL: {make_url(url).render_as_string(hide_password=True)} (wiped)")
        else:
            url, backend = f"sqlite:///{Path(tmp) / 'board.db'}", "sqlite"
            print("SQLite (set SOPFLOW_BENCH_DATABASE_URL to run on PostgreSQL)")
        if args.reuse and pg:
            total = existing_shape(url)
        else:
            print(f"building {args.tasks:,} tasks for {args.patients:,} patients ...", flush=True)
            total = build(url, args.tasks, args.patients, now)
        timings, shape = measure(url, args.requests)
        ok = report(backend, timings, shape, total)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
