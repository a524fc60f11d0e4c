"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL tests need `SOPFLOW_TEST_DATABASE_URL` (a server the tests may
create databases on). Without it they skip, unless `REQUIRE_POSTGRES=1`
(CI), where they fail instead. Browser tests likewise with `REQUIRE_BROWSER=1`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Keep tests away from the developer's instance/ (database, secret key, Prefect home).
os.environ.setdefault("SOPFLOW_INSTANCE", tempfile.mkdtemp(prefix="sopflow-test-"))
os.environ.setdefault("PREFECT_HOME", str(Path(os.environ["SOPFLOW_INSTANCE"]) / "prefect"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.pop("DATABASE_URL", None)

from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests.support.databases import (
    BACKENDS,
    clear_database,
    postgres_url_or_skip,
    prepare_database,
)


def _backend_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("backend") if callspec else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under REQUIRE_POSTGRES, PostgreSQL must be configured. Tests marked
    `postgres_only` run on PostgreSQL alone; tests marked `one_backend` run once, on
    PostgreSQL when it is configured, else on SQLite. Their other variant is
    deselected (not skipped), so a skip in the report always means something."""
    has_postgres = bool(os.environ.get("SOPFLOW_TEST_DATABASE_URL"))
    if os.environ.get("REQUIRE_POSTGRES") == "1" and not has_postgres:
        raise pytest.UsageError("REQUIRE_POSTGRES=1 but SOPFLOW_TEST_DATABASE_URL is not set")
    keep, drop = [], []
    for item in items:
        backend = _backend_of(item)
        if (item.get_closest_marker("postgres_only") and backend == "sqlite") or (
            item.get_closest_marker("one_backend")
            and backend is not None
            and backend != ("postgresql" if has_postgres else "sqlite")
        ):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    """Print how many PostgreSQL and browser tests ran, so CI's log proves they did."""
    for marker in ("postgres", "browser"):
        counts = {}
        for outcome in ("passed", "failed", "skipped", "error"):
            reports = terminalreporter.stats.get(outcome, [])
            matching = [
                r
                for r in reports
                if getattr(r, "when", "call") in ("call", "setup")
                and marker in getattr(r, "keywords", {})
            ]
            # A test has setup and call reports; count each test once.
            counts[outcome] = len({r.nodeid for r in matching})
        terminalreporter.write_line(
            f"{marker} tests: {counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['skipped']} skipped, {counts['error']} errors"
        )


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Return "sqlite" or "postgresql"; PostgreSQL skips (or fails in CI) when unreachable."""
    if request.param == "postgresql":
        postgres_url_or_skip()
    return request.param


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Return the URL of a migrated, empty test database of `backend` for this worker."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / f'test-{worker}.db'}"
    else:
        url = postgres_url_or_skip(suffix=worker)
    prepare_database(url)
    return url


@pytest.fixture(scope="session")
def app(database_url: str) -> Iterator[Flask]:
    """Return the Flask app on the test database (one per backend per session)."""
    from webapp import create_app

    application = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "RATELIMIT_ENABLED": False,
        }
    )
    yield application
    with application.app_context():
        from models import db

        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def engine(app: Flask) -> Engine:
    """Return the app's engine (on the test database of the current backend)."""
    from models import db

    with app.app_context():
        return db.engine


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """Return a session on an empty test database; the database is emptied after.

    A plain Session, not `db.session`: holding an app context for the whole test
    would make the test client's requests share it (and Flask-Login's cached
    user in `g`), which production requests never do. Services take the session
    as an argument, so they run on this one as they do on the app's.
    """
    db_session = Session(engine)
    try:
        yield db_session
    finally:
        # An idle-in-transaction session would block the cleanup on PostgreSQL.
        db_session.rollback()
        db_session.close()
        clear_database(engine)


@pytest.fixture
def client(app: Flask, session: Session):  # type: ignore[no-untyped-def]
    """Return a test client on an emptied database."""
    return app.test_client()


@pytest.fixture(scope="session")
def prefect_harness():  # type: ignore[no-untyped-def]
    """One temporary Prefect server for the whole session (it takes seconds to start),
    shared by every module that runs real flows."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    """Return a headless Chromium shared by the session's browser tests."""
    from playwright.sync_api import sync_playwright

    from tests.support.browser import LAUNCH_ARGS, chromium_or_skip

    executable = chromium_or_skip()
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def live_url(app: Flask, session: Session) -> Iterator[str]:
    """Return the base URL of the app served over real HTTP on an emptied database."""
    from tests.support.live_server import serve

    with serve(app) as url:
        yield url


@pytest.fixture
def page(browser, live_url):  # type: ignore[no-untyped-def]
    """Return a fresh browser page (own cookies) for one test."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()
