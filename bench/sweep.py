"""Benchmark: the patient-renewal sweep over N patients, against same-process baselines.

    python bench/sweep.py [--patients 100000] [--naive-sample 1000]

For SQLite (a temp file) and, when SOPFLOW_BENCH_DATABASE_URL is set, PostgreSQL:
seed N synthetic patients, then print

- the ceiling: the same number of task-shaped rows written into a plain table
  (psycopg COPY on PostgreSQL; Core executemany on both);
- the sweep's created tasks per second and its ratio to the ceiling;
- the re-run (nothing new) time and how many times faster it is;
- the process's peak RSS;
- the naive design: one Prefect task per created item on a sample, extrapolated.

Machines here are noisy: read the ratios, not the absolute seconds.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SOPFLOW_INSTANCE", tempfile.mkdtemp(prefix="sopflow-bench-"))
os.environ.setdefault("PREFECT_HOME", str(Path(os.environ["SOPFLOW_INSTANCE"]) / "prefect"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
# The test harness stops its server with events in flight; its recorder logs that.
os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from models import Task  # noqa: E402
from services.demo import seed_demo  # noqa: E402
from services.engine.sweep import execute_run, start_run  # noqa: E402
from services.sops.registry import sync_directory  # noqa: E402
from tests.support.databases import prepare_database  # noqa: E402

SOP = "patient-renewal"
COLUMNS = (
    "title, sop_id, sop_version_id, step_id, subject_type, subject_id, "
    "subject_ref, cycle, site_id, team_id, assignee_id, status, priority, due_on, due_at, "
    "escalation_level, evidence_required, revision, created_at, updated_at"
)


def task_rows(n: int) -> list[tuple]:
    """Task-shaped rows like the sweep writes (same columns, similar values)."""
    now = datetime.now(UTC)
    due = date(2026, 12, 1)
    return [
        (
            f"Card renewal reminder · P-{i}",
            1,
            1,
            "remind",
            "patient",
            i,
            f"P-{i}",
            "2027-01-15",
            1,
            1,
            1,
            "open",
            2,
            due,
            now + timedelta(days=9),
            0,
            False,
            0,
            now,
            now,
        )
        for i in range(n)
    ]


def ceiling(url: str, n: int) -> dict[str, float]:
    """Rows/s writing n task rows into a plain table: COPY (PostgreSQL) and executemany."""
    rows = task_rows(n)
    engine = create_engine(url)
    out: dict[str, float] = {}
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("CREATE TEMP TABLE plain_copy (LIKE task INCLUDING DEFAULTS)")
            cursor = conn.connection.dbapi_connection.cursor()
            start = time.perf_counter()
            with cursor.copy(f"COPY plain_copy ({COLUMNS}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            out["copy"] = n / (time.perf_counter() - start)
            conn.exec_driver_sql("CREATE TEMP TABLE plain_many (LIKE task INCLUDING DEFAULTS)")
        else:
            conn.exec_driver_sql("CREATE TEMP TABLE plain_many AS SELECT * FROM task WHERE 0")
        marks = ", ".join(f":c{i}" for i in range(len(COLUMNS.split(","))))
        statement = text(f"INSERT INTO plain_many ({COLUMNS}) VALUES ({marks})")
        params = [{f"c{i}": v for i, v in enumerate(row)} for row in rows]
        start = time.perf_counter()
        conn.execute(statement, params)
        out["executemany"] = n / (time.perf_counter() - start)
    engine.dispose()
    return out


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB.

    VmHWM belongs to the current address space, so a spawned child reports its own
    peak; getrusage's ru_maxrss survives exec and would report the parent's.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def schema_floor(url: str) -> float | None:
    """Rows/s of a bare INSERT … SELECT of the sweep's own tasks into a fresh copy of
    the task table with all its indexes and reference checks (PostgreSQL): what
    writing these rows costs before any planning, the floor set by the schema."""
    engine = create_engine(url)
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn, conn.begin():
        conn.exec_driver_sql("CREATE TEMP TABLE floor_rows AS SELECT * FROM task")
        conn.exec_driver_sql("CREATE TABLE floor_task (LIKE task INCLUDING ALL)")
        foreign_keys = conn.exec_driver_sql(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'task'::regclass AND contype = 'f'"
        ).scalars()
        for definition in list(foreign_keys):
            conn.exec_driver_sql(f"ALTER TABLE floor_task ADD {definition}")
        # On PostgreSQL the references are checked per statement (models/task_references.py).
        triggers = conn.exec_driver_sql(
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger "
            "WHERE tgrelid = 'task'::regclass AND tgname = 'task_references_inserted'"
        ).scalars()
        for definition in list(triggers):
            on_floor = definition.replace(" ON public.task ", " ON floor_task ")
            conn.exec_driver_sql(on_floor.replace("TRIGGER ", "TRIGGER floor_", 1))
        rows = conn.exec_driver_sql("SELECT count(*) FROM floor_rows").scalar_one()
        start = time.perf_counter()
        conn.exec_driver_sql("INSERT INTO floor_task SELECT * FROM floor_rows")
        elapsed = time.perf_counter() - start
        conn.rollback()
    engine.dispose()
    return rows / elapsed


def sweep(url: str) -> dict[str, float]:
    """Run the renewal SOP twice; return created count, tasks/s, first and rerun seconds."""
    engine = create_engine(url)
    with Session(engine) as session:
        run = start_run(session, SOP, "manual")
        session.commit()
        start = time.perf_counter()
        execute_run(session, run)
        first = time.perf_counter() - start
        created = run.created_count
        rerun_run = start_run(session, SOP, "manual")
        session.commit()
        start = time.perf_counter()
        execute_run(session, rerun_run)
        rerun = time.perf_counter() - start
        assert rerun_run.created_count == 0, "a rerun must create nothing"
        assert session.scalar(select(func.count()).select_from(Task)) >= created
    engine.dispose()
    rss_mb = peak_rss_mb()
    return {
        "created": created,
        "rate": created / first,
        "first": first,
        "rerun": rerun,
        "rss_mb": rss_mb,
    }


def sweep_in_child(url: str) -> dict[str, float]:
    """Run `sweep` in a fresh interpreter, so its peak RSS is the sweep's own."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(sweep, (url,))


def naive(url: str, sample: int) -> float:
    """Seconds per created task when each item is its own Prefect task (on a sample)."""
    from prefect import flow, task
    from prefect.testing.utilities import prefect_test_harness

    from models import SopRun
    from services.engine.planner import plan_task
    from services.engine.subjects import fetch_batch, fetch_one
    from services.engine.sweep import context_for
    from services.engine.writer import write_tasks
    from services.sops.registry import prepared_for

    engine = create_engine(url)
    with Session(engine) as session:
        session.execute(text("DELETE FROM task"))
        run = start_run(session, SOP, "manual")
        session.commit()
        run_id = run.id
        prepared = prepared_for(run.version)
        where = prepared.spec.subjects.where_clause(context_for(run).today)
        ids = [s.id for s in fetch_batch(session, prepared.spec, where, 0, sample)]

    @task
    def one_item(subject_id: int) -> int:
        with Session(engine) as session:
            run = session.get(SopRun, run_id)
            ctx = context_for(run)
            subject = fetch_one(session, prepared.spec, subject_id)
            cycle = prepared.spec.subjects.cycle_key(subject.view, ctx.today)
            rows = [plan_task(prepared, step, subject, cycle, ctx) for step in prepared.roots]
            inserted, _ = write_tasks(session, prepared, rows)
            session.commit()
            return len(inserted)

    @flow
    def naive_flow(subject_ids: list[int]) -> int:
        return sum(one_item(i) for i in subject_ids)

    with prefect_test_harness(server_startup_timeout=120):
        start = time.perf_counter()
        created = naive_flow(ids)
        elapsed = time.perf_counter() - start
    engine.dispose()
    return elapsed / max(created, 1)


def bench(name: str, url: str, patients: int, sample: int, with_naive: bool) -> None:
    prepare_database(url)
    engine = create_engine(url)
    with Session(engine) as session:
        start = time.perf_counter()
        seed_demo(session, patients=patients)
        session.commit()
        seeded = time.perf_counter() - start
        report = sync_directory(session, ROOT / "sop_definitions")
        session.commit()
        assert not report.errors, report.errors
    engine.dispose()
    limits = ceiling(url, patients)
    result = sweep_in_child(url)
    floor = schema_floor(url)
    best = limits.get("copy", limits["executemany"])
    print(f"\n== {name}: {patients:,} patients (seeded in {seeded:.1f} s) ==")
    if "copy" in limits:
        print(f"ceiling  COPY into a plain table        {limits['copy']:>10,.0f} rows/s")
    print(f"ceiling  executemany into a plain table {limits['executemany']:>10,.0f} rows/s")
    print(
        f"sweep    {result['created']:,} tasks in {result['first']:.2f} s   "
        f"{result['rate']:>10,.0f} tasks/s = {result['rate'] / best:.1%} of the ceiling"
    )
    if floor is not None:
        print(
            f"floor    bare INSERT … SELECT of these rows into the task table (its indexes "
            f"and reference checks): {floor:,.0f} rows/s = {floor / best:.1%} of the ceiling; "
            f"the sweep runs at {result['rate'] / floor:.0%} of it"
        )
    print(
        f"re-run   nothing new in {result['rerun']:.2f} s = "
        f"{result['first'] / result['rerun']:.1f}x faster than the first run"
    )
    print(f"peak RSS {result['rss_mb']:.0f} MB (the sweep's own process: both runs)")
    if with_naive:
        per_item = naive(url, sample)
        extrapolated = per_item * result["created"]
        print(
            f"naive    one Prefect task per item: {1 / per_item:,.0f} tasks/s on {sample:,}; "
            f"{result['created']:,} tasks would take {extrapolated:,.0f} s = "
            f"{extrapolated / result['first']:.0f}x the sweep"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--naive-sample", type=int, default=1000)
    parser.add_argument("--no-naive", action="store_true")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="sopflow-bench-db-"))
    targets = [("SQLite", f"sqlite:///{directory / 'bench.db'}")]
    if os.environ.get("SOPFLOW_BENCH_DATABASE_URL"):
        targets.insert(0, ("PostgreSQL", os.environ["SOPFLOW_BENCH_DATABASE_URL"]))
    for index, (name, url) in enumerate(targets):
        bench(name, url, args.patients, args.naive_sample, not args.no_naive and index == 0)


if __name__ == "__main__":
    main()
