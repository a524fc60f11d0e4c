"""The task board: my queue, the team queue, a task's page and its actions, and the
manager board."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("board", __name__)

from webapp.board import manager, queues, tasks  # noqa: E402,F401  (register the routes)
