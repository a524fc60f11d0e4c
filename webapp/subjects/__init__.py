"""Subjects: searchable lists and detail pages of patients, physicians, practices,
documents, disposal records and inspections (read-only), within the user's sites."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("subjects", __name__, url_prefix="/subjects")

from webapp.subjects import routes  # noqa: E402,F401  (register the routes)
