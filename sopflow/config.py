"""Twelve-factor configuration: one place reads the environment.

Everything that varies between a laptop, CI and production comes from the
environment (and a `.env` file beside the project, if any). Defaults are the
embedded set-up: a SQLite file and Prefect's local mode under `instance/`.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import load_dotenv
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """A setting has a value sopflow cannot use; the message names the setting."""


def instance_path() -> Path:
    """Return the folder for local state (SQLite file, secret key, Prefect home)."""
    path = Path(os.environ.get("SOPFLOW_INSTANCE", PROJECT_ROOT / "instance")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_environment() -> None:
    """Load `.env` (without overriding real environment variables) and make
    Prefect local and silent: its home inside `instance/`, no analytics, no
    outside connection."""
    load_dotenv(PROJECT_ROOT / ".env", override=False)
    os.environ.setdefault("PREFECT_HOME", str(instance_path() / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # The temporary server Prefect starts in local mode needs longer than its
    # 20 s default on a cold PREFECT_HOME on a 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")


def database_url(raw: str | None = None) -> str:
    """Return the validated SQLAlchemy URL from `DATABASE_URL` (or `raw`).

    `postgres://` and `postgresql://` are rewritten to psycopg 3's dialect;
    anything else that is neither SQLite nor PostgreSQL raises ConfigError.
    """
    value = raw if raw is not None else os.environ.get("DATABASE_URL", "")
    if not value.strip():
        return f"sqlite:///{instance_path() / 'sopflow.db'}"
    value = value.strip()
    for prefix in ("postgres://", "postgresql://"):
        if value.startswith(prefix):
            value = "postgresql+psycopg://" + value[len(prefix) :]
    try:
        url: URL = make_url(value)
    except ArgumentError:
        raise ConfigError(
            f"DATABASE_URL: {value!r} is not a database URL "
            "(expected sqlite:///path or postgresql+psycopg://user@host/db)"
        ) from None
    if url.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise ConfigError(
            f"DATABASE_URL: driver {url.drivername!r} is not supported "
            "(use sqlite:/// or postgresql+psycopg://)"
        )
    return value


def secret_key() -> str:
    """Return `SECRET_KEY`, or one generated once and kept in `instance/secret_key`."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = instance_path() / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number, got {raw!r}") from None


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: expected true or false, got {raw!r}")


@dataclass(frozen=True)
class MailSettings:
    """SMTP settings; `dry` writes mail to the log instead of sending it."""

    host: str = "localhost"
    port: int = 25
    starttls: bool = False
    username: str = ""
    password: str = ""
    sender: str = "sopflow@localhost"
    dry: bool = True


@dataclass(frozen=True)
class Settings:
    """Every setting sopflow reads, resolved and validated."""

    database_url: str
    secret_key: str
    base_url: str = "http://127.0.0.1:5000"
    session_minutes: int = 15
    sop_dir: Path = PROJECT_ROOT / "sop_definitions"
    mail: MailSettings = field(default_factory=MailSettings)


def load_settings() -> Settings:
    """Return the settings from the environment; raise ConfigError naming a bad one."""
    load_environment()
    mail = MailSettings(
        host=os.environ.get("MAIL_HOST", "localhost"),
        port=_int("MAIL_PORT", 25),
        starttls=_bool("MAIL_STARTTLS", False),
        username=os.environ.get("MAIL_USERNAME", ""),
        password=os.environ.get("MAIL_PASSWORD", ""),
        sender=os.environ.get("MAIL_FROM", "sopflow@localhost"),
        dry=_bool("MAIL_DRY_RUN", True),
    )
    return Settings(
        database_url=database_url(),
        secret_key=secret_key(),
        base_url=os.environ.get("SOPFLOW_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        session_minutes=_int("SESSION_MINUTES", 15),
        sop_dir=Path(os.environ.get("SOPFLOW_SOP_DIR", PROJECT_ROOT / "sop_definitions")),
        mail=mail,
    )
