"""Sign-in and sign-out pages."""

from __future__ import annotations

import functools
import secrets
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from models import User, db, record, utcnow
from webapp.auth import bp
from webapp.extensions import limiter


@functools.cache
def _dummy_hash() -> str:
    """Return a hash to check when the e-mail is unknown, so both paths cost the same."""
    return generate_password_hash(secrets.token_hex(16))


def safe_next(target: str | None) -> str:
    """Return `target` if it is a path on this site, else the board (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("board.index")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10 per minute; 50 per hour", methods=["POST"])
def login() -> ResponseReturnValue:
    """Show the sign-in form; on POST, sign in and go to `next` or the board."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    error = None
    email = ""
    if request.method == "POST":
        email = request.form.get("email", "").strip().lower()
        password = request.form.get("password", "")
        user = db.session.scalar(select(User).where(func.lower(User.email) == email))
        valid = check_password_hash(user.password_hash if user else _dummy_hash(), password)
        if user is not None and valid and user.active:
            login_user(user)
            user.last_login_at = utcnow()
            record(db.session, "login", "user_account", user.id)
            db.session.commit()
            return redirect(safe_next(request.args.get("next")))
        error = "That e-mail and password do not match an active account."
    return render_template("auth/login.html", error=error, email=email), (401 if error else 200)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Sign out and return to the sign-in page."""
    logout_user()
    flash("You are signed out.")
    return redirect(url_for("auth.login"))
