"""The users page: create accounts, change roles and teams, deactivate and reactivate."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from models import Role, User, db
from services import users as accounts
from services.users import UserError, UserForm
from webapp.admin import bp
from webapp.policy import ADMINS, allow


def _form() -> UserForm:
    team_ids = tuple(int(v) for v in request.form.getlist("teams") if v.isdigit())
    return UserForm(
        email=request.form.get("email", ""),
        name=request.form.get("name", ""),
        role=request.form.get("role", ""),
        team_ids=team_ids,
        password=request.form.get("password", ""),
    )


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


def _page(errors: dict[str, str] | None = None, status: int = 200) -> ResponseReturnValue:
    form = request.form if request.method == "POST" else {}
    context = {
        "people": accounts.users(db.session),
        "teams": accounts.teams(db.session),
        "roles": [r.value for r in Role],
        "errors": errors or {},
        "form": form,
        "chosen_teams": request.form.getlist("teams") if request.method == "POST" else [],
    }
    return render_template("admin/users.html", **context), status


@bp.route("/users", methods=["GET", "POST"])
@allow(*ADMINS)
def users() -> ResponseReturnValue:
    """Everyone's account; POST creates one with a first password."""
    if request.method == "GET":
        return _page()
    try:
        user = accounts.create_user(db.session, _form())
    except UserError as exc:
        db.session.rollback()
        return _page(exc.errors, 422)
    db.session.commit()
    flash(f"Created {user.email}. Give them their first password by a separate channel.")
    return redirect(url_for("admin.users"))


def _edit_page(user: User, errors: dict[str, str] | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    chosen = (
        request.form.getlist("teams")
        if request.method == "POST" and "name" in request.form
        else [str(t.id) for t in user.teams]
    )
    context = {
        "person": user,
        "teams": accounts.teams(db.session),
        "roles": [r.value for r in Role],
        "errors": errors or {},
        "chosen_teams": chosen,
    }
    return render_template("admin/user.html", **context), status


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@allow(*ADMINS)
def user(user_id: int) -> ResponseReturnValue:
    """One account: POST saves its name, role and teams."""
    person = _user(user_id)
    if request.method == "GET":
        return _edit_page(person)
    try:
        accounts.update_user(db.session, person, _form(), current_user)
    except UserError as exc:
        db.session.rollback()
        return _edit_page(_user(user_id), exc.errors, 422)
    db.session.commit()
    flash(f"Saved {person.email}.")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<int:user_id>/deactivate")
@allow(*ADMINS)
def deactivate(user_id: int) -> ResponseReturnValue:
    """Deactivate: sessions end, calendar tokens are revoked, open tasks go back to queues."""
    person = _user(user_id)
    try:
        result = accounts.deactivate_user(db.session, person, current_user)
    except UserError as exc:
        db.session.rollback()
        return _edit_page(_user(user_id), exc.errors, 422)
    db.session.commit()
    flash(
        f"Deactivated {person.email}: signed out everywhere, {result.tokens_revoked} calendar "
        f"token(s) revoked, {result.tasks_returned} open task(s) back in their team queues."
    )
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<int:user_id>/activate")
@allow(*ADMINS)
def activate(user_id: int) -> ResponseReturnValue:
    """Let a deactivated user sign in again."""
    person = _user(user_id)
    accounts.reactivate_user(db.session, person)
    db.session.commit()
    flash(f"Reactivated {person.email}.")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<int:user_id>/password")
@allow(*ADMINS)
def password(user_id: int) -> ResponseReturnValue:
    """Set a new password (the user is signed out everywhere)."""
    person = _user(user_id)
    try:
        accounts.set_password(db.session, person, request.form.get("password", ""))
    except UserError as exc:
        db.session.rollback()
        return _edit_page(_user(user_id), exc.errors, 422)
    db.session.commit()
    flash(f"New password set for {person.email}; their sessions were ended.")
    return redirect(url_for("admin.user", user_id=user_id))
