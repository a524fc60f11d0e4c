"""`/calendar/<token>.ics`: a private feed, authenticated by its token alone (no session).

Every refusal (unknown, rotated, revoked token; deactivated user; feed no
longer allowed) is the same bare 404, with no hint that the token ever existed.
"""

from __future__ import annotations

from email.utils import format_datetime

from flask import Blueprint, Response, current_app, request

from models import db, utcnow
from services.calendar import FeedState, build_feed, feed_state, record_use, resolve_token
from services.calendar.events import Form

bp = Blueprint("calendar", __name__)

CONTENT_TYPE = "text/calendar; charset=utf-8"
# A conditional request within this many seconds of the feed's last check (in this
# process) is answered from memory: a 304 may be this stale, clients poll hourly.
# Set CALENDAR_FRESH_SECONDS = 0 to check the database on every request.
FRESH_SECONDS = 15.0


def _not_found() -> Response:
    return Response("Not Found\n", 404, content_type="text/plain; charset=utf-8")


def _not_modified(etag: str, last_modified_ts: float) -> bool:
    """Apply RFC 9110's precedence: If-None-Match when sent, else If-Modified-Since."""
    if request.if_none_match:
        return request.if_none_match.contains_weak(etag.strip('"'))
    since = request.if_modified_since
    return since is not None and last_modified_ts <= since.timestamp()


@bp.get("/calendar/<token>.ics")
def feed(token: str) -> Response:
    """Return the token's feed (text/calendar), or 304 when the client's copy is current.

    `?format=todo` serves VTODOs instead of VEVENTs, for clients that show tasks.
    """
    now = utcnow()
    # A feed only reads (and, now and then, stamps last_used_at): autocommit saves the
    # BEGIN and ROLLBACK a transaction would add to every poll. (A signed-in browser
    # opening the link has already begun one, loading its user: that one is kept.)
    if not db.session().in_transaction():
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    grant = resolve_token(db.session, token, now)
    if grant is None:
        db.session.rollback()
        return _not_found()
    if record_use(db.session, grant, now):
        db.session.commit()
    form: Form = "todo" if request.args.get("format") == "todo" else "event"
    if request.if_none_match or request.if_modified_since:
        fresh_for = current_app.config.get("CALENDAR_FRESH_SECONDS", FRESH_SECONDS)
        state = feed_state(db.session, grant, form, now, fresh_for)
        if _not_modified(state.etag, state.last_modified.timestamp()):
            db.session.rollback()
            return Response(status=304, headers=_validators(state))
    base_url = current_app.config["SOPFLOW_SETTINGS"].base_url
    built = build_feed(db.session, grant, form, now, base_url)
    db.session.rollback()  # end the read transaction before sending the body
    headers = _validators(built.state)
    headers["Content-Disposition"] = 'inline; filename="sopflow.ics"'
    return Response(built.body, 200, headers=headers, content_type=CONTENT_TYPE)


def _validators(state: FeedState) -> dict[str, str]:
    return {
        "ETag": state.etag,
        "Last-Modified": format_datetime(state.last_modified, usegmt=True),
        # Private: the feed is one person's; revalidate on every poll (cheap: a 304).
        "Cache-Control": "private, no-cache",
        "X-Robots-Tag": "noindex",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
