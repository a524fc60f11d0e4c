"""The sopflow web application: an app factory and its blueprints."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import Flask
from htmx_flask import Htmx

from models import db
from models.task_references import include_object
from sopflow.config import PROJECT_ROOT, instance_path, load_settings
from sopflow.database import engine_options

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
STATIC_VENDOR = PROJECT_ROOT / "webapp" / "static" / "vendor"


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Return a configured Flask app; `overrides` win over the environment (tests)."""
    settings = load_settings()
    app = Flask(__name__, instance_path=str(instance_path()))
    app.config.from_mapping(
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SOPFLOW_SETTINGS=settings,
        SESSION_MINUTES=settings.session_minutes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_DURATION=timedelta(seconds=0),
        WTF_CSRF_TIME_LIMIT=None,  # the session's own lifetime bounds the token
        MAX_CONTENT_LENGTH=10 * 1024 * 1024,
        RATELIMIT_STORAGE_URI="memory://",
        RATELIMIT_HEADERS_ENABLED=True,
    )
    # Installed by `make assets` from the npm registry; without it the board still
    # works as plain links and forms.
    app.config["HTMX_AVAILABLE"] = (STATIC_VENDOR / "htmx.min.js").exists()
    if overrides:
        app.config.update(overrides)
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config["SQLALCHEMY_DATABASE_URI"])
    )
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(minutes=app.config["SESSION_MINUTES"])

    _init_extensions(app)
    _register_blueprints(app)
    return app


def _init_extensions(app: Flask) -> None:
    from webapp.extensions import csrf, limiter, login_manager, migrate

    db.init_app(app)
    migrate.init_app(
        app,
        db,
        directory=str(MIGRATIONS_DIR),
        render_as_batch=True,
        include_object=include_object,
    )
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    Htmx(app)


def _register_blueprints(app: Flask) -> None:
    from webapp import errors, formatting, health, htmx, nav
    from webapp.account import bp as account_bp
    from webapp.admin import bp as admin_bp
    from webapp.audit import bp as audit_bp
    from webapp.auth import bp as auth_bp
    from webapp.board import bp as board_bp
    from webapp.calendar import bp as calendar_bp
    from webapp.reminders import bp as reminders_bp
    from webapp.sops import bp as sops_bp
    from webapp.subjects import bp as subjects_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(board_bp)
    app.register_blueprint(subjects_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(calendar_bp)
    app.register_blueprint(account_bp)
    app.register_blueprint(reminders_bp)
    app.register_blueprint(sops_bp)
    app.register_blueprint(health.bp)
    errors.register(app)
    nav.register(app)
    formatting.register(app)
    htmx.init_app(app)
