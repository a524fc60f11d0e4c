"""Benchmark `sopflow seed-demo`: the default data set and a scaled one, per backend.

    python bench/seed.py [--patients 100000]

SQLite always runs, on a fresh file in a temporary directory. PostgreSQL runs
too when SOPFLOW_BENCH_DATABASE_URL is set; THAT DATABASE IS WIPED (its public
schema is dropped and re-migrated), so point it at a scratch database.

Each seed runs on an empty migrated database, inside one transaction, and is
timed up to and including its commit. For comparison, the same process then
inserts as many patient-shaped rows (same columns and SQL types, no keys,
indexes or constraints) into a temporary table with a single Core executemany:
the "raw" rate. `vs raw` is the seeder's rows/s divided by that rate, so it says
how close the seeder, data generation included, comes to the bare insert speed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# Keep the developer's instance/ (secret key, Prefect home) out of it.
os.environ.setdefault("SOPFLOW_INSTANCE", tempfile.mkdtemp(prefix="sopflow-bench-"))
os.environ.pop("DATABASE_URL", None)

from sqlalchemy import (  # noqa: E402
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    insert,
)
from sqlalchemy.engine import Engine, make_url  # noqa: E402

from sopflow.config import database_url as normalise_url  # noqa: E402
from tests.support.databases import prepare_database  # noqa: E402


@dataclass
class Row:
    backend: str
    label: str
    patients: int
    rows: int
    seconds: float
    raw_rate: float | None = None

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def _quiet_alembic() -> None:
    """Silence the migrations' INFO lines (their logging config resets logger levels)."""
    import logging

    logging.disable(logging.INFO)


def seed_once(url: str, patients: int | None) -> tuple[int, int, float, float]:
    """Seed a fresh database at `url`; return (patients, rows, seconds, re-run seconds)."""
    from models import db
    from services.demo import seed_demo
    from webapp import create_app

    prepare_database(url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        db.session.execute(db.select(1))  # connect outside the timing
        db.session.rollback()
        started = time.perf_counter()
        report = seed_demo(db.session, patients=patients)
        db.session.commit()
        seconds = time.perf_counter() - started
        assert report.created, report.summary()
        started = time.perf_counter()
        again = seed_demo(db.session, patients=patients)
        db.session.rollback()
        rerun = time.perf_counter() - started
        assert not again.created
        db.session.remove()
        db.engine.dispose()
    # The one audit event is not counted in report.rows.
    return report.counts["patient"], report.rows, seconds, rerun


def raw_rate(engine: Engine, count: int) -> float:
    """Rows/s of one Core executemany of `count` patient-shaped rows into a temp table."""
    metadata = MetaData()
    table = Table(
        "bench_raw_patient",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("site_id", Integer),
        Column("registry_number", String(32)),
        Column("state", String(2)),
        Column("first_name", String(100)),
        Column("last_name", String(100)),
        Column("date_of_birth", Date),
        Column("card_expires_on", Date),
        Column("certification_expires_on", Date),
        Column("qualifying_condition", String(120)),
        Column("physician_id", Integer),
        Column("contact_preference", String(32)),
        Column("email", String(254)),
        Column("phone", String(32)),
        Column("consent_email", Boolean),
        Column("consent_sms", Boolean),
        Column("consent_phone", Boolean),
        Column("status", String(32)),
        Column("created_at", DateTime(timezone=True)),
        prefixes=["TEMPORARY"],
    )
    today, now = date.today(), datetime.now(UTC)
    rows = [
        {
            "site_id": 1 + i % 3,
            "registry_number": f"FLP{i:08d}",
            "state": "FL",
            "first_name": "Jane",
            "last_name": "Doe",
            "date_of_birth": today - timedelta(days=15_000 + i % 9_000),
            "card_expires_on": today + timedelta(days=i % 200),
            "certification_expires_on": today + timedelta(days=i % 170),
            "qualifying_condition": "Chronic pain",
            "physician_id": 1 + i % 150,
            "contact_preference": "email",
            "email": f"jane.doe{i % 90}@example.test",
            "phone": f"(813) 555-01{i % 100:02d}",
            "consent_email": True,
            "consent_sms": False,
            "consent_phone": i % 2 == 0,
            "status": "active",
            "created_at": now,
        }
        for i in range(count)
    ]
    with engine.connect() as connection:
        metadata.create_all(connection)
        connection.commit()
        started = time.perf_counter()
        connection.execute(insert(table), rows)
        connection.commit()
        seconds = time.perf_counter() - started
        metadata.drop_all(connection)
        connection.commit()
    return count / seconds


def bench_backend(backend: str, urls: list[str], scaled: int) -> list[Row]:
    """Seed the default set on urls[0] and the scaled one on urls[1] (may be the same)."""
    from sqlalchemy import create_engine

    results = []
    runs = (("default", None, urls[0]), (f"{scaled:,} patients", scaled, urls[1]))
    for label, patients, url in runs:
        n, rows, seconds, rerun = seed_once(url, patients)
        results.append(Row(backend, label, n, rows, seconds))
        results.append(Row(backend, f"  re-run ({label}, no-op)", n, 0, rerun))
    engine = create_engine(urls[1])
    try:
        # Baseline at the scaled set's patient count, on the same (now filled) database.
        rate = raw_rate(engine, scaled)
    finally:
        engine.dispose()
    for row in results:
        if row.rows:
            row.raw_rate = rate
    return results


def print_table(results: list[Row], scaled: int) -> None:
    header = (
        f"{'backend':<11}{'data set':<34}{'patients':>10}{'rows':>10}{'seconds':>9}"
        f"{'rows/s':>10}{'raw rows/s':>12}{'vs raw':>8}"
    )
    print()
    print(header)
    print("-" * len(header))
    for r in results:
        raw = f"{r.raw_rate:>12,.0f}{r.rate / r.raw_rate:>8.2f}" if r.raw_rate else " " * 20
        rate = f"{r.rate:>10,.0f}" if r.rows else f"{'-':>10}"
        rows = f"{r.rows:>10,}" if r.rows else f"{'-':>10}"
        print(f"{r.backend:<11}{r.label:<34}{r.patients:>10,}{rows}{r.seconds:>9.2f}{rate}{raw}")
    print()
    print(
        f"rows = every row the seed wrote (all tables); raw = one Core executemany of "
        f"{scaled:,} patient-shaped rows into a temp table, same process."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000, help="scaled set (100000)")
    args = parser.parse_args()
    _quiet_alembic()

    results: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="sopflow-bench-") as tmp:
        files = [f"sqlite:///{Path(tmp) / name}" for name in ("default.db", "scaled.db")]
        results += bench_backend("sqlite", files, args.patients)
    pg = os.environ.get("SOPFLOW_BENCH_DATABASE_URL")
    if pg:
        pg = normalise_url(pg)
        print(f"PostgreSQL: {make_url(pg).render_as_string(hide_password=True)} (wiped)")
        results += bench_backend("postgresql", [pg, pg], args.patients)
    else:
        print("PostgreSQL skipped: set SOPFLOW_BENCH_DATABASE_URL to a scratch database.")
    print_table(results, args.patients)


if __name__ == "__main__":
    main()
