"""The subcommands of `sopflow` beyond Flask-Migrate's `db` group."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from models import db
from sopflow.dbcheck import require_current_schema


@click.command("check")
@with_appcontext
def check_command() -> None:
    """Check the configuration and that the database is reachable and migrated."""
    require_current_schema(db.engine)
    click.echo(f"ok: database {db.engine.url.render_as_string(hide_password=True)} is current")


@click.command("seed-demo")
@click.option(
    "--patients",
    type=click.IntRange(1, 2_000_000),
    default=None,
    help="Scale the patient count (default: the demo's ~2,000).",
)
@with_appcontext
def seed_demo_command(patients: int | None) -> None:
    """Fill an empty database with the deterministic synthetic demo data set.

    Re-running it on a filled database changes nothing.
    """
    require_current_schema(db.engine)
    from services.demo import seed_demo

    report = seed_demo(db.session, patients=patients)
    db.session.commit()
    click.echo(report.summary())


@click.command("demo-logins")
def demo_logins_command() -> None:
    """Print the demo accounts' e-mails and password."""
    from services.demo import demo_logins

    click.echo("Demo sign-ins (synthetic data only):")
    for email, role, password in demo_logins():
        click.echo(f"  {role:<8} {email:<40} password: {password}")


@click.command("web")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, type=int, show_default=True)
@click.option("--workers", default=2, type=int, show_default=True)
def web_command(host: str, port: int, workers: int) -> None:
    """Serve the board with gunicorn (the production WSGI server)."""
    import os
    import sys

    click.echo(f"Serving sopflow on http://{host}:{port}  (Ctrl-C to stop)")
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    args = [
        gunicorn,
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--threads",
        "4",
        "--access-logfile",
        "-",
        # No path: a query string (a search) could carry a patient name, and a
        # calendar feed's path is its secret token.
        "--access-logformat",
        '%(h)s %(t)s "%(m)s" %(s)s %(b)s %(M)sms',
        "webapp:create_app()",
    ]
    os.execv(gunicorn, args)


ALL = [check_command, seed_demo_command, demo_logins_command, web_command]
