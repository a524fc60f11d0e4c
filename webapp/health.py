"""`/healthz`: is the process up and does the database answer?"""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from models import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Return 200 {"status": "ok"} when a query succeeds, else 503 with the error class."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        db.session.rollback()
        return jsonify(status="error", database=type(exc).__name__), 503
    return jsonify(status="ok", database="ok")
