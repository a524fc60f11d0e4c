"""The task board. For now: the signed-in user's open tasks (the full board is issue 4)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from models import db
from services.tasks.queries import open_tasks_for_user

bp = Blueprint("board", __name__)


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    """Show the signed-in user's open tasks, overdue and soonest due first."""
    tasks = open_tasks_for_user(db.session, current_user.id, limit=200)
    return render_template("board/index.html", tasks=tasks)
