"""Configuration: one clear line per bad setting; the embedded defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sopflow.config import ConfigError, database_url, load_settings, secret_key

ROOT = Path(__file__).resolve().parent.parent


def test_default_database_is_sqlite_under_instance(monkeypatch, tmp_path):
    monkeypatch.setenv("SOPFLOW_INSTANCE", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert database_url() == f"sqlite:///{tmp_path / 'sopflow.db'}"


@pytest.mark.parametrize(
    "raw",
    ["postgres://u@h/db", "postgresql://u@h/db", "postgresql+psycopg://u@h/db"],
)
def test_postgres_urls_use_psycopg3(raw):
    assert database_url(raw) == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://root@localhost/db", "driver 'mysql' is not supported"),
        ("postgresql+asyncpg://u@h/db", "driver 'postgresql+asyncpg' is not supported"),
    ],
)
def test_bad_database_url_names_the_setting(raw, fragment):
    with pytest.raises(ConfigError) as info:
        database_url(raw)
    assert str(info.value).startswith("DATABASE_URL: ")
    assert fragment in str(info.value)


def test_secret_key_is_generated_once_and_kept(monkeypatch, tmp_path):
    monkeypatch.setenv("SOPFLOW_INSTANCE", str(tmp_path))
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = secret_key()
    assert len(first) == 64
    assert secret_key() == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    assert secret_key() == "from-the-environment"


def test_prefect_is_kept_local_and_silent(monkeypatch, tmp_path):
    monkeypatch.setenv("SOPFLOW_INSTANCE", str(tmp_path))
    for name in ("PREFECT_HOME", "PREFECT_SERVER_ANALYTICS_ENABLED", "DO_NOT_TRACK"):
        monkeypatch.delenv(name, raising=False)
    load_settings()
    assert os.environ["PREFECT_HOME"] == str(tmp_path / "prefect")
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert os.environ["DO_NOT_TRACK"] == "1"


def test_bad_number_setting_is_named(monkeypatch):
    monkeypatch.setenv("SESSION_MINUTES", "fifteen")
    with pytest.raises(ConfigError, match="SESSION_MINUTES: expected a whole number"):
        load_settings()


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-m", "sopflow.cli", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=120,
    )


def test_cli_bad_database_url_is_one_line(tmp_path):
    result = run_cli("check", DATABASE_URL="mysql://x@y/z", SOPFLOW_INSTANCE=str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "sopflow: configuration error: DATABASE_URL: driver 'mysql' is not supported "
        "(use sqlite:/// or postgresql+psycopg://)"
    ]
    assert "Traceback" not in result.stderr


def test_cli_unreachable_postgres_is_one_line(tmp_path):
    result = run_cli(
        "check",
        DATABASE_URL="postgresql://postgres@127.0.0.1:1/nowhere",
        SOPFLOW_INSTANCE=str(tmp_path),
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sopflow: DATABASE_URL: cannot use the database")
    assert "Traceback" not in result.stderr


def test_cli_seed_on_unmigrated_database_says_migrate(tmp_path):
    result = run_cli(
        "seed-demo",
        DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}",
        SOPFLOW_INSTANCE=str(tmp_path),
    )
    assert result.returncode != 0
    assert "has no schema yet" in result.stderr and "Run: sopflow db upgrade" in result.stderr
    assert "Traceback" not in result.stderr
