"""The task board. For now: the signed-in user's open tasks (the full board is issue 4)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user

from models import db
from services.tasks.queries import open_tasks_for_user
from webapp.policy import allow_any_signed_in

bp = Blueprint("board", __name__)


@bp.get("/")
@allow_any_signed_in
def index() -> ResponseReturnValue:
    """Show the signed-in user's open tasks, overdue and soonest due first."""
    tasks = open_tasks_for_user(db.session, current_user.id, limit=200)
    return render_template("board/index.html", tasks=tasks)
