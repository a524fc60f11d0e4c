"""The demo data set: sizes, spreads, rules it must respect, determinism, idempotency.

Runs on SQLite and PostgreSQL (the `session` fixture).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from datetime import date, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from models import (
    AuditEvent,
    Caregiver,
    DisposalRecord,
    DisposalStatus,
    Document,
    DocumentCategory,
    Inspection,
    InspectionStatus,
    OutreachContact,
    Patient,
    PatientStatus,
    Physician,
    Practice,
    Role,
    Site,
    Team,
    User,
    patient_caregivers,
    team_sites,
)
from services.demo import DEMO_PASSWORD, DEMO_TABLES, SeedReport, demo_logins, seed_demo
from services.demo.people import luhn_digit
from tests.support.databases import clear_database

TODAY = date(2026, 11, 2)  # a Monday; every date in the set is relative to it
SMALL = 300  # patients, where a test is not about patients


def seed(session: Session, patients: int | None = None, today: date = TODAY) -> SeedReport:
    report = seed_demo(session, patients=patients, today=today)
    session.commit()
    return report


def count(session: Session, table) -> int:  # type: ignore[no-untyped-def]
    table = getattr(table, "__table__", table)
    return session.scalar(select(func.count()).select_from(table)) or 0


def table_counts(session: Session) -> dict[str, int]:
    return {t.name: count(session, t) for t in DEMO_TABLES}


def digest(session: Session) -> str:
    """A hash of the data set's natural content (no ids, no creation times)."""
    queries = [
        select(
            Patient.state,
            Patient.registry_number,
            Patient.first_name,
            Patient.last_name,
            Patient.date_of_birth,
            Patient.card_expires_on,
            Patient.certification_expires_on,
            Patient.qualifying_condition,
            Patient.status,
            Patient.email,
            Patient.phone,
        ).order_by(Patient.state, Patient.registry_number),
        select(
            Caregiver.state,
            Caregiver.registry_number,
            Caregiver.first_name,
            Caregiver.last_name,
            Caregiver.card_expires_on,
        ).order_by(Caregiver.state, Caregiver.registry_number),
        select(
            Physician.npi,
            Physician.first_name,
            Physician.last_name,
            Physician.engagement_stage,
            Physician.last_contacted_on,
            Physician.next_follow_up_on,
        ).order_by(Physician.npi),
        select(Practice.name, Practice.city).order_by(Practice.name),
        select(User.email, User.name).order_by(User.email),
        select(Document.title, Document.category, Document.issued_on, Document.expires_on).order_by(
            Document.title, Document.category, Document.issued_on, Document.expires_on
        ),
        select(DisposalRecord.tag, DisposalRecord.weight, DisposalRecord.generated_at).order_by(
            DisposalRecord.tag
        ),
    ]
    hasher = hashlib.sha256()
    for query in queries:
        for row in session.execute(query):
            hasher.update(repr(tuple(row)).encode())
    return hasher.hexdigest()


def test_default_data_set_sizes(session: Session) -> None:
    report = seed(session)

    assert report.created
    assert report.counts == table_counts(session)
    assert report.counts["patient"] == 2000
    assert 3 == report.counts["site"] == len({s.state for s in session.scalars(select(Site))})
    assert 10 <= report.counts["user_account"] <= 15
    assert 35 <= report.counts["practice"] <= 45
    assert 140 <= report.counts["physician"] <= 160
    assert 250 <= report.counts["document"] <= 350
    assert 45 <= report.counts["disposal_record"] <= 55
    assert 150 <= report.counts["caregiver"] <= 400
    assert report.counts["outreach_contact"] > report.counts["physician"]
    assert set(session.scalars(select(Team.slug))) == {
        "patient-services",
        "physician-relations",
        "compliance",
    }
    assert count(session, team_sites) >= 3
    assert "2,000 patients" in report.summary()


def test_sites_and_people_are_consistent(session: Session) -> None:
    seed(session, SMALL)

    sites = list(session.scalars(select(Site)))
    zones = {s.code: (s.state, s.timezone, s.holiday_calendar) for s in sites}
    assert zones == {
        "FL-Tampa": ("FL", "America/New_York", "US-FL"),
        "PA-Pittsburgh": ("PA", "America/New_York", "US-PA"),
        "OK-Tulsa": ("OK", "America/Chicago", "US-OK"),
    }
    assert all(s.license_number for s in sites)
    # A patient's state is its site's; its physician practises for the same site.
    mismatched = session.scalar(
        select(func.count())
        .select_from(Patient)
        .join(Site, Site.id == Patient.site_id)
        .join(Physician, Physician.id == Patient.physician_id)
        .where((Patient.state != Site.state) | (Physician.site_id != Patient.site_id))
    )
    assert mismatched == 0
    assert session.scalar(select(func.count()).where(Patient.physician_id.is_(None))) == 0
    npis = list(session.scalars(select(Physician.npi)))
    assert len(npis) == len(set(npis))
    assert all(
        re.fullmatch(r"\d{10}", n) and luhn_digit("80840" + n[:9]) == int(n[9]) for n in npis
    )
    statuses = Counter(session.scalars(select(Patient.status)))
    assert statuses[PatientStatus.ACTIVE] > SMALL / 2
    assert statuses[PatientStatus.LAPSED] > 0


def test_synthetic_contact_details_only(session: Session) -> None:
    seed(session, SMALL)

    emails = [
        *session.scalars(select(User.email)),
        *session.scalars(select(Patient.email).where(Patient.email.is_not(None))),
        *session.scalars(select(Caregiver.email).where(Caregiver.email.is_not(None))),
        *session.scalars(select(Physician.email).where(Physician.email.is_not(None))),
    ]
    assert emails and all(e.endswith(".test") for e in emails)
    phones = [
        *session.scalars(select(Patient.phone).where(Patient.phone.is_not(None))),
        *session.scalars(select(Practice.phone)),
        *session.scalars(select(Physician.phone)),
    ]
    assert phones and all(re.fullmatch(r"\(\d{3}\) 555-01\d\d", p) for p in phones)


def test_expiry_dates_spread_around_today(session: Session) -> None:
    seed(session)

    for column in (Patient.card_expires_on, Patient.certification_expires_on):
        days = [(d - TODAY).days for d in session.scalars(select(column))]
        assert min(days) <= -25 and max(days) > 183  # past month ... beyond six months
        window = sum(-30 <= d <= 183 for d in days)
        assert 0.75 * len(days) <= window < len(days)  # most are due soon, not all
        assert sum(d < 0 for d in days) > 0
    same = session.scalar(
        select(func.count()).where(Patient.card_expires_on == Patient.certification_expires_on)
    )
    assert same < 50  # two independent dates, not one copied
    caregiver_days = [(d - TODAY).days for d in session.scalars(select(Caregiver.card_expires_on))]
    assert min(caregiver_days) < 0 < max(caregiver_days)


def test_documents_cover_every_category_and_site(session: Session) -> None:
    seed(session, SMALL)

    pairs = set(session.execute(select(Document.site_id, Document.category)).tuples())
    site_ids = set(session.scalars(select(Site.id)))
    assert pairs == {(s, c) for s in site_ids for c in DocumentCategory}
    expiries = list(session.scalars(select(Document.expires_on)))
    expired = sum(d is not None and d < TODAY for d in expiries)
    soon = sum(d is not None and TODAY <= d <= TODAY + timedelta(days=30) for d in expiries)
    valid = sum(d is not None and d > TODAY + timedelta(days=30) for d in expiries)
    assert expired > 0 and soon > 0 and valid > len(expiries) / 2
    issued = list(session.scalars(select(Document.issued_on)))
    assert all(d < TODAY for d in issued)
    owners = set(session.scalars(select(Document.owner_id)))
    assert None not in owners and owners <= set(session.scalars(select(User.id)))


def test_disposal_records_witnesses_timeline_and_mixture(session: Session) -> None:
    seed(session, SMALL)

    users = {u.id: u for u in session.scalars(select(User))}
    records = list(session.scalars(select(DisposalRecord)))
    assert {r.status for r in records} == set(DisposalStatus)
    assert {r.site_id for r in records} == set(session.scalars(select(Site.id)))
    violations = 0
    for r in records:
        assert r.logged_by_id in users
        if r.status is DisposalStatus.LOGGED:
            assert r.witness1_id is None and r.witness2_id is None  # not witnessed yet
        else:
            assert r.witness1_id != r.witness2_id
            assert r.logged_by_id not in (r.witness1_id, r.witness2_id)
            assert users[r.witness1_id].active and users[r.witness2_id].active
        assert re.fullmatch(r"1A4[0-9A-F]{21}", r.tag)
        assert r.weight > 0 and r.mixed_weight is not None and r.mixed_material
        assert r.camera and r.camera_window_start < r.camera_window_end
        assert r.note and r.source_type and r.unit and r.reason and r.method
        violations += r.mixed_weight < r.weight  # below 50 % non-cannabis
        reached = list(DisposalStatus).index(r.status)
        assert (r.held_until is not None) == (reached >= 2)
        assert (r.destroyed_at is not None) == (reached >= 3)
        assert (r.recorded_in_state_at is not None) == (reached >= 4)
        assert (r.state_record_ref is not None) == (reached >= 4)
        chain = [r.generated_at, r.held_until, r.destroyed_at, r.recorded_in_state_at]
        present = [t for t in chain if t is not None]
        assert present == sorted(present)
        assert r.generated_at.date() < TODAY + timedelta(days=1)
    assert violations == 2
    assert len({r.tag for r in records}) == len(records)


def test_caregiver_limits_and_links(session: Session) -> None:
    report = seed(session)

    per_patient = Counter(session.scalars(select(patient_caregivers.c.patient_id)))
    per_caregiver = Counter(session.scalars(select(patient_caregivers.c.caregiver_id)))
    assert max(per_patient.values()) <= 2  # PA: up to 2 caregivers per patient
    assert max(per_caregiver.values()) <= 5  # PA: up to 5 patients per caregiver
    assert 2 in per_patient.values() and 2 in per_caregiver.values()
    assert len(per_caregiver) == report.counts["caregiver"]  # every caregiver serves someone
    assert 0.10 <= len(per_patient) / report.counts["patient"] <= 0.20
    rows = session.execute(
        select(Patient.site_id, Caregiver.site_id, Patient.state, Caregiver.state)
        .join(patient_caregivers, patient_caregivers.c.patient_id == Patient.id)
        .join(Caregiver, Caregiver.id == patient_caregivers.c.caregiver_id)
    ).all()
    assert all(ps == cs and pst == cst for ps, cs, pst, cst in rows)
    # Oklahoma: a caregiver's license never outlasts its patient's.
    outlasting = session.scalar(
        select(func.count())
        .select_from(patient_caregivers)
        .join(Patient, Patient.id == patient_caregivers.c.patient_id)
        .join(Caregiver, Caregiver.id == patient_caregivers.c.caregiver_id)
        .where(Caregiver.state == "OK", Caregiver.card_expires_on > Patient.card_expires_on)
    )
    assert outlasting == 0


def test_inspections_upcoming_at_two_sites(session: Session) -> None:
    seed(session, SMALL)

    upcoming = list(
        session.scalars(select(Inspection).where(Inspection.status == InspectionStatus.SCHEDULED))
    )
    assert len(upcoming) == 2
    assert len({i.site_id for i in upcoming}) == 2
    assert all(TODAY < i.scheduled_on <= TODAY + timedelta(days=23) for i in upcoming)
    past = session.scalars(select(Inspection).where(Inspection.scheduled_on < TODAY)).all()
    assert all(i.status is InspectionStatus.COMPLETED for i in past)


def test_outreach_for_contacted_physicians(session: Session) -> None:
    seed(session, SMALL)

    contacted = set(session.scalars(select(OutreachContact.physician_id)))
    never = set(session.scalars(select(Physician.id).where(Physician.last_contacted_on.is_(None))))
    assert contacted and not contacted & never
    follow_ups = list(session.scalars(select(Physician.next_follow_up_on)))
    assert None in follow_ups
    assert any(d is not None and d < TODAY for d in follow_ups)  # some overdue
    assert any(d is not None and d >= TODAY for d in follow_ups)


def test_same_today_gives_the_same_data_set(session: Session) -> None:
    seed(session, SMALL)
    first = digest(session)
    session.rollback()
    clear_database(session.get_bind())

    seed(session, SMALL)
    assert digest(session) == first


def test_another_today_shifts_dates_not_people(session: Session) -> None:
    def patients() -> list[tuple]:  # type: ignore[type-arg]
        query = select(Patient.registry_number, Patient.last_name, Patient.card_expires_on)
        return list(session.execute(query.order_by(Patient.registry_number)).tuples())

    seed(session, SMALL)
    before = patients()
    session.rollback()
    clear_database(session.get_bind())

    seed(session, SMALL, today=TODAY + timedelta(days=7))
    after = patients()
    assert [(n, name) for n, name, _ in after] == [(n, name) for n, name, _ in before]
    assert all(a[2] - b[2] == timedelta(days=7) for a, b in zip(after, before, strict=True))


def test_second_seed_changes_nothing(session: Session) -> None:
    seed(session, SMALL)
    counts = table_counts(session)
    events = count(session, AuditEvent)

    again = seed(session)  # even asking for the default size

    assert not again.created
    assert "already loaded" in again.summary() and "nothing changed" in again.summary()
    assert again.counts == counts == table_counts(session)
    assert count(session, AuditEvent) == events


def test_leaves_a_database_with_other_data_alone(session: Session) -> None:
    session.add(
        Site(code="CO-Denver", name="Not demo", state="CO", timezone="America/Denver",
             holiday_calendar="US-CO")
    )  # fmt: skip
    session.commit()

    report = seed(session)

    assert not report.created
    assert "not the demo's" in report.summary()
    assert count(session, Patient) == 0 and count(session, Site) == 1


def test_scales_the_patient_count(session: Session) -> None:
    report = seed(session, 5000)

    assert report.counts["patient"] == count(session, Patient) == 5000
    assert report.counts["physician"] <= 160  # everything else keeps its size
    registry = session.execute(select(Patient.state, Patient.registry_number)).all()
    assert len(set(registry)) == 5000


def test_ids_keep_working_after_the_seed(session: Session) -> None:
    seed(session, SMALL)
    site = session.scalar(select(Site).where(Site.code == "PA-Pittsburgh"))
    assert site is not None

    patient = Patient(
        site_id=site.id, registry_number="PAP-NEW-1", state="PA", first_name="New", last_name="One"
    )
    team = Team(slug="new-team", name="New team")
    session.add_all([patient, team])
    session.commit()

    assert patient.id > session.scalar(select(func.max(Patient.id)).where(Patient.id != patient.id))
    assert team.id == session.scalar(select(func.max(Team.id)))


def test_one_audit_event_summarises_the_seed(session: Session) -> None:
    report = seed(session, SMALL)

    events = list(session.scalars(select(AuditEvent)))
    assert len(events) == 1  # bulk inserts bypass the per-row hook on purpose
    event = events[0]
    assert (event.action, event.entity_type, event.entity_id) == ("seed_demo", "database", "demo")
    assert event.after is not None
    assert event.after["counts"] == report.counts
    assert event.after["today"] == TODAY.isoformat()


def test_demo_accounts_sign_in_with_the_demo_password(session: Session) -> None:
    seed(session, SMALL)

    logins = demo_logins()
    assert {role for _, role, _ in logins} == {r.value for r in Role}
    users = {u.email: u for u in session.scalars(select(User))}
    for email, role, password in logins:
        user = users[email]
        assert password == DEMO_PASSWORD
        assert user.active and user.role.value == role
        assert check_password_hash(user.password_hash, DEMO_PASSWORD)
    assert "admin@demo.sopflow.test" in users and "va.ana@demo.sopflow.test" in users
    inactive = [u for u in users.values() if not u.active]
    assert len(inactive) == 1 and inactive[0].role is Role.VA
    assert inactive[0].email not in {e for e, _, _ in logins}
    assert len({u.session_nonce for u in users.values()}) == len(users)


def test_patient_count_zero_and_negative(session: Session) -> None:
    report = seed(session, 0)
    assert report.created and report.counts["patient"] == report.counts["caregiver"] == 0
    with pytest.raises(ValueError):
        seed_demo(session, patients=-1)


def test_seed_demo_command(app: Flask, session: Session) -> None:
    from sopflow.commands import seed_demo_command

    runner = app.test_cli_runner()
    result = runner.invoke(seed_demo_command, ["--patients", "50"])
    assert result.exit_code == 0, result.output
    assert "50 patients" in result.output
    assert count(session, Patient) == 50

    again = runner.invoke(seed_demo_command, [])
    assert again.exit_code == 0, again.output
    assert "nothing changed" in again.output
    assert count(session, Patient) == 50
