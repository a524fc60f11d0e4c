"""`sopflow serve` and `sopflow up`: the scheduler, and everything at once for `make run`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from models import db
from sopflow.dbcheck import require_current_schema
from sopflow.prefect_server import DEFAULT_PORT, healthy, start_server


@click.command("serve")
@click.option(
    "--reload-seconds",
    default=60.0,
    show_default=True,
    help="How often to pick up changed SOP files (0: never).",
)
@with_appcontext
def serve_command(reload_seconds: float) -> None:
    """Serve one Prefect deployment per SOP (its cron schedules) until interrupted."""
    from flows.serve import serve_sops

    require_current_schema(db.engine)
    if not os.environ.get("PREFECT_API_URL"):
        raise click.ClickException(
            "PREFECT_API_URL is not set: start a Prefect server (`prefect server start`) "
            "and point PREFECT_API_URL at it, or use `sopflow up`, which does both"
        )
    serve_sops(current_app.config["SOPFLOW_SETTINGS"].sop_dir, reload_seconds)


def _ensure_prefect() -> subprocess.Popen[bytes] | None:
    """Use PREFECT_API_URL if set, a server already on the default port, or start one."""
    if os.environ.get("PREFECT_API_URL"):
        return None
    api_url = f"http://127.0.0.1:{DEFAULT_PORT}/api"
    if healthy(api_url):
        os.environ["PREFECT_API_URL"] = api_url
        return None
    click.echo("Starting a Prefect server on 127.0.0.1:4200 (log: instance/prefect-server.log)")
    process, api_url = start_server()
    os.environ["PREFECT_API_URL"] = api_url
    return process


def _run_all_once() -> None:
    from flows.runs import run_sop
    from services.engine.listening import runnable_sops

    for slug in runnable_sops(db.session):
        counts = run_sop(sop_id=slug, trigger="manual")
        click.echo(
            f"  {slug}: {counts['created']} created, {counts['unchanged']} unchanged, "
            f"{counts['failed']} failed"
        )


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@click.command("up")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, type=int, show_default=True)
@with_appcontext
def up_command(host: str, port: int) -> None:
    """Prefect server, SOP sync and a first run of every SOP, the scheduler, and the board."""
    from services.sops.registry import sync_directory

    require_current_schema(db.engine)
    children: list[subprocess.Popen[Any]] = []
    prefect = _ensure_prefect()
    if prefect is not None:
        children.append(prefect)
    try:
        report = sync_directory(db.session, current_app.config["SOPFLOW_SETTINGS"].sop_dir)
        db.session.commit()
        for line in report.lines():
            click.echo(f"  {line}")
        click.echo("Running every SOP once:")
        _run_all_once()
        me = [sys.executable, "-m", "sopflow.cli"]
        children.append(subprocess.Popen([*me, "serve"]))
        children.append(subprocess.Popen([*me, "web", "--host", host, "--port", str(port)]))
        click.echo(f"Board: http://{host}:{port}   Prefect: {os.environ['PREFECT_API_URL']}")
        signal.signal(signal.SIGTERM, _interrupt)
        children[-1].wait()
    except KeyboardInterrupt:
        click.echo("Stopping.")
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()


ALL = [serve_command, up_command]
