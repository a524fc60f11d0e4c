"""A world for SOP editor tests: the shipped patient-renewal SOP, run once over
patients in FL, PA and OK, so it has open reminder tasks to preview edits against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from models import Patient, Sop
from services.engine.sweep import execute_run, start_run
from tests.support.world import World, add_patient, build_world, load_sop

SOP_DIR = Path(__file__).resolve().parents[2] / "sop_definitions"
RENEWAL_TEXT = (SOP_DIR / "patient-renewal.yaml").read_text(encoding="utf-8")
FL_LINE = "FL: -45d            # secondary: legalclarity.org; state emails ~45 days ahead"


def renewal_with_fl(offset: str) -> str:
    """Return the shipped renewal SOP with Florida's reminder offset set to `offset`."""
    assert FL_LINE in RENEWAL_TEXT
    return RENEWAL_TEXT.replace(FL_LINE, FL_LINE.replace("-45d", offset, 1))


@dataclass
class RenewalWorld:
    world: World
    sop: Sop
    fl: list[Patient]
    others: list[Patient]
    now: datetime


def renewal_world(session: Session, fl: int = 3, now: datetime | None = None) -> RenewalWorld:
    """Build the organisation, `fl` Florida patients and one each in PA and OK whose
    cards expire in 50 days, load patient-renewal, and run it once (reminders open)."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    today = now.date()
    world = build_world(session)
    expiry = today + timedelta(days=50)
    fl_patients = [add_patient(session, world.fl, i, card_expires_on=expiry) for i in range(fl)]
    others = [
        add_patient(session, world.pa, 100, card_expires_on=expiry),
        add_patient(session, world.ok, 101, card_expires_on=expiry),
    ]
    session.commit()
    sop = load_sop(session, RENEWAL_TEXT, "sop_definitions/patient-renewal.yaml")
    run = start_run(session, sop.slug, "schedule", now=now)
    session.commit()
    execute_run(session, run)
    return RenewalWorld(world, sop, fl_patients, others, now)
