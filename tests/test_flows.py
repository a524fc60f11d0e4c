"""Real Prefect flow runs: through the shared test harness, and `sopflow serve` firing a cron."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from models import SopRun, Task
from tests.support.world import RENEWAL, add_patient, build_world, load_sop

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.prefect


def test_run_sop_flow_creates_tasks_and_records_the_flow_run(
    prefect_harness, session, database_url, monkeypatch
):
    from prefect import get_client

    from flows.runs import run_sop
    from models import utcnow

    monkeypatch.setenv("DATABASE_URL", database_url)
    world = build_world(session)
    today = utcnow().date()
    for i in range(7):
        add_patient(session, world.fl, i, card_expires_on=today + timedelta(days=20 + i))
    session.commit()
    load_sop(session, RENEWAL)

    counts = run_sop(sop_id="test-renewal", trigger="manual", batch_size=3)
    assert counts["created"] == 7 and counts["failed"] == 0
    run = session.get(SopRun, counts["run_id"])
    assert run.status.value == "completed" and run.flow_run_id
    assert session.scalar(select(Task.run_id).limit(1)) == run.id

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(run.flow_run_id)
    assert flow_run.name == "test-renewal · manual"
    assert flow_run.state.is_completed()

    again = run_sop(sop_id="test-renewal", trigger="manual")
    assert (again["created"], again["unchanged"]) == (0, 7)


def test_escalate_flow_runs(prefect_harness, session, database_url, monkeypatch):
    from flows.escalation import escalate

    monkeypatch.setenv("DATABASE_URL", database_url)
    build_world(session)
    assert escalate() == {"warned": 0, "reminded": 0, "escalated": 0, "errors": 0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_deployment(name: str, seconds: float) -> None:
    """Wait until `sopflow serve` has registered deployment `name` (its registrations
    are not all done at the same instant)."""
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + seconds
    with get_client(sync_client=True) as client:
        while True:
            try:
                client.read_deployment_by_name(name)
                return
            except ObjectNotFound:
                assert time.monotonic() < deadline, f"deployment {name} never appeared"
                time.sleep(1)


def _prefect_database(database_url: str) -> str | None:
    """Return an asyncpg URL of a fresh database for the Prefect server beside the test
    database on PostgreSQL (Prefect's production shape), or None on SQLite."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return None
    name = f"{url.database}_prefect"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    prefect_url = url.set(drivername="postgresql+asyncpg", database=name)
    return prefect_url.render_as_string(hide_password=False)


@pytest.mark.slow
@pytest.mark.one_backend
def test_serve_fires_a_cron_and_events_start_the_deployment(session, database_url, tmp_path):
    """`sopflow serve` against a real `prefect server start` (on PostgreSQL when the
    suite has it): a one-minute cron fires, and a domain event starts the deployment."""
    from flows.dispatch import start_runs_for
    from models import DisposalRecord, utcnow
    from services.events import DomainEvent
    from sopflow.prefect_server import healthy

    world = build_world(session)
    add_patient(session, world.fl, 1, card_expires_on=utcnow().date() + timedelta(days=20))
    waste = DisposalRecord(
        site_id=world.fl.id,
        source_type="plant",
        tag="1A40603000000001",
        weight=10,
        unit="g",
        reason="pruning",
        method="compost",
    )
    session.add(waste)
    session.commit()
    sop_dir = tmp_path / "sops"
    sop_dir.mkdir()
    (sop_dir / "every-minute.yaml").write_text(
        RENEWAL.replace("id: test-renewal", "id: every-minute").replace(
            'cron: "0 7 * * *", timezone: site', 'cron: "* * * * *", timezone: UTC'
        )
    )
    (sop_dir / "disposal-logging.yaml").write_text(
        (ROOT / "sop_definitions" / "disposal-logging.yaml").read_text()
    )
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SOPFLOW_INSTANCE": str(tmp_path),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "SOPFLOW_SOP_DIR": str(sop_dir),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
    }
    server_env = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
    prefect_db = _prefect_database(database_url)
    if prefect_db:
        server_env["PREFECT_API_DATABASE_CONNECTION_URL"] = prefect_db
    prefect_bin = str(Path(sys.executable).with_name("prefect"))
    server = subprocess.Popen(
        [prefect_bin, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    scheduler = None

    def wait_for_run(trigger: str, seconds: float) -> SopRun | None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            session.rollback()
            found = session.scalar(
                select(SopRun).where(SopRun.trigger == trigger, SopRun.status == "completed")
            )
            if found is not None:
                return found
            time.sleep(2)
        return None

    try:
        deadline = time.monotonic() + 120
        while not healthy(env["PREFECT_API_URL"]):
            assert time.monotonic() < deadline, "Prefect server did not start"
            time.sleep(0.5)
        scheduler = subprocess.Popen(
            [sys.executable, "-m", "sopflow.cli", "serve", "--reload-seconds", "0"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        fired = wait_for_run("schedule", 150)
        assert fired is not None, "no scheduled run completed within 150 s"
        assert fired.flow_run_id and fired.trigger_detail["timezone"] == "UTC"

        # The event path: with PREFECT_API_URL set, the listener starts the served
        # deployment (run_deployment, timeout=0) instead of running in-process.
        # The shared test harness may be active in this process: point both the
        # environment and Prefect's settings at this server for the event's call.
        from prefect.settings import PREFECT_API_URL, temporary_settings

        old = os.environ.get("PREFECT_API_URL")
        os.environ["PREFECT_API_URL"] = env["PREFECT_API_URL"]
        try:
            with temporary_settings(updates={PREFECT_API_URL: env["PREFECT_API_URL"]}):
                wait_for_deployment("run-sop/disposal-logging", 150)
                started = start_runs_for(
                    DomainEvent("disposal.logged", waste.id), session.get_bind()
                )
        finally:
            if old is None:
                os.environ.pop("PREFECT_API_URL")
            else:
                os.environ["PREFECT_API_URL"] = old
        assert started == ["disposal-logging"]
        by_event = wait_for_run("event", 90)
        assert by_event is not None and by_event.flow_run_id
        assert by_event.trigger_detail["subject_id"] == waste.id
        assert (
            session.scalar(
                select(Task).where(Task.subject_id == waste.id, Task.subject_type == "disposal")
            )
            is not None
        )
    finally:
        for process in (scheduler, server):
            if process is not None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
