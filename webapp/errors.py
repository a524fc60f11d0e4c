"""Error pages: a clear message for every failure, never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from models import db

log = logging.getLogger(__name__)


def register(app: Flask) -> None:
    """Install handlers for HTTP errors, CSRF failures and unexpected exceptions."""

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> ResponseReturnValue:
        message = "Your form expired or was not sent from this site. Reload the page and try again."
        return _render(400, "Request refused", message)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        return _render(exc.code or 500, exc.name, exc.description or "")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> ResponseReturnValue:
        db.session.rollback()
        # The path only, never the query string or form: those may carry PHI.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _render(500, InternalServerError.name, "Something went wrong; nothing was saved.")


def _render(code: int, title: str, message: str) -> ResponseReturnValue:
    return render_template("errors/error.html", code=code, title=title, message=message), code
