"""Which SOPs listen to an event, and running one in-process for one subject."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from models import Sop, SopRun
from services.engine.sweep import execute_run, start_run
from services.sop_validation import SopValidationError
from services.sops.registry import latest_version, spec_for


def sops_listening(session: Session, event_name: str) -> list[str]:
    """Return the slugs of enabled SOPs whose newest version declares `event_name`."""
    slugs = []
    for sop in session.scalars(select(Sop).where(Sop.enabled.is_(True)).order_by(Sop.slug)):
        version = latest_version(session, sop.id)
        if version is None:
            continue
        try:
            if event_name in spec_for(version).event_names:
                slugs.append(sop.slug)
        except SopValidationError:
            continue
    return slugs


def run_for_subject(engine: Engine, sop_slug: str, trigger: str, subject_id: int) -> SopRun:
    """Run SOP `sop_slug` now, in this process, for one subject; return the finished run."""
    with Session(engine) as session:
        run = start_run(session, sop_slug, trigger, subject_id=subject_id)
        session.commit()
        return execute_run(session, run)


def runnable_sops(session: Session) -> list[str]:
    """Return the slugs of enabled SOPs whose newest version loads, by slug."""
    slugs = []
    for sop in session.scalars(select(Sop).where(Sop.enabled.is_(True)).order_by(Sop.slug)):
        version = latest_version(session, sop.id)
        if version is None:
            continue
        try:
            spec_for(version)
        except SopValidationError:
            continue
        slugs.append(sop.slug)
    return slugs
