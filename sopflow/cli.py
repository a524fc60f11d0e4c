"""The `sopflow` command: database, demo data, SOPs, flows and the web server."""

from __future__ import annotations

import sys

import click
from flask.cli import FlaskGroup
from flask_migrate.cli import db as db_commands
from sqlalchemy.exc import OperationalError

from sopflow.config import ConfigError


def _create_app():  # type: ignore[no-untyped-def]
    from webapp import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False)
def cli() -> None:
    """sopflow: SOPs as YAML, run by Prefect, worked on a web board."""


cli.add_command(db_commands, "db")


def _register_commands() -> None:
    from sopflow import commands, sop_commands, up

    for command in commands.ALL + sop_commands.ALL + up.ALL:
        cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; configuration and connection problems print one line, not a traceback."""
    _register_commands()
    try:
        cli.main(args=argv, prog_name="sopflow", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ConfigError as exc:
        click.echo(f"sopflow: configuration error: {exc}", err=True)
        sys.exit(2)
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        click.echo(f"sopflow: DATABASE_URL: cannot use the database: {reason}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
