"""Sign-in, sign-out, session expiry and who the actor is for the audit trail."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("auth", __name__)

from webapp.auth import routes, session  # noqa: E402,F401  (register routes and hooks)
