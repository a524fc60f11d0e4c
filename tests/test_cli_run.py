"""`sopflow run`: dry runs write nothing; inputs are typed and checked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from models import SopRun, Task, utcnow
from services.engine.inputs import InputError, coerce_inputs
from services.engine.preview import dry_run
from tests.support.world import RENEWAL, add_patient, build_world, load_sop

WITH_INPUTS = RENEWAL.replace(
    '  - schedule: {cron: "0 7 * * *", timezone: site}',
    """  - schedule: {cron: "0 7 * * *", timezone: site}
  - manual:
      inputs:
        - {id: site, type: site, label: Only this site}
        - {id: horizon_days, type: integer, default: 60}
        - {id: urgent, type: boolean, default: false}""",
)


def test_dry_run_reports_and_writes_nothing(session):
    world = build_world(session)
    for i in range(4):
        add_patient(session, world.fl, i, card_expires_on=utcnow().date() + timedelta(days=30))
    load_sop(session, RENEWAL)
    preview = dry_run(session, "test-renewal")
    assert (preview.created, preview.unchanged, preview.failed) == (4, 0, 0)
    assert preview.per_step == {"remind": 4}
    assert len(preview.sample) == 4 and preview.sample[0]["subject"].startswith("P-")
    assert "nothing was written" in preview.render()
    assert session.scalar(select(func.count()).select_from(Task)) == 0
    assert session.scalar(select(func.count()).select_from(SopRun)) == 0


def test_inputs_are_coerced_and_checked(session):
    world = build_world(session)
    load_sop(session, WITH_INPUTS)
    values = coerce_inputs(session, "test-renewal", {"site": "OK-Tulsa", "urgent": "yes"})
    assert values == {"site": world.ok.id, "horizon_days": 60, "urgent": True}
    with pytest.raises(InputError, match="input 'horizon_days': invalid literal"):
        coerce_inputs(session, "test-renewal", {"horizon_days": "soon"})
    with pytest.raises(InputError, match="unknown input 'colour'"):
        coerce_inputs(session, "test-renewal", {"colour": "red"})
    with pytest.raises(InputError, match="input 'site': no such site"):
        coerce_inputs(session, "test-renewal", {"site": "XX-Nowhere"})


def test_a_site_input_narrows_the_run(session):
    from services.engine.sweep import execute_run, start_run

    world = build_world(session)
    due = utcnow().date() + timedelta(days=30)
    add_patient(session, world.fl, 1, card_expires_on=due)
    ok_patient = add_patient(session, world.ok, 2, card_expires_on=due)
    load_sop(session, WITH_INPUTS)
    run = start_run(session, "test-renewal", "manual", inputs={"site": world.ok.id})
    session.commit()
    execute_run(session, run)
    assert [t.subject_id for t in session.scalars(select(Task))] == [ok_patient.id]
