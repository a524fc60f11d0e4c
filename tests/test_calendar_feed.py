"""Calendar feeds read back by ical.js and vobject: 5,000 events, DST, cancellations,
unicode; the window, the scopes, the VTODO form, minimum necessary and the cache."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select, update

from models import CalendarScope, Patient, Role, Task, TaskStatus, utcnow
from services import deadlines
from services.calendar import (
    build_feed,
    clear_caches,
    feed_rows,
    issue_token,
    renderer_for,
    resolve_token,
)
from services.calendar.events import alarm_instant, summary
from services.calendar.ics import fold
from tests.support.calendars import parse_icaljs, parse_vobject
from tests.support.factories import make_site, make_sop_version, make_task, make_team, make_user

BASE = "https://sopflow.example.org"
# A fixed "now" whose window (2026-10-03 .. 2027-05-01) holds both DST changes of
# New York (Nov 1, Mar 14) and of London (Oct 25, Mar 28).
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
UNICODE_TITLE = 'Prüfung, "Zoë"; 検査 \\ ✓ 🌿 Ünïcödé ' + "é" * 40 + " · P-77"


@pytest.fixture(autouse=True)
def _fresh_caches():
    clear_caches()
    yield
    clear_caches()


def grant_for(session, user, scope=CalendarScope.USER, scope_id=None):  # type: ignore[no-untyped-def]
    issued = issue_token(session, user, scope, scope_id, now=NOW)
    session.commit()
    grant = resolve_token(session, issued.secret, NOW)
    session.commit()
    return grant


def dst_days(zone: str, first: date, last: date) -> list[date]:
    """Days on which the UTC offset of `zone` at noon differs from the day before."""
    tz = ZoneInfo(zone)
    days, day = [], first
    while day < last:
        nxt = day + timedelta(days=1)
        noon = datetime.combine(day, time(12), tz).utcoffset()
        if datetime.combine(nxt, time(12), tz).utcoffset() != noon:
            days.append(nxt)
        day = nxt
    return days


def deadline_task(session, version, due_on: date, zone="America/New_York", **values):  # type: ignore[no-untyped-def]
    """A task whose deadline is the end of its day in `zone` (an all-day deadline)."""
    due_at = deadlines.end_of_day(due_on, zone)
    return make_task(session, version, due_on=due_on, due_at=due_at, **values)


def _row(version, site, user, i: int, **values):  # type: ignore[no-untyped-def]
    due_on = values.pop("due_on")
    return {
        "title": values.pop("title", f"Card renewal reminder · P-{i}"),
        "sop_id": version.sop_id,
        "sop_version_id": version.id,
        "step_id": "remind",
        "subject_type": values.pop("subject_type", "patient"),
        "subject_id": i,
        "subject_ref": values.pop("subject_ref", f"P-{i}"),
        "cycle": "2026",
        "site_id": site.id,
        "assignee_id": user.id,
        "status": values.pop("status", TaskStatus.OPEN.value),
        "priority": 2,
        "due_on": due_on,
        "due_at": values.pop("due_at", None) or deadlines.end_of_day(due_on, site.timezone),
        "revision": values.pop("revision", 0),
        "escalation_level": 0,
        "evidence_required": False,
        "created_at": NOW,
        "updated_at": values.pop("updated_at", NOW - timedelta(minutes=i % 500)),
        **values,
    }


def test_five_thousand_events_read_back_identically_in_icaljs_and_vobject(session, tmp_path):
    ny = make_site(session, code="FL-Tampa", timezone="America/New_York", holiday_calendar="US-FL")
    london = make_site(session, code="UK-London", state="FL", timezone="Europe/London")
    user = make_user(session)
    version = make_sop_version(session)
    first, last = NOW.date() - timedelta(days=30), NOW.date() + timedelta(days=180)
    rows = []
    # Timed deadlines around every DST change of both zones, at 17:00 and at the
    # awkward hours (01:30 exists twice in the fall, 02:30 not at all in the spring).
    for site in (ny, london):
        changes = dst_days(site.timezone, first, last)
        assert len(changes) == 2, changes
        for change in changes:
            for offset in (-1, 0, 1):
                for at in (time(17, 0), time(1, 30), time(2, 30)):
                    day = change + timedelta(days=offset)
                    instant = deadlines.deadline_instant(day, site.timezone, at)
                    rows.append(_row(version, site, user, len(rows), due_on=day, due_at=instant))
    while len(rows) < 5000:
        i = len(rows)
        day = first + timedelta(days=i % 211)
        values = {"due_on": day}
        if i % 97 == 0:
            values["title"], values["subject_ref"] = UNICODE_TITLE, "P-77"
        if i % 50 == 0:
            values["status"] = TaskStatus.CANCELLED.value
        if i % 7 == 0:
            values["due_at"] = deadlines.deadline_instant(day, ny.timezone, time(17))
        rows.append(_row(version, ny, user, i, **values))
    session.execute(insert(Task), rows)
    session.commit()

    grant = grant_for(session, user)
    feed = build_feed(session, grant, "event", NOW, BASE)
    assert feed.count == 5000
    facts = {f"task-{f.id}@sopflow.example.org": f for f in feed_rows(session, grant, NOW)}

    for parsed in (parse_icaljs(feed.body, tmp_path), parse_vobject(feed.body)):
        assert parsed["calendar"]["version"] == "2.0"
        assert parsed["calendar"]["x-wr-calname"] == "sopflow · My deadlines"
        components = parsed["components"]
        assert len(components) == 5000
        assert {c["uid"] for c in components} == set(facts)
        for component in components:
            task = facts[component["uid"]]
            assert component["summary"] == summary(task)
            cancelled = task.status == TaskStatus.CANCELLED
            assert component["status"] == ("CANCELLED" if cancelled else "CONFIRMED")
            assert component["sequence"] == (1 if cancelled else 0)
            assert component["url"] == f"{BASE}/tasks/{task.id}"
            if task.due_at == deadlines.end_of_day(task.due_on, task.site_timezone):
                assert component["all_day"] is True
                assert component["start"] == task.due_on.isoformat()
                assert component["end"] == (task.due_on + timedelta(days=1)).isoformat()
            else:  # the same instant as the database holds, whatever the DST
                assert component["all_day"] is False
                assert component["start"] == task.due_at.astimezone(UTC).isoformat()
            expected_alarm = (
                []
                if cancelled
                else [
                    alarm_instant(task.due_on, task.site_timezone, task.site_holidays).isoformat()
                ]
            )
            assert component["alarms"] == expected_alarm

        unicode = [c for c in components if c["summary"].startswith("Prüfung")]
        assert unicode and unicode[0]["summary"] == UNICODE_TITLE[:-7] + " · FL-Tampa · #P-77"
    assert all(len(line) <= 75 for line in feed.body.split(b"\r\n"))


def test_fold_never_splits_a_character_or_an_escape():
    line = ("SUMMARY:" + "é🌿\\," * 40).encode()
    folded = fold(line)
    physical = folded.rstrip(b"\r\n").split(b"\r\n")
    assert all(len(p) <= 75 for p in physical)
    for piece in physical:
        piece.decode("utf-8")  # a split character would not decode
        assert not piece.endswith(b"\\")
    assert b"".join(p[1:] if i else p for i, p in enumerate(physical)) == line


def test_alarm_is_0900_site_time_one_working_day_before():
    # Friday 2026-11-27 follows Thanksgiving (Thursday 26): the working day before is Wed 25.
    assert alarm_instant(date(2026, 11, 27), "America/New_York", "US-FL") == datetime(
        2026, 11, 25, 14, 0, tzinfo=UTC
    )
    # Monday: the Friday before, at 09:00 Central (15:00Z in November).
    assert alarm_instant(date(2026, 11, 9), "America/Chicago", "US-OK") == datetime(
        2026, 11, 6, 15, 0, tzinfo=UTC
    )


def test_window_closed_tasks_and_the_vtodo_form(session, tmp_path):
    site = make_site(session)
    user = make_user(session)
    version = make_sop_version(session)
    today = NOW.date()
    kept = {
        "open": deadline_task(session, version, assignee_id=user.id, site_id=site.id, due_on=today),
        "doing": deadline_task(
            session,
            version,
            assignee_id=user.id,
            site_id=site.id,
            due_on=today + timedelta(days=1),
            status=TaskStatus.IN_PROGRESS,
        ),
        "done": deadline_task(
            session,
            version,
            assignee_id=user.id,
            site_id=site.id,
            due_on=today - timedelta(days=3),
            status=TaskStatus.DONE,
            completed_at=NOW - timedelta(days=1),
        ),
        "cancelled": deadline_task(
            session,
            version,
            assignee_id=user.id,
            site_id=site.id,
            due_on=today + timedelta(days=9),
            status=TaskStatus.CANCELLED,
        ),
    }
    dropped = [
        deadline_task(session, version, assignee_id=user.id, due_on=today - timedelta(days=31)),
        deadline_task(session, version, assignee_id=user.id, due_on=today + timedelta(days=181)),
        deadline_task(
            session, version, assignee_id=user.id, due_on=today, status=TaskStatus.SKIPPED
        ),
    ]
    old_cancel = deadline_task(
        session, version, assignee_id=user.id, due_on=today, status=TaskStatus.CANCELLED
    )
    session.flush()
    session.execute(
        update(Task).where(Task.id == old_cancel.id).values(updated_at=NOW - timedelta(days=15))
    )
    session.commit()
    grant = grant_for(session, user)

    events = build_feed(session, grant, "event", NOW, BASE)
    todos = build_feed(session, grant, "todo", NOW, BASE)
    ids = {f.id for f in feed_rows(session, grant, NOW)}
    assert ids == {t.id for t in kept.values()}
    assert not ids & {t.id for t in [*dropped, old_cancel]}
    assert b"VTODO" not in events.body and b"VEVENT" not in todos.body
    assert events.state.etag != todos.state.etag

    for parsed in (parse_icaljs(todos.body, tmp_path), parse_vobject(todos.body)):
        by_uid = {c["uid"]: c for c in parsed["components"]}
        status = {
            name: by_uid[f"task-{task.id}-todo@sopflow.example.org"]["status"]
            for name, task in kept.items()
        }
        assert status == {
            "open": "NEEDS-ACTION",
            "doing": "IN-PROCESS",
            "done": "COMPLETED",
            "cancelled": "CANCELLED",
        }
        done = by_uid[f"task-{kept['done'].id}-todo@sopflow.example.org"]
        assert done["due"] == kept["done"].due_on.isoformat() and done["alarms"] == []
    done_event = parse_vobject(events.body)["components"]
    assert any(c["summary"].startswith("✓ ") for c in done_event)
    assert b"PERCENT-COMPLETE:100" in todos.body


def test_scopes_team_and_site_feeds(session, tmp_path):
    fl = make_site(session, code="FL-Tampa")
    ok = make_site(session, code="OK-Tulsa", timezone="America/Chicago")
    team = make_team(session, sites=[fl, ok])
    other_team = make_team(session)
    va = make_user(session, teams=[team])
    manager = make_user(session, role=Role.MANAGER)
    version = make_sop_version(session)
    day = NOW.date() + timedelta(days=5)
    mine = make_task(
        session, version, assignee_id=va.id, team_id=team.id, site_id=fl.id, due_on=day
    )
    queue = make_task(session, version, team_id=team.id, site_id=ok.id, due_on=day)
    elsewhere = make_task(session, version, team_id=other_team.id, site_id=fl.id, due_on=day)
    inspection = make_task(
        session, version, subject_type="inspection", subject_ref="I-3", site_id=fl.id, due_on=day
    )
    session.commit()

    def ids(grant):  # type: ignore[no-untyped-def]
        return {f.id for f in feed_rows(session, grant, NOW)}

    assert ids(grant_for(session, va)) == {mine.id}
    assert ids(grant_for(session, va, CalendarScope.TEAM, team.id)) == {mine.id, queue.id}
    site_grant = grant_for(session, manager, CalendarScope.SITE, fl.id)
    assert ids(site_grant) == {inspection.id}
    assert elsewhere.id not in ids(grant_for(session, manager, CalendarScope.TEAM, team.id))
    feed = build_feed(session, site_grant, "event", NOW, BASE)
    assert b"X-WR-CALNAME:sopflow \xc2\xb7 FL-Tampa compliance" in feed.body
    team_feed = build_feed(
        session, grant_for(session, va, CalendarScope.TEAM, team.id), "event", NOW, BASE
    )
    for body, count in ((feed.body, 1), (team_feed.body, 2)):  # every kind of feed parses
        assert len(parse_icaljs(body, tmp_path)["components"]) == count
        assert len(parse_vobject(body)["components"]) == count


def test_feeds_carry_no_patient_details(session):
    """A real SOP run: names, conditions, registry numbers and contacts never reach a feed."""
    from services.engine.sweep import execute_run, start_run
    from tests.support.world import RENEWAL, add_patient, build_world, load_sop

    world = build_world(session)
    now = utcnow()
    for n in range(6):
        patient = add_patient(
            session,
            world.fl,
            n,
            qualifying_condition="Chronic pain",
            email=f"marisol{n}@example.test",
            phone="555-0100",
            card_expires_on=now.date() + timedelta(days=50 + n),
        )
        patient.first_name, patient.last_name = "Marisol", f"Quintanilla{n}"
    session.commit()
    load_sop(session, RENEWAL)
    execute_run(session, start_run(session, "test-renewal", "manual", now=now))

    grant = grant_for(session, world.manager, CalendarScope.TEAM, world.patient_services.id)
    body = build_feed(session, grant, "event", now, BASE).body
    text = body.decode()
    assert text.count("BEGIN:VEVENT") == 6 and "#P-" in text and "FL-Tampa" in text
    for patient in session.scalars(select(Patient)):
        for detail in (
            patient.first_name,
            patient.last_name,
            patient.email,
            patient.registry_number,
        ):
            assert detail not in text
    assert "Chronic" not in text and "555-0100" not in text
    parse_vobject(body)


def test_a_changed_task_is_the_only_component_rebuilt(session):
    site = make_site(session)
    user = make_user(session)
    version = make_sop_version(session)
    tasks = [
        deadline_task(
            session, version, assignee_id=user.id, site_id=site.id, due_on=NOW.date(), title=f"T{i}"
        )
        for i in range(20)
    ]
    session.commit()
    grant = grant_for(session, user)
    renderer = renderer_for(BASE)
    first = build_feed(session, grant, "event", NOW, BASE)
    assert (renderer.hits, renderer.misses) == (0, 20)
    again = build_feed(session, grant, "event", NOW, BASE)
    assert (renderer.hits, renderer.misses) == (20, 20)
    assert again.body == first.body and again.state == first.state

    session.execute(
        update(Task)
        .where(Task.id == tasks[3].id)
        .values(title="Renamed", due_on=NOW.date() + timedelta(days=2), revision=Task.revision + 1)
    )
    session.commit()
    changed = build_feed(session, grant, "event", NOW, BASE)
    assert (renderer.hits, renderer.misses) == (39, 21)
    assert changed.state.etag != first.state.etag
    component = parse_vobject(changed.body)["components"]
    renamed = next(c for c in component if c["uid"] == f"task-{tasks[3].id}@sopflow.example.org")
    assert renamed["sequence"] == 1 and renamed["summary"].startswith("Renamed")
