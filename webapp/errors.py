"""Error pages: a clear message for every failure, never a traceback.

An htmx request gets the message as a small notice for the page's live region
instead of a whole error page. A state-changing request whose session has
expired (so its CSRF token can no longer be checked) is sent to sign in, like
any other request of a signed-out user. A view can re-render its own form for
an oversized upload by carrying an `on_too_large` function.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Flask, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError, RequestEntityTooLarge

from models import db
from webapp import htmx
from webapp.extensions import login_manager

log = logging.getLogger(__name__)

CSRF_MESSAGE = "Your form expired or was not sent from this site. Reload the page and try again."


def _referring_path() -> str:
    """Return the path (and query) of the referring page on this site, else the board."""
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc == request.host and referrer.path.startswith("/"):
        return referrer.path + (f"?{referrer.query}" if referrer.query else "")
    return url_for("board.index")


def _view() -> object | None:
    return current_app.view_functions.get(request.endpoint or "")


def register(app: Flask) -> None:
    """Install handlers for HTTP errors, CSRF failures and unexpected exceptions."""

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> ResponseReturnValue:
        guarded = getattr(_view(), "allowed_roles", None) is not None
        if guarded and not current_user.is_authenticated:
            if request.method != "GET" and not htmx.is_htmx():
                # Back to the page the form was on, not to the form's action.
                return redirect(url_for("auth.login", next=_referring_path()))
            return login_manager.unauthorized()
        return _render(400, "Request refused", CSRF_MESSAGE)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge) -> ResponseReturnValue:
        handler = getattr(_view(), "on_too_large", None)
        if handler is not None and current_user.is_authenticated:
            return handler(**(request.view_args or {}))
        return _render(413, "Too large", "The upload is too large.")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        return _render(exc.code or 500, exc.name, exc.description or "")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> ResponseReturnValue:
        db.session.rollback()
        # The endpoint, never the path (a feed's path is its token), the query
        # string or the form (they may carry PHI).
        log.exception("unhandled error on %s %s", request.method, request.endpoint)
        return _render(500, InternalServerError().name, "Something went wrong; nothing was saved.")


def _render(code: int, title: str, message: str) -> ResponseReturnValue:
    if htmx.is_htmx():
        notice = render_template("_toast.html", message=message, tone="danger", oob=False)
        return notice, code
    return render_template("errors/error.html", code=code, title=title, message=message), code
