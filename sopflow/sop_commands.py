"""`sopflow validate | schema | sync | export | run | escalate`: SOPs from the command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from models import db
from sopflow.dbcheck import require_current_schema


@click.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def validate_command(paths: tuple[Path, ...]) -> None:
    """Check SOP files (default: sop_definitions/); print file:line:col: key: problem."""
    from services.sop_validation import check_paths, format_issues

    settings = current_settings()
    results = check_paths(list(paths) or [settings.sop_dir])
    for result in results:
        click.echo(format_issues(result.issues) if result.issues else f"{result.source}: ok")
    if any(r.issues for r in results):
        sys.exit(1)


@click.command("schema")
@click.option("--check", is_flag=True, help="Only check that the committed schema is current.")
def schema_command(check: bool) -> None:
    """Regenerate sop_definitions/sop.schema.json from the pydantic model."""
    from services.sop_validation import (
        REGENERATE_HINT,
        SCHEMA_PATH,
        schema_is_current,
        write_schema,
    )

    if check:
        if not schema_is_current():
            raise click.ClickException(f"{SCHEMA_PATH} is out of date: {REGENERATE_HINT}")
        click.echo(f"{SCHEMA_PATH}: current")
        return
    write_schema(SCHEMA_PATH)
    click.echo(f"wrote {SCHEMA_PATH}")


def current_settings():  # type: ignore[no-untyped-def]
    from sopflow.config import load_settings

    return load_settings()


@click.command("sync")
@click.option(
    "--force", is_flag=True, help="Take the files even over versions saved in the browser."
)
@with_appcontext
def sync_command(force: bool) -> None:
    """Load sop_definitions/ into the database (a new version only where a file changed)."""
    from services.sops.registry import sync_directory

    require_current_schema(db.engine)
    report = sync_directory(db.session, current_app.config["SOPFLOW_SETTINGS"].sop_dir, force)
    db.session.commit()
    for line in report.lines():
        click.echo(line)
    if report.errors or report.conflicts:
        sys.exit(1)


@click.command("export")
@click.argument("sop_ids", nargs=-1)
@with_appcontext
def export_command(sop_ids: tuple[str, ...]) -> None:
    """Write the database's newest version of SOPs back to their YAML files (for git)."""
    from services.sops.files import export_sops

    require_current_schema(db.engine)
    for line in export_sops(db.session, current_app.config["SOPFLOW_SETTINGS"].sop_dir, sop_ids):
        click.echo(line)
    db.session.commit()


def parse_inputs(pairs: tuple[str, ...]) -> dict[str, str]:
    """Return {key: value} from `k=v` strings; raise a usage error for a malformed one."""
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected key=value, got {pair!r}", param_hint="--input")
        values[key.strip()] = value.strip()
    return values


@click.command("run")
@click.argument("sop_id")
@click.option("--dry-run", is_flag=True, help="Print what would change; write nothing.")
@click.option("--input", "inputs", multiple=True, metavar="KEY=VALUE", help="A declared input.")
@click.option("--in-process", is_flag=True, help="Run without Prefect (no flow run recorded).")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=None,
    help="Subjects per batch [default: 20000 set-based on PostgreSQL, else 5000].",
)
@with_appcontext
def run_command(
    sop_id: str, dry_run: bool, inputs: tuple[str, ...], in_process: bool, batch_size: int | None
) -> None:
    """Run SOP_ID now (as a Prefect flow run unless --in-process or --dry-run)."""
    from services.engine.inputs import InputError, coerce_inputs
    from services.engine.preview import dry_run as preview
    from services.engine.sweep import RunError, execute_run, start_run

    require_current_schema(db.engine)
    try:
        values = coerce_inputs(db.session, sop_id, parse_inputs(inputs))
        if dry_run:
            click.echo(preview(db.session, sop_id, values).render())
            return
        if in_process:
            run = start_run(db.session, sop_id, "manual", inputs=values)
            db.session.commit()
            run = execute_run(db.session, run, batch_size=batch_size)
            click.echo(
                f"run {run.id}: {run.created_count} created, {run.unchanged_count} "
                f"unchanged, {run.skipped_count} skipped, {run.cancelled_count} cancelled, "
                f"{run.failed_count} failed"
            )
            return
    except (RunError, InputError) as exc:
        raise click.ClickException(str(exc)) from None
    from flows.runs import run_sop

    counts = run_sop(sop_id=sop_id, trigger="manual", inputs=values, batch_size=batch_size)
    click.echo(
        f"run {counts['run_id']}: "
        + ", ".join(f"{v} {k}" for k, v in counts.items() if k != "run_id")
    )


@click.command("escalate")
@with_appcontext
def escalate_command() -> None:
    """Run the escalation sweep once, now (in-process)."""
    from models import utcnow
    from services.engine.escalation import escalation_sweep

    require_current_schema(db.engine)
    report = escalation_sweep(db.session, utcnow())
    db.session.commit()
    click.echo(report.summary())


ALL = [
    validate_command,
    schema_command,
    sync_command,
    export_command,
    run_command,
    escalate_command,
]
