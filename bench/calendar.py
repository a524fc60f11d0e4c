"""Benchmark the calendar feed: build time for 5,000 deadlines, and the 304 path.

    python bench/calendar.py [--events 5000] [--requests 400]

Runs on a fresh SQLite file (PostgreSQL too when SOPFLOW_BENCH_DATABASE_URL is
set; THAT DATABASE IS WIPED). In one process and one run it prints:

* the feed built cold (empty component cache) and again after one task changed
  (the cache serves the other 4,999), against the targets 1.5 s and 150 ms;
* for reference, the same components built with icalendar's `Event.to_ical()`
  (why services/calendar/ics.py writes content lines itself);
* a conditional GET answered 304 beside a hello-world route of the same app,
  in-process (Flask's test client) and over real HTTP (a loopback server), as
  mean per request and their ratio, against the target "304 ≤ 2x hello world"
  (the two measured interleaved, so that load changes weigh on both alike);
  once with the validators remembered (the default: re-checked every 15 s) and
  once re-queried on every request.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file has the name of the standard library's `calendar`, which `email` and
# `http` import: take bench/ off the path before anything imports them.
BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import http.client  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from datetime import time as clock  # noqa: E402

os.environ.setdefault("SOPFLOW_INSTANCE", tempfile.mkdtemp(prefix="sopflow-bench-"))
os.environ.pop("DATABASE_URL", None)

from sqlalchemy import insert, update  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from sopflow.config import database_url as normalise_url  # noqa: E402
from tests.support.databases import prepare_database  # noqa: E402

BASE_URL = "https://sopflow.example.org"


def _quiet() -> None:
    import logging

    logging.disable(logging.INFO)


def populate(session: Session, events: int) -> str:
    """Create a site, a user with `events` deadlines in the feed window, and a token.

    Returns the token's secret. A fifth of the deadlines are timed (17:00 site
    time), a few are cancelled; dates spread over the whole window.
    """
    from models import CalendarScope, Role, Task, TaskStatus, utcnow
    from services import deadlines
    from services.calendar import issue_token
    from tests.support.factories import make_site, make_sop_version, make_user

    site = make_site(session, code="FL-Tampa", timezone="America/New_York")
    user = make_user(session, role=Role.VA, email="bench@example.test")
    version = make_sop_version(session)
    now = utcnow()
    today = now.date()
    rows = []
    for i in range(events):
        due_on = today - timedelta(days=29) + timedelta(days=i % 205)
        timed = i % 5 == 0
        due_at = (
            deadlines.deadline_instant(due_on, site.timezone, clock(17, 0))
            if timed
            else deadlines.end_of_day(due_on, site.timezone)
        )
        rows.append(
            {
                "title": f"Card renewal reminder · P-{1000 + i}",
                "sop_id": version.sop_id,
                "sop_version_id": version.id,
                "step_id": "remind",
                "subject_type": "patient",
                "subject_id": 1000 + i,
                "subject_ref": f"P-{1000 + i}",
                "cycle": "2026",
                "site_id": site.id,
                "assignee_id": user.id,
                "status": (TaskStatus.CANCELLED if i % 50 == 0 else TaskStatus.OPEN).value,
                "priority": 2,
                "due_on": due_on,
                "due_at": due_at,
                "revision": 0,
                "escalation_level": 0,
                "evidence_required": False,
                "created_at": now,
                "updated_at": now - timedelta(minutes=i % 600),
            }
        )
    session.execute(insert(Task), rows)
    issued = issue_token(session, user, CalendarScope.USER)
    session.commit()
    return issued.secret


def timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def reference_icalendar(session: Session, grant, now: datetime) -> float:  # type: ignore[no-untyped-def]
    """Seconds to build the same VEVENTs with icalendar's components and to_ical()."""
    from icalendar import Alarm, Event

    from services.calendar.events import alarm_instant, renderer_for, summary
    from services.calendar.feeds import feed_rows

    rows = feed_rows(session, grant, now)
    renderer = renderer_for(BASE_URL)
    start = time.perf_counter()
    for facts in rows:
        event = Event()
        event.add("uid", f"task-{facts.id}@{renderer.domain}")
        event.add("dtstamp", facts.updated_at)
        event.add("sequence", facts.revision)
        event.add("summary", summary(facts))
        event.add("description", f"Open in sopflow: {renderer.task_url(facts.id)}")
        event.add("url", renderer.task_url(facts.id))
        event.add("dtstart", facts.due_on)
        event.add("dtend", facts.due_on + timedelta(days=1))
        event.add("status", "CONFIRMED")
        event.add("transp", "TRANSPARENT")
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", "Due")
        alarm.add("trigger", alarm_instant(facts.due_on, "America/New_York", "US-FL"))
        event.add_component(alarm)
        event.to_ical()
    return time.perf_counter() - start


def per_request(call: Callable[[], int], expected: int, count: int) -> float:
    """Mean seconds per call over `count` calls (after a warm-up), median of 3 rounds."""
    for _ in range(20):
        assert call() == expected
    rounds = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(count):
            call()
        rounds.append((time.perf_counter() - start) / count)
    return statistics.median(rounds)


def side_by_side(
    first: Callable[[], int], second: Callable[[], int], expected: tuple[int, int], count: int
) -> tuple[float, float]:
    """Mean seconds per call of each, measured interleaved (blocks of 20 calls each, in
    turn) so that a change of load during the run weighs on both alike; median of 3."""
    for _ in range(20):
        assert first() == expected[0] and second() == expected[1]
    rounds: list[tuple[float, float]] = []
    for _ in range(3):
        spent = [0.0, 0.0]
        for _ in range(max(count // 20, 1)):
            for index, call in enumerate((first, second)):
                start = time.perf_counter()
                for _ in range(20):
                    call()
                spent[index] += time.perf_counter() - start
        calls = max(count // 20, 1) * 20
        rounds.append((spent[0] / calls, spent[1] / calls))
    return (
        statistics.median(r[0] for r in rounds),
        statistics.median(r[1] for r in rounds),
    )


def http_get(port: int, path: str, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def run(url: str, label: str, events: int, requests: int) -> None:
    from dataclasses import replace

    from werkzeug.serving import make_server

    from models import db, utcnow
    from services.calendar import build_feed, clear_caches, resolve_token
    from webapp import create_app

    prepare_database(url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    app.config["SOPFLOW_SETTINGS"] = replace(app.config["SOPFLOW_SETTINGS"], base_url=BASE_URL)
    app.add_url_rule("/hello", "hello", lambda: "Hello, world!")
    with app.app_context():
        session = db.session
        secret = populate(session, events)
        now = utcnow()
        grant = resolve_token(session, secret, now)
        session.commit()
        assert grant is not None
        from models import Task

        def build() -> None:
            build_feed(session, grant, "event", now, BASE_URL)

        colds = []
        for _ in range(3):
            clear_caches()
            colds.append(timed(build))
        cold = statistics.median(colds)
        warm = statistics.median(timed(build) for _ in range(5))
        changes = []
        for task_id in (7, 8, 9, 10, 11):  # one task renamed (and its revision bumped) each
            session.execute(
                update(Task)
                .where(Task.id == task_id)
                .values(title=f"Renewal package · P-{task_id}", revision=Task.revision + 1)
            )
            session.commit()
            changes.append(timed(build))
        changed = statistics.median(changes)
        feed = build_feed(session, grant, "event", now, BASE_URL)
        reference = reference_icalendar(session, grant, now)
        session.rollback()
        db.session.remove()

    path = f"/calendar/{secret}.ics"
    etag = {"If-None-Match": feed.state.etag}
    client = app.test_client()
    assert client.get(path, headers=etag).status_code == 304
    hello_in, feed_in = side_by_side(
        lambda: client.get("/hello").status_code,
        lambda: client.get(path, headers=etag).status_code,
        (200, 304),
        requests,
    )
    app.config["CALENDAR_FRESH_SECONDS"] = 0  # every request re-checks the database
    query_in = per_request(lambda: client.get(path, headers=etag).status_code, 304, requests)
    app.config.pop("CALENDAR_FRESH_SECONDS")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_port
        hello_http, feed_http = side_by_side(
            lambda: http_get(port, "/hello", {}),
            lambda: http_get(port, path, etag),
            (200, 304),
            requests,
        )
        app.config["CALENDAR_FRESH_SECONDS"] = 0
        query_http = per_request(lambda: http_get(port, path, etag), 304, requests)
    finally:
        server.shutdown()
        thread.join(timeout=10)
    with app.app_context():
        db.engine.dispose()

    ms = 1000
    print(f"\n{label}: {feed.count} events, {len(feed.body) / 1e6:.1f} MB")
    print(f"  cold build            {cold * ms:8.1f} ms   target ≤ 1500 ms   (median of 3)")
    print(f"  after one change      {changed * ms:8.1f} ms   target ≤ 150 ms    (median of 5)")
    print(f"  nothing changed       {warm * ms:8.1f} ms                      (median of 5)")
    print(f"  icalendar components  {reference * ms:8.1f} ms   (same events via Event.to_ical())")
    print(f"  cold / icalendar      {cold / reference:8.2f}")
    for where, hello, memo, query in (
        ("in-process", hello_in, feed_in, query_in),
        ("over HTTP", hello_http, feed_http, query_http),
    ):
        print(
            f"  304 {where:<11}       {memo * ms:7.3f} ms   hello world {hello * ms:.3f} ms   "
            f"ratio {memo / hello:.2f} (target ≤ 2)"
        )
        print(
            f"      re-queried        {query * ms:7.3f} ms   ratio {query / hello:.2f}"
            "   (CALENDAR_FRESH_SECONDS=0: the aggregate query on every request)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    _quiet()
    with tempfile.TemporaryDirectory(prefix="sopflow-bench-cal-") as tmp:
        run(f"sqlite:///{tmp}/bench.db", "SQLite", args.events, args.requests)
    pg = os.environ.get("SOPFLOW_BENCH_DATABASE_URL")
    if pg:
        run(normalise_url(pg), "PostgreSQL", args.events, args.requests)
    load = os.getloadavg()[0]
    print(f"\n(measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average {load:.2f})")


if __name__ == "__main__":
    main()
