"""The signed-in user's settings: private calendar links and the e-mail digest.

A calendar link's secret exists only in the response that creates it: it is
rendered into that response (never put in the session cookie, which is signed,
not encrypted) and cannot be shown again; rotate it to get a new one.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user

from models import CalendarToken, db
from services.calendar import (
    CalendarTokenError,
    IssuedToken,
    active_tokens,
    available_feeds,
    issue_token,
    parse_choice,
    revoke_token,
    rotate_token,
)
from webapp import htmx
from webapp.policy import allow_any_signed_in

bp = Blueprint("account", __name__)


def feed_links(secret: str) -> dict[str, str]:
    """Return the https and webcal:// addresses of the feed a secret opens."""
    base = current_app.config["SOPFLOW_SETTINGS"].base_url
    https = base + url_for("calendar.feed", token=secret)
    parts = urlsplit(https)
    webcal = urlunsplit(("webcal", *parts[1:]))
    return {"https": https, "webcal": webcal, "todo": https + "?format=todo"}


def _feeds_context(issued: IssuedToken | None = None) -> dict[str, object]:
    tokens = active_tokens(db.session, current_user)
    by_feed: dict[tuple[str, int | None], CalendarToken] = {
        (t.scope.value, t.scope_id): t for t in tokens
    }
    rows = []
    for choice in available_feeds(db.session, current_user):
        token = by_feed.get((choice.scope.value, choice.scope_id))
        fresh = issued is not None and token is not None and issued.token.id == token.id
        rows.append(
            {
                "choice": choice,
                "token": token,
                "links": feed_links(issued.secret) if fresh and issued else None,
            }
        )
    return {"feeds": rows}


def _render_feeds(issued: IssuedToken | None = None) -> ResponseReturnValue:
    context = _feeds_context(issued)
    template = "account/_feeds.html" if htmx.wants_fragment() else "account/settings.html"
    response = make_response(render_template(template, **context))
    if issued is not None:  # the page holds a secret: no copy in any cache or history
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/settings")
@allow_any_signed_in
def settings() -> ResponseReturnValue:
    """Show the user's calendar links and e-mail preferences."""
    return _render_feeds()


@bp.post("/settings/calendar")
@allow_any_signed_in
def create_link() -> ResponseReturnValue:
    """Create the link of one feed and show it, once."""
    try:
        scope, scope_id = parse_choice(request.form.get("feed", ""))
        issued = issue_token(db.session, current_user, scope, scope_id)
    except (ValueError, CalendarTokenError):
        db.session.rollback()
        abort(400, "That calendar cannot be subscribed to.")
    db.session.commit()
    return _render_feeds(issued)


@bp.post("/settings/calendar/<int:token_id>/rotate")
@allow_any_signed_in
def rotate_link(token_id: int) -> ResponseReturnValue:
    """Replace a link by a new one (the old one stops working now) and show it, once."""
    try:
        issued = rotate_token(db.session, current_user, token_id)
    except CalendarTokenError:
        db.session.rollback()
        abort(404)
    db.session.commit()
    return _render_feeds(issued)


@bp.post("/settings/calendar/<int:token_id>/revoke")
@allow_any_signed_in
def revoke_link(token_id: int) -> ResponseReturnValue:
    """Revoke a link: calendars subscribed to it stop updating."""
    try:
        revoke_token(db.session, current_user, token_id)
    except CalendarTokenError:
        db.session.rollback()
        abort(404)
    db.session.commit()
    if htmx.wants_fragment():
        return _render_feeds()
    flash("The calendar link was revoked.")
    return redirect(url_for("account.settings"))


@bp.post("/settings/digest")
@allow_any_signed_in
def digest() -> ResponseReturnValue:
    """Turn the morning digest on or off (warnings and escalations always go out)."""
    current_user.digest_opt_out = request.form.get("digest") != "on"
    db.session.commit()
    if htmx.wants_fragment():
        return render_template("account/_digest.html", saved=True)
    flash("Your e-mail preference was saved.")
    return redirect(url_for("account.settings"))
