"""Administration: user accounts, their roles and teams (admins only)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from webapp.admin import routes  # noqa: E402,F401  (register the routes)
