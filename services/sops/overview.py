"""The SOP list: each SOP's newest version, triggers and next scheduled runs, open
work, last run, and whether it loads (a broken file shows its error, not nothing)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Site, Sop, SopRun, SopVersion, Task, open_work, utcnow
from models.sop_spec import SopSpec
from services.sop_validation import SopValidationError
from services.sops.registry import latest_version, spec_for


@dataclass(frozen=True)
class NextRun:
    """The next firing of one schedule, as local time in `zone`."""

    at: datetime
    zone: str
    cron: str


@dataclass
class SopRow:
    """One line of the SOP list."""

    sop: Sop
    version: SopVersion | None
    spec: SopSpec | None = None
    problem: str | None = None  # the newest version does not load
    triggers: list[str] = field(default_factory=list)
    next_runs: list[NextRun] = field(default_factory=list)
    open_tasks: int = 0
    last_run: SopRun | None = None

    @property
    def unexported(self) -> bool:
        """True when the SOP has a file and its newest version is not what the file
        holds (`sopflow export` writes it there)."""
        if self.version is None or not self.sop.file_path:
            return False
        return self.version.checksum != self.sop.file_checksum


def describe_triggers(spec: SopSpec) -> list[str]:
    """Return one short line per trigger, e.g. "schedule 0 7 * * 1-5 (site zone)"."""
    lines = []
    for trigger in spec.triggers:
        if trigger.schedule is not None:
            zone = trigger.schedule.timezone
            lines.append(
                f"schedule {trigger.schedule.cron} ({'site zone' if zone == 'site' else zone})"
            )
        elif trigger.event is not None:
            lines.append(f"event {trigger.event.name}")
        elif trigger.manual is not None:
            n = len(trigger.manual.inputs)
            lines.append(f"manual ({n} input{'s' if n != 1 else ''})" if n else "manual")
    return lines


def next_runs(spec: SopSpec, site_zones: list[str], now: datetime) -> list[NextRun]:
    """Return the next firing of each schedule in its zone; `timezone: site` fires in
    every site zone, so it gets one line per zone. Soonest first."""
    found = []
    for schedule in spec.schedules:
        zones = site_zones if schedule.timezone == "site" else [schedule.timezone]
        for zone in zones:
            local_now = now.astimezone(ZoneInfo(zone))
            at = croniter(schedule.cron, local_now).get_next(datetime)
            found.append(NextRun(at, zone, schedule.cron))
    return sorted(found, key=lambda run: run.at)


def _open_counts(session: Session, sop_ids: list[int]) -> dict[int, int]:
    query = (
        select(Task.sop_id, func.count())
        .where(open_work(), Task.sop_id.in_(sop_ids))
        .group_by(Task.sop_id)
    )
    return dict(session.execute(query).all())


def _last_runs(session: Session, sop_ids: list[int]) -> dict[int, SopRun]:
    newest = select(func.max(SopRun.id)).where(SopRun.sop_id.in_(sop_ids)).group_by(SopRun.sop_id)
    runs = session.scalars(select(SopRun).where(SopRun.id.in_(newest))).all()
    return {run.sop_id: run for run in runs}


def sop_overview(
    session: Session, now: datetime | None = None, only: Sop | None = None
) -> list[SopRow]:
    """Return a row per SOP (just `only`'s when given), by title."""
    now = now or utcnow()
    zones = sorted(set(session.scalars(select(Site.timezone))))
    query = select(Sop).order_by(Sop.title, Sop.slug)
    sops = [only] if only is not None else list(session.scalars(query))
    ids = [sop.id for sop in sops]
    counts, runs = _open_counts(session, ids), _last_runs(session, ids)
    rows = []
    for sop in sops:
        row = sop_row(session, sop, now, zones)
        row.open_tasks = counts.get(sop.id, 0)
        row.last_run = runs.get(sop.id)
        rows.append(row)
    return rows


def sop_row(
    session: Session, sop: Sop, now: datetime | None = None, zones: list[str] | None = None
) -> SopRow:
    """Return one SOP's line (open tasks and last run left empty: see `sop_overview`)."""
    now = now or utcnow()
    if zones is None:
        zones = sorted(set(session.scalars(select(Site.timezone))))
    row = SopRow(sop, latest_version(session, sop.id))
    if row.version is None:
        row.problem = sop.load_error or "no version loaded yet"
        return row
    try:
        row.spec = spec_for(row.version)
    except SopValidationError as exc:
        row.problem = f"version {row.version.number} does not load: {exc}"
        return row
    row.triggers = describe_triggers(row.spec)
    if sop.enabled:
        row.next_runs = next_runs(row.spec, zones, now)
    return row
