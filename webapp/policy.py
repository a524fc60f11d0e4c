"""Who may do what: one decorator per route, never ad-hoc `if role` checks in views.

`@allow(Role.MANAGER, Role.ADMIN)` signs the anonymous in (Flask-Login) and
answers 403 to a signed-in user without the role. `@allow_any_signed_in`
admits every active user. A view's own data rules (a VA sees only their
teams' sites) live in the query helpers it calls.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, g
from flask_login import current_user, login_required

from models import Role, db
from services.tasks.access import Scope, scope_for

F = TypeVar("F", bound=Callable[..., Any])

EVERYONE = (Role.VA, Role.MANAGER, Role.ADMIN)
MANAGERS = (Role.MANAGER, Role.ADMIN)
ADMINS = (Role.ADMIN,)


def allow(*roles: Role) -> Callable[[F], F]:
    """Return a decorator admitting signed-in users whose role is one of `roles`."""

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        guarded.allowed_roles = frozenset(roles)  # type: ignore[attr-defined]
        return login_required(guarded)  # type: ignore[return-value]

    return decorate


allow_any_signed_in = allow(*EVERYONE)


def is_manager() -> bool:
    """Return True when the signed-in user is a manager or an admin."""
    return current_user.is_authenticated and current_user.role in MANAGERS


def current_scope() -> Scope:
    """Return what the signed-in user may see (their teams and sites), once per request."""
    if "sopflow_scope" not in g:
        g.sopflow_scope = scope_for(db.session, current_user._get_current_object())
    return g.sopflow_scope
