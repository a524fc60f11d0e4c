"""The main navigation: one list, shown per role, only for endpoints that exist."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app
from flask_login import current_user

from models import Role
from webapp.policy import ADMINS, EVERYONE, MANAGERS


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: str
    roles: tuple[Role, ...]


NAV = (
    NavItem("board.index", "My queue", EVERYONE),
    NavItem("board.team_queue", "Team queue", EVERYONE),
    NavItem("board.manager", "Manager board", MANAGERS),
    NavItem("subjects.index", "Subjects", EVERYONE),
    NavItem("sops.index", "SOPs", MANAGERS),
    NavItem("audit.index", "Audit trail", MANAGERS),
    NavItem("admin.users", "Users", ADMINS),
    NavItem("account.settings", "Settings", EVERYONE),
)


def visible_nav() -> list[NavItem]:
    """Return the items the signed-in user may use, whose blueprint is registered."""
    if not current_user.is_authenticated:
        return []
    views = current_app.view_functions
    return [i for i in NAV if i.endpoint in views and current_user.role in i.roles]


def register(app: Flask) -> None:
    app.context_processor(lambda: {"nav_items": visible_nav()})
