"""Feed tokens and the feed's HTTP: secrets stored hashed, every refusal the same bare 404,
lookups that take the same path whatever the token's prefix, ETag / Last-Modified / 304."""

from __future__ import annotations

import hmac
import json
import secrets
import statistics
import time
from datetime import timedelta
from email.utils import format_datetime

import pytest
from sqlalchemy import event, select, text, update

from models import AuditEvent, CalendarScope, CalendarToken, Role, Task, Team, User, utcnow
from services import deadlines
from services.calendar import (
    CalendarTokenError,
    clear_caches,
    issue_token,
    record_use,
    resolve_token,
    revoke_token,
    rotate_token,
)
from services.calendar import tokens as token_module
from tests.support.factories import make_site, make_sop_version, make_task, make_team, make_user


@pytest.fixture(autouse=True)
def _fresh_caches():
    clear_caches()
    yield
    clear_caches()


def feed_path(secret: str, query: str = "") -> str:
    return f"/calendar/{secret}.ics{query}"


def setup_feed(session):  # type: ignore[no-untyped-def]
    site = make_site(session, code="FL-Tampa")
    user = make_user(session)
    version = make_sop_version(session)
    today = utcnow().date()
    for offset in (1, 2, 3):
        day = today + timedelta(days=offset)
        make_task(
            session,
            version,
            assignee_id=user.id,
            site_id=site.id,
            due_on=day,
            due_at=deadlines.end_of_day(day, site.timezone),
        )
    issued = issue_token(session, user, CalendarScope.USER)
    session.commit()
    return user, issued


def test_secret_is_random_and_only_its_hash_is_stored(session):
    user = make_user(session)
    first = issue_token(session, user, CalendarScope.USER)
    team = make_team(session)
    user.teams = [team]
    second = issue_token(session, user, CalendarScope.TEAM, team.id)
    session.commit()
    assert len(first.secret) >= 43 and first.secret != second.secret  # 32 random bytes
    stored = session.scalars(select(CalendarToken.token_hash)).all()
    assert first.secret not in stored and len(stored[0]) == 64
    trail = json.dumps([[e.before, e.after] for e in session.scalars(select(AuditEvent))])
    assert "token_hash" not in trail and first.secret not in trail
    assert '"scope": "team"' in trail  # the token's creation itself is audited


def test_feed_http_content_type_validators_and_304(client, session, app, monkeypatch):
    monkeypatch.setitem(app.config, "CALENDAR_FRESH_SECONDS", 0)
    _, issued = setup_feed(session)
    response = client.get(feed_path(issued.secret))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Cache-Control"] == "private, no-cache"
    etag, modified = response.headers["ETag"], response.headers["Last-Modified"]
    assert etag.startswith('"') and modified.endswith("GMT")
    assert response.get_data().count(b"BEGIN:VEVENT") == 3

    again = client.get(feed_path(issued.secret), headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b"" and again.headers["ETag"] == etag
    since = client.get(feed_path(issued.secret), headers={"If-Modified-Since": modified})
    assert since.status_code == 304
    older = format_datetime(utcnow() - timedelta(days=2), usegmt=True)
    assert (
        client.get(feed_path(issued.secret), headers={"If-Modified-Since": older}).status_code
        == 200
    )
    # If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
    mixed = {"If-None-Match": '"other"', "If-Modified-Since": modified}
    assert client.get(feed_path(issued.secret), headers=mixed).status_code == 200
    assert client.head(feed_path(issued.secret)).status_code == 200

    task = session.scalar(select(Task).limit(1))
    task.title = "Renamed · P-1"
    task.revision += 1
    session.commit()
    changed = client.get(feed_path(issued.secret), headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert b"SUMMARY:Renamed" in changed.get_data()

    # Within CALENDAR_FRESH_SECONDS a conditional request is answered from memory (a
    # bounded staleness), while a plain GET always reads the database.
    monkeypatch.setitem(app.config, "CALENDAR_FRESH_SECONDS", 60)
    current = changed.headers["ETag"]
    assert (
        client.get(feed_path(issued.secret), headers={"If-None-Match": current}).status_code == 304
    )
    task.title = "Renamed again · P-1"
    session.commit()
    cached = client.get(feed_path(issued.secret), headers={"If-None-Match": current})
    assert cached.status_code == 304
    assert b"Renamed again" in client.get(feed_path(issued.secret)).get_data()

    todo = client.get(feed_path(issued.secret, "?format=todo"))
    assert todo.status_code == 200 and b"BEGIN:VTODO" in todo.get_data()
    assert todo.headers["ETag"] != changed.headers["ETag"]


def test_every_refusal_is_the_same_bare_404(client, session):
    user, issued = setup_feed(session)
    rotated_old = issued.secret
    rotated = rotate_token(session, user, issued.token.id)
    session.commit()
    revoked = issue_token(session, make_user(session), CalendarScope.USER)
    revoke_token(session, revoked.token.user, revoked.token.id)
    leaver = make_user(session, email="leaver@example.test")
    deactivated = issue_token(session, leaver, CalendarScope.USER)
    team = make_team(session)
    member = make_user(session, teams=[team])
    team_token = issue_token(session, member, CalendarScope.TEAM, team.id)
    manager = make_user(session, role=Role.MANAGER)
    site_token = issue_token(session, manager, CalendarScope.SITE, make_site(session).id)
    session.commit()
    leaver.active = False
    member.teams = []  # left the team: the team feed goes with it
    manager.role = Role.VA  # no longer a manager: no site feed
    session.commit()

    assert client.get(feed_path(rotated.secret)).status_code == 200
    refused = [
        secrets.token_urlsafe(32),  # never existed
        rotated_old,
        revoked.secret,
        deactivated.secret,
        team_token.secret,
        site_token.secret,
        rotated.secret[:-1] + ("A" if rotated.secret[-1] != "A" else "B"),
        "x" * 500,
    ]
    responses = [client.get(feed_path(secret)) for secret in refused]
    assert {r.status_code for r in responses} == {404}
    assert {r.get_data() for r in responses} == {b"Not Found\n"}
    shapes = {
        tuple(sorted((k, v) for k, v in r.headers.items() if k != "Set-Cookie")) for r in responses
    }
    assert len(shapes) == 1
    # Deactivation revoked the token in the database too, and that is in the audit trail.
    assert session.get(CalendarToken, deactivated.token.id).revoked_at is not None
    revocations = session.scalars(
        select(AuditEvent).where(
            AuditEvent.entity_type == "calendar_token",
            AuditEvent.entity_id == str(deactivated.token.id),
            AuditEvent.action == "update",
        )
    ).all()
    assert revocations and "revoked_at" in revocations[0].after


def test_only_permitted_feeds_can_be_issued_and_only_own_tokens_changed(session):
    va = make_user(session)
    other = make_user(session)
    team = make_team(session)
    with pytest.raises(CalendarTokenError):
        issue_token(session, va, CalendarScope.TEAM, team.id)  # not a member
    with pytest.raises(CalendarTokenError):
        issue_token(session, va, CalendarScope.SITE, make_site(session).id)  # not a manager
    mine = issue_token(session, va, CalendarScope.USER)
    with pytest.raises(CalendarTokenError):
        rotate_token(session, other, mine.token.id)
    with pytest.raises(CalendarTokenError):
        revoke_token(session, other, mine.token.id)
    again = issue_token(session, va, CalendarScope.USER)  # one live link per feed
    session.commit()
    assert session.get(CalendarToken, mine.token.id).revoked_at is not None
    assert resolve_token(session, mine.secret) is None
    assert resolve_token(session, again.secret) is not None


def test_last_use_is_recorded_at_most_every_few_minutes(session):
    _, issued = setup_feed(session)
    token = session.get(CalendarToken, issued.token.id)
    now = utcnow()
    for at, written in [
        (now, True),
        (now + timedelta(minutes=1), False),
        (now + token_module.LAST_USED_RESOLUTION, True),
    ]:
        grant = resolve_token(session, issued.secret, at)
        assert record_use(session, grant, at) is written
        session.commit()
        session.refresh(token)
        assert token.last_used_at == (at if written else now)


def test_lookup_is_one_indexed_query_by_hash_and_a_constant_time_compare(
    session, engine, monkeypatch
):
    _, issued = setup_feed(session)
    compared: list[tuple[str, str]] = []
    original = hmac.compare_digest

    def spy(a, b):  # type: ignore[no-untyped-def]
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(token_module.hmac, "compare_digest", spy)
    statements: list[tuple[str, object]] = []

    def listen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        assert resolve_token(session, "a-guess-sharing-nothing") is None
        assert compared == []  # no row: nothing to compare, no second query
        misses = [s for s in statements if "calendar_token" in s[0]]
        assert len(misses) == 1 and "token_hash" in misses[0][0]
        presented = token_module.hash_token("a-guess-sharing-nothing")
        assert presented in repr(misses[0][1])  # the database sees the digest, not the guess
        assert "a-guess-sharing-nothing" not in repr(misses[0][1])
        assert resolve_token(session, issued.secret) is not None
        assert len(compared) == 1 and len(compared[0][0]) == len(compared[0][1]) == 64
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    unique = {i["column_names"][0] for i in _indexes(engine) if i.get("unique")}
    assert "token_hash" in unique


def _indexes(engine):  # type: ignore[no-untyped-def]
    from sqlalchemy import inspect

    inspector = inspect(engine)
    uniques = inspector.get_unique_constraints("calendar_token")
    return [{"column_names": u["column_names"], "unique": True} for u in uniques] + list(
        inspector.get_indexes("calendar_token")
    )


def test_refusal_time_does_not_depend_on_the_token_prefix(session):
    """Wrong tokens that share 40 of 43 characters with a real one are refused as fast as
    random ones: the lookup compares digests, so a shared prefix buys nothing."""
    _, issued = setup_feed(session)
    real = issued.secret
    near = [real[:40] + secrets.token_urlsafe(3)[:3] for _ in range(40)]
    far = [secrets.token_urlsafe(32) for _ in range(40)]

    def cost(token: str) -> float:
        start = time.perf_counter()
        resolve_token(session, token)
        elapsed = time.perf_counter() - start
        session.rollback()
        return elapsed

    for token in near[:5] + far[:5]:
        cost(token)  # warm up the statement cache and the connection
    near_times, far_times = [], []
    for _ in range(8):
        for a, b in zip(near, far, strict=True):
            near_times.append(cost(a))
            far_times.append(cost(b))
    ratio = statistics.median(near_times) / statistics.median(far_times)
    # Generous: scheduling noise on a shared 2-core machine is far larger than any
    # prefix effect would be; a byte-by-byte comparison of secrets is not what happens.
    assert 0.5 < ratio < 2.0, ratio


def _feed_engine(app):  # type: ignore[no-untyped-def]
    from webapp.calendar import feed_engine

    with app.app_context():
        return feed_engine()


def _refusal_case(session, change: str):  # type: ignore[no-untyped-def]
    """Return (secret of a working token, a function making it stop working) for `change`."""
    site = make_site(session)
    team = make_team(session, sites=[site])
    va = make_user(session, teams=[team])
    make_user(session, teams=[team])  # a colleague who stays: membership is per user
    manager = make_user(session, role=Role.MANAGER)
    if change == "leave team":
        issued = issue_token(session, va, CalendarScope.TEAM, team.id)
    elif change in ("demote", "delete site"):
        issued = issue_token(session, manager, CalendarScope.SITE, site.id)
    elif change == "delete team":
        other = make_team(session)  # not the manager's own: a manager may read any team's queue
        issued = issue_token(session, manager, CalendarScope.TEAM, other.id)
    else:
        issued = issue_token(session, va, CalendarScope.USER)
    session.commit()
    token = issued.token

    def apply() -> None:
        if change == "rotate":
            rotate_token(session, token.user, token.id)
        elif change == "revoke":
            revoke_token(session, token.user, token.id)
        elif change == "deactivate":
            token.user.active = False  # which also revokes the user's tokens
        elif change == "deactivate in bulk":
            # No ORM flush, so no revocation: the lookup's own `active` check refuses.
            session.execute(update(User).where(User.id == token.user_id).values(active=False))
        elif change == "leave team":
            va.teams = []
        elif change == "demote":
            manager.role = Role.VA
        elif change == "delete team":
            session.delete(session.get(Team, token.scope_id))
        elif change == "delete site":
            session.delete(site)
        session.commit()

    return issued.secret, apply


REFUSALS = [
    "rotate",
    "revoke",
    "deactivate",
    "deactivate in bulk",
    "leave team",
    "demote",
    "delete team",
    "delete site",
]


@pytest.mark.parametrize("change", REFUSALS)
def test_a_token_that_stops_working_is_refused_on_the_very_next_request(
    client, session, app, change
):
    """Even a conditional request with the ETag the feed had a moment ago gets the bare 404,
    while the feed's validators are still remembered (CALENDAR_FRESH_SECONDS): only the
    content is remembered, the token is looked up every time."""
    assert app.config.get("CALENDAR_FRESH_SECONDS") is None  # the default: 15 s of memory
    secret, apply = _refusal_case(session, change)
    first = client.get(feed_path(secret))
    assert first.status_code == 200
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert client.get(feed_path(secret), headers={"If-None-Match": etag}).status_code == 304

    apply()
    for headers in ({"If-None-Match": etag}, {"If-Modified-Since": modified}, {}):
        refused = client.get(feed_path(secret), headers=headers)
        assert refused.status_code == 404, (change, headers)
        assert refused.get_data() == b"Not Found\n" and "ETag" not in refused.headers


def test_a_304_is_one_statement_and_one_round_trip(client, session, app):
    """The lookup fetches the token and everything that decides whether it still holds
    (owner active, role, team membership): for every kind of feed a 304 is that one
    statement, on an autocommit connection (no BEGIN, no ROLLBACK) taken without a ping."""
    site = make_site(session)
    team = make_team(session, sites=[site])
    va = make_user(session, teams=[team])
    manager = make_user(session, role=Role.MANAGER)
    secrets_ = [
        issue_token(session, va, CalendarScope.USER).secret,
        issue_token(session, va, CalendarScope.TEAM, team.id).secret,
        issue_token(session, manager, CalendarScope.SITE, site.id).secret,
    ]
    session.commit()
    engine = _feed_engine(app)
    with engine.connect() as connection:  # the driver itself is in autocommit mode
        driver = connection.connection.dbapi_connection
        if engine.dialect.name == "sqlite":
            assert driver.isolation_level is None  # type: ignore[union-attr]
        else:
            assert driver.autocommit  # type: ignore[union-attr]
    statements: list[str] = []
    pings: list[object] = []

    def listen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    def ping(dbapi_connection):  # type: ignore[no-untyped-def]
        pings.append(dbapi_connection)
        return True

    event.listen(engine, "before_cursor_execute", listen)
    engine.dialect.do_ping = ping  # type: ignore[method-assign]
    try:
        etags = {}
        for secret in secrets_:
            etags[secret] = client.get(feed_path(secret)).headers["ETag"]  # stamps last_used_at
            statements.clear()
            response = client.get(feed_path(secret), headers={"If-None-Match": etags[secret]})
            assert response.status_code == 304
            assert len(statements) == 1 and "token_hash" in statements[0], statements
        # With the validators re-checked on every request, the aggregate is the second.
        app.config["CALENDAR_FRESH_SECONDS"] = 0
        statements.clear()
        again = client.get(feed_path(secrets_[0]), headers={"If-None-Match": etags[secrets_[0]]})
        assert again.status_code == 304
        assert len(statements) == 2 and "count(" in statements[1].lower(), statements
        assert pings == []
    finally:
        app.config.pop("CALENDAR_FRESH_SECONDS", None)
        del engine.dialect.do_ping
        event.remove(engine, "before_cursor_execute", listen)


def test_a_feed_request_records_its_use_at_once(client, session):
    _, issued = setup_feed(session)
    assert client.get(feed_path(issued.secret)).status_code == 200
    session.rollback()  # a new transaction: see what the feed's autocommit wrote
    used = session.get(CalendarToken, issued.token.id).last_used_at
    assert used is not None and utcnow() - used < timedelta(minutes=1)


@pytest.mark.postgres_only
def test_a_connection_the_database_dropped_is_replaced_within_the_request(client, session, app):
    """Without a pre-ping, a pooled connection the server has closed (a restart, an idle
    timeout) fails on its first statement: the request is answered on a new one."""
    _, issued = setup_feed(session)
    etag = client.get(feed_path(issued.secret)).headers["ETag"]  # a connection is now pooled
    engine = _feed_engine(app)
    with engine.connect() as connection:
        pooled = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pooled})
    session.commit()
    for _ in range(200):  # the backend exits asynchronously
        gone = session.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pooled}
        )
        if gone.scalar() == 0:
            break
        session.commit()
        time.sleep(0.01)
    lookups: list[str] = []

    def listen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        lookups.append(statement)

    event.listen(engine, "before_cursor_execute", listen)
    try:
        response = client.get(feed_path(issued.secret), headers={"If-None-Match": etag})
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert response.status_code == 304
    assert len(lookups) == 2  # the one that met the closed connection, and the retry
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pooled
