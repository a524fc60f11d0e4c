"""User accounts for the admin page: create, edit roles and teams, deactivate.

Deactivating a user rotates their session nonce (every signed-in session ends),
revokes their calendar tokens and puts their open tasks back in their teams'
queues. All through the ORM, so every change is audited.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from werkzeug.security import generate_password_hash

from models import (
    CalendarToken,
    Role,
    Task,
    TaskEvent,
    TaskStatus,
    Team,
    User,
    open_work,
    utcnow,
)
from models.org import new_session_nonce

MIN_PASSWORD = 12
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,180}\.[^@\s]{2,}$")


class UserError(Exception):
    """The form has problems; `errors` maps each field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class UserForm:
    """What the admin typed (strings as sent; checked here)."""

    email: str = ""
    name: str = ""
    role: str = ""
    team_ids: tuple[int, ...] = ()
    password: str = ""


def users(session: Session) -> Sequence[User]:
    """Return every user with their teams, active ones first, by name."""
    query = select(User).options(selectinload(User.teams)).order_by(User.active.desc(), User.name)
    return session.scalars(query).all()


def teams(session: Session) -> Sequence[Team]:
    """Return every team, by name."""
    return session.scalars(select(Team).order_by(Team.name)).all()


def _teams(session: Session, team_ids: tuple[int, ...], errors: dict[str, str]) -> list[Team]:
    found = list(session.scalars(select(Team).where(Team.id.in_(team_ids)))) if team_ids else []
    if len(found) != len(set(team_ids)):
        errors["teams"] = "Choose teams from the list."
    return found


def _role(value: str, errors: dict[str, str]) -> Role | None:
    try:
        return Role(value)
    except ValueError:
        errors["role"] = "Choose a role: va, manager or admin."
        return None


def _name(value: str, errors: dict[str, str]) -> str:
    name = value.strip()
    if not name:
        errors["name"] = "Give the person's name."
    elif len(name) > 200:
        errors["name"] = "At most 200 characters."
    return name


def _password(value: str, errors: dict[str, str]) -> None:
    if len(value) < MIN_PASSWORD:
        errors["password"] = f"At least {MIN_PASSWORD} characters."
    elif len(value) > 200:
        errors["password"] = "At most 200 characters."


def create_user(session: Session, form: UserForm) -> User:
    """Create an active account; raise UserError naming each bad field."""
    errors: dict[str, str] = {}
    email = form.email.strip().lower()
    if not _EMAIL.match(email) or len(email) > 254:
        errors["email"] = "Give an e-mail address like name@example.org."
    elif session.scalar(select(User.id).where(func.lower(User.email) == email)):
        errors["email"] = "An account with this e-mail exists."
    name = _name(form.name, errors)
    role = _role(form.role, errors)
    chosen = _teams(session, form.team_ids, errors)
    _password(form.password, errors)
    if errors:
        raise UserError(errors)
    user = User(
        email=email, name=name, role=role, password_hash=generate_password_hash(form.password)
    )
    user.teams = chosen
    session.add(user)
    session.flush()
    return user


def update_user(session: Session, user: User, form: UserForm, by: User) -> None:
    """Change a user's name, role and teams; an admin cannot demote themself."""
    errors: dict[str, str] = {}
    name = _name(form.name, errors)
    role = _role(form.role, errors)
    chosen = _teams(session, form.team_ids, errors)
    if user.id == by.id and role is not None and role is not Role.ADMIN:
        errors["role"] = "You cannot remove your own admin role."
    if errors:
        raise UserError(errors)
    user.name = name
    user.role = role  # type: ignore[assignment]
    if {t.id for t in user.teams} != {t.id for t in chosen}:
        user.teams = chosen


def set_password(session: Session, user: User, password: str) -> None:
    """Set a new password and sign the user out everywhere."""
    errors: dict[str, str] = {}
    _password(password, errors)
    if errors:
        raise UserError(errors)
    user.password_hash = generate_password_hash(password)
    user.session_nonce = new_session_nonce()


@dataclass(frozen=True)
class Deactivation:
    """What deactivating did: tokens revoked and tasks returned to team queues."""

    tokens_revoked: int
    tasks_returned: int


def deactivate_user(session: Session, user: User, by: User) -> Deactivation:
    """Deactivate `user`: end their sessions, revoke their calendar tokens, and return
    their open tasks to their teams' queues (tasks without a team stay, for a manager)."""
    if user.id == by.id:
        raise UserError({"active": "You cannot deactivate your own account."})
    now = utcnow()
    tokens = session.scalars(
        select(CalendarToken).where(
            CalendarToken.user_id == user.id, CalendarToken.revoked_at.is_(None)
        )
    ).all()
    user.active = False
    user.session_nonce = new_session_nonce()
    for token in tokens:
        token.revoked_at = now
    tasks = session.scalars(
        select(Task).where(
            Task.assignee_id == user.id,
            open_work(),
            Task.team_id.is_not(None),
        )
    ).all()
    for task in tasks:
        task.assignee_id = None
        if task.status is TaskStatus.IN_PROGRESS:
            task.status = TaskStatus.OPEN
        session.add(
            TaskEvent(
                task_id=task.id,
                actor_id=by.id,
                kind="reassigned",
                message=f"Back to the team queue: {user.name} was deactivated",
                at=now,
            )
        )
    return Deactivation(len(tokens), len(tasks))


def reactivate_user(session: Session, user: User) -> None:
    """Let a deactivated user sign in again (their old sessions stay ended)."""
    user.active = True
