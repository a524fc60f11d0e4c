"""`/calendar/<token>.ics`: a private feed, authenticated by its token alone (no session).

Every refusal (unknown, rotated, revoked token; deactivated user; feed no
longer allowed) is the same bare 404, with no hint that the token ever existed.

Calendar clients poll, mostly to be told 304, so the feed does not use the ORM
session: it runs Core statements on one connection of its own engine (see
`feed_engine`). While the feed's validators are remembered (FRESH_SECONDS), a 304
costs one round trip: the token lookup, which also fetches everything that decides
whether the token still holds.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from flask import Blueprint, Response, current_app, request
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.exc import DBAPIError

from models import db, utcnow
from services.calendar import FeedState, build_feed, feed_state, record_use, resolve_token
from services.calendar.events import Form
from webapp.extensions import limiter

bp = Blueprint("calendar", __name__)

CONTENT_TYPE = "text/calendar; charset=utf-8"
# A conditional request within this many seconds of the feed's last check (in this
# process) is answered from memory: a 304 may be this stale, clients poll hourly.
# Only the feed's content is remembered: the token is looked up on every request.
# Set CALENDAR_FRESH_SECONDS = 0 to check the content on every request too.
FRESH_SECONDS = 15.0
ENGINE_KEY = "sopflow.calendar_engine"  # where the app keeps its feed engine
_engine_lock = threading.Lock()


def _not_found() -> Response:
    return Response("Not Found\n", 404, content_type="text/plain; charset=utf-8")


@limiter.request_filter
def _feeds_are_not_rate_limited() -> bool:
    """Return True for a feed request, which Flask-Limiter then skips (no feed has a limit).

    Per-address limits would not fit feeds anyway: a calendar service fetches every
    subscriber's feed from a few addresses of its own, and a 256-bit token cannot be
    guessed. Skipping spares each poll the limiter's search for limits that apply.
    """
    return request.blueprint == bp.name


def _is_conditional() -> bool:
    """Return True when the request carries a validator (If-None-Match, If-Modified-Since)."""
    headers = request.headers
    return "If-None-Match" in headers or "If-Modified-Since" in headers


def _not_modified(state: FeedState) -> bool:
    """Return True when the client's copy is current, by RFC 9110's precedence:
    If-None-Match when sent, else If-Modified-Since."""
    # Calendar clients send back the ETag they were given: equal, it matches, and the
    # header need not be parsed.
    if request.headers.get("If-None-Match") == state.etag:
        return True
    if request.if_none_match:
        return request.if_none_match.contains_weak(state.etag.strip('"'))
    since = request.if_modified_since
    return since is not None and state.last_modified.timestamp() <= since.timestamp()


def feed_engine() -> Engine:
    """Return the current app's engine for feed requests, created on first use.

    The app's database, in a pool of its own that differs in two ways. No pre-ping,
    which costs a round trip of its own (`SELECT 1`) at every checkout: a connection
    the database has dropped fails on its first statement instead, and
    `_on_feed_connection` retries. And AUTOCOMMIT, set once per connection rather
    than switched at each checkout and reset at each return: a feed only reads (and
    now and then stamps last_used_at), so BEGIN ... ROLLBACK would be two round trips
    for nothing.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    engine: Engine | None = app.extensions.get(ENGINE_KEY)
    if engine is None:
        with _engine_lock:
            engine = app.extensions.get(ENGINE_KEY)
            if engine is None:
                engine = app.extensions[ENGINE_KEY] = _create_feed_engine(db.engine, app.config)
    return engine


def _create_feed_engine(main: Engine, config: dict[str, Any]) -> Engine:
    """Return an AUTOCOMMIT engine without pre-ping on `main`'s database (or `main` in
    AUTOCOMMIT mode for an in-memory SQLite database, which a second pool cannot see)."""
    url = main.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return main.execution_options(isolation_level="AUTOCOMMIT")
    options = {"echo": main.echo, **config.get("SQLALCHEMY_ENGINE_OPTIONS", {})}
    options.update(isolation_level="AUTOCOMMIT", pool_pre_ping=False)
    return create_engine(url, **options)


def _on_feed_connection(answer: Callable[[Connection], Response]) -> Response:
    """Return `answer(connection)`, computed on a connection of `feed_engine()`.

    Without a pre-ping, a pooled connection the database has closed since (a
    restart, an idle timeout) fails on its first statement; SQLAlchemy then
    discards it, marks every older pooled connection to be replaced at its next
    checkout, and the answer (which only reads, and stamps last_used_at) is
    computed once more on a new connection.
    """
    engine = feed_engine()
    try:
        with engine.connect() as connection:
            return answer(connection)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    with engine.connect() as connection:
        return answer(connection)


@bp.get("/calendar/<token>.ics")
def feed(token: str) -> Response:
    """Return the token's feed (text/calendar), or 304 when the client's copy is current.

    `?format=todo` serves VTODOs instead of VEVENTs, for clients that show tasks.
    """
    form: Form = "todo" if request.args.get("format") == "todo" else "event"
    now = utcnow()
    return _on_feed_connection(lambda connection: _answer(connection, token, form, now))


def _answer(connection: Connection, token: str, form: Form, now: datetime) -> Response:
    """Return the response to a feed request: 404, 304 or the feed (autocommit: each
    statement is its own transaction, and the last_used_at stamp is stored at once)."""
    grant = resolve_token(connection, token, now)
    if grant is None:
        return _not_found()
    record_use(connection, grant, now)
    if _is_conditional():
        fresh_for = current_app.config.get("CALENDAR_FRESH_SECONDS", FRESH_SECONDS)
        state = feed_state(connection, grant, form, now, fresh_for)
        if _not_modified(state):
            return Response(status=304, headers=_validators(state))
    base_url = current_app.config["SOPFLOW_SETTINGS"].base_url
    built = build_feed(connection, grant, form, now, base_url)
    headers = [*_validators(built.state), ("Content-Disposition", 'inline; filename="sopflow.ics"')]
    return Response(built.body, 200, headers=headers, content_type=CONTENT_TYPE)


@functools.lru_cache(maxsize=4096)
def _validators(state: FeedState) -> tuple[tuple[str, str], ...]:
    """Return the headers a feed's response carries, 200 or 304 (cached per state: a
    feed's state is the same for every poll until its content changes)."""
    return (
        ("ETag", state.etag),
        ("Last-Modified", format_datetime(state.last_modified, usegmt=True)),
        # Private: the feed is one person's; revalidate on every poll (cheap: a 304).
        ("Cache-Control", "private, no-cache"),
        ("X-Robots-Tag", "noindex"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
    )
