"""Login sessions: how a cookie maps to a user, inactivity expiry, the audit actor."""

from __future__ import annotations

from flask import request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from models import Actor, User, db, set_actor
from models.audit import SYSTEM
from webapp import htmx
from webapp.auth import bp
from webapp.extensions import login_manager

login_manager.login_view = "auth.login"
login_manager.login_message = "Please sign in to continue."
login_manager.session_protection = "basic"


@login_manager.user_loader
def load_user(identity: str) -> User | None:
    """Return the active user this cookie identity names, or None (signed out)."""
    user_id, _, nonce = identity.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_nonce != nonce:
        return None
    return user


@login_manager.unauthorized_handler
def unauthorized() -> ResponseReturnValue:
    """Send the browser to sign in and back; an HTMX request is redirected as a whole page."""
    next_url = htmx.current_url_path() or request.full_path.rstrip("?")
    target = url_for("auth.login", next=next_url)
    if htmx.is_htmx():
        return htmx.full_page_redirect(target)
    return htmx.redirect(target)


COOKIELESS_BLUEPRINTS = frozenset({"calendar", "health"})


@bp.before_app_request
def keep_session_alive_and_set_actor() -> None:
    """Slide the inactivity window on each request and attribute changes to the user.

    Calendar feeds are fetched by calendar clients with a token, not a session:
    they get no session cookie (and no `Vary: Cookie`).
    """
    if request.blueprint in COOKIELESS_BLUEPRINTS:
        set_actor(Actor(None, f"feed:{request.blueprint}"))
        return
    session.permanent = True
    if current_user.is_authenticated:
        set_actor(Actor(current_user.id, current_user.email))
    else:
        set_actor(Actor(None, "anonymous"))


@bp.teardown_app_request
def forget_actor(exc: BaseException | None) -> None:
    """Clear the request's actor: the thread (or a test) may run other work next."""
    set_actor(SYSTEM)
