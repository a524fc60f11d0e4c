"""The audit trail: a filtered view for managers and admins, and its CSV export."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("audit", __name__, url_prefix="/audit")

from webapp.audit import routes  # noqa: E402,F401  (register the routes)
