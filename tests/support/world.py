"""A small synthetic organisation for engine and board tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from models import Patient, Role, Site, Sop, SopVersionSource, Team, User
from services.sop_validation import load_sop_text
from services.sops.registry import add_version
from tests.support.factories import make_site, make_team, make_user


@dataclass
class World:
    fl: Site
    pa: Site
    ok: Site
    patient_services: Team
    compliance: Team
    vas: list[User]
    manager: User
    admin: User
    inactive: User
    extra: dict[str, Any] = field(default_factory=dict)


def build_world(session: Session) -> World:
    """Three sites (FL, PA, OK), two teams, three active VAs, a manager, an admin."""
    fl = make_site(
        session, code="FL-Tampa", state="FL", timezone="America/New_York", holiday_calendar="US-FL"
    )
    pa = make_site(
        session,
        code="PA-Pittsburgh",
        state="PA",
        timezone="America/New_York",
        holiday_calendar="US-PA",
    )
    ok = make_site(
        session, code="OK-Tulsa", state="OK", timezone="America/Chicago", holiday_calendar="US-OK"
    )
    patient_services = make_team(session, sites=[fl, pa, ok], slug="patient-services")
    compliance = make_team(session, sites=[fl, pa, ok], slug="compliance")
    make_team(session, sites=[fl, pa, ok], slug="physician-relations")
    vas = [
        make_user(session, teams=[patient_services], email=f"va{i}@example.test") for i in (1, 2, 3)
    ]
    manager = make_user(
        session,
        role=Role.MANAGER,
        teams=[patient_services, compliance],
        email="manager@example.test",
    )
    admin = make_user(session, role=Role.ADMIN, email="admin@example.test")
    inactive = make_user(session, teams=[patient_services], email="gone@example.test", active=False)
    session.commit()
    return World(fl, pa, ok, patient_services, compliance, vas, manager, admin, inactive)


def add_patient(session: Session, site: Site, n: int, **values: Any) -> Patient:
    patient = Patient(
        site_id=site.id,
        registry_number=values.pop("registry_number", f"R{site.state}{n:06d}"),
        state=site.state,
        first_name="Test",
        last_name=f"Patient{n}",
        **values,
    )
    session.add(patient)
    session.flush()
    return patient


def load_sop(session: Session, text: str, source: str = "test.yaml") -> Sop:
    """Validate `text` and store it as a SOP's newest version (like `sopflow sync`)."""
    spec = load_sop_text(text, source)
    sop = session.query(Sop).filter_by(slug=spec.id).one_or_none()
    if sop is None:
        sop = Sop(slug=spec.id, title=spec.title)
        session.add(sop)
        session.flush()
    add_version(session, sop, text, SopVersionSource.FILE)
    session.commit()
    return sop


RENEWAL = """
id: test-renewal
title: Test renewal
owner_team: patient-services
triggers:
  - schedule: {cron: "0 7 * * *", timezone: site}
subjects:
  kind: patient
  filter:
    - {field: status, eq: active}
    - {field: card_expires_on, lte: "today+60d"}
    - {field: card_expires_on, gte: "today-30d"}
  cycle: card_expires_on
escalation:
  warn_before: 1d
  remind_every: 1d
  ladder:
    - {after: 3bd, reassign_to: {role: manager}, notify: [managers]}
steps:
  - id: remind
    title: "Reminder · {{ subject.ref }}"
    due: {from: subject.card_expires_on, offset: -45d, by_state: {OK: -30d, PA: -60d}}
    assign: {strategy: round_robin, team: patient-services, role: va}
    checklist: [Send the reminder, {text: Note it, required: false}]
  - id: package
    title: "Package · {{ subject.ref }}"
    after: [remind]
    due: {from: completion, offset: 3bd}
    assign: {strategy: least_loaded, team: patient-services, role: va}
  - id: confirm
    title: "Confirm · {{ subject.ref }}"
    after: [package]
    when: "subject.consent_email"
    due: {from: completion, offset: 1d}
    approval: {role: manager}
    assign: {strategy: team_queue, team: patient-services}
"""

TODAY = date(2026, 11, 2)
