"""The users page (create, roles and teams, deactivate) and the subjects pages."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from models import (
    AuditEvent,
    CalendarToken,
    DisposalRecord,
    Document,
    DocumentCategory,
    Inspection,
    InspectionKind,
    Physician,
    Practice,
    Task,
    User,
    WasteMethod,
    WasteReason,
    WasteSource,
    WeightUnit,
)
from tests.support.board import page_token, renewal_tasks
from tests.support.factories import make_site, make_team, make_user
from tests.support.web import login
from tests.support.world import add_patient, build_world

NOW = datetime.now(UTC)


def test_admin_creates_a_user_and_bad_input_is_shown_on_the_form(client, session):
    world = build_world(session)
    login(client, world.admin.email)
    token = page_token(client, "/admin/users")
    bad = client.post(
        "/admin/users",
        data={
            "email": "not-an-address",
            "name": "<b>Bold</b>",
            "role": "overlord",
            "password": "short",
            "csrf_token": token,
        },
    )
    body = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "Give an e-mail address" in body and "Choose a role" in body
    assert "At least 12 characters" in body and "&lt;b&gt;Bold&lt;/b&gt;" in body
    duplicate = client.post(
        "/admin/users",
        data={
            "email": "VA1@example.test",
            "name": "X",
            "role": "va",
            "password": "x" * 12,
            "csrf_token": token,
        },
    )
    assert "An account with this e-mail exists" in duplicate.get_data(as_text=True)
    created = client.post(
        "/admin/users",
        data={
            "email": "New.Person@Example.test",
            "name": "New Person",
            "role": "va",
            "teams": [str(world.compliance.id)],
            "password": "a long first password",
            "csrf_token": token,
        },
    )
    assert created.status_code == 302
    person = session.scalar(select(User).where(User.email == "new.person@example.test"))
    assert [t.slug for t in person.teams] == ["compliance"]
    other = client.application.test_client()
    assert login(other, "new.person@example.test", "a long first password").status_code == 302


def test_role_and_team_changes_are_audited_and_admins_cannot_demote_themselves(client, session):
    world = build_world(session)
    login(client, world.admin.email)
    token = page_token(client, "/admin/users")
    va = world.vas[0]
    client.post(
        f"/admin/users/{va.id}",
        data={
            "name": va.name,
            "role": "manager",
            "teams": [str(world.compliance.id)],
            "csrf_token": token,
        },
    )
    changes = session.scalars(
        select(AuditEvent).where(
            AuditEvent.entity_type == "user_account",
            AuditEvent.entity_id == str(va.id),
            AuditEvent.action == "update",
        )
    ).all()
    assert {c.actor_id for c in changes} == {world.admin.id}
    after = {k: v for c in changes for k, v in c.after.items()}
    before = {k: v for c in changes for k, v in c.before.items()}
    assert after == {"role": "manager", "teams": [str(world.compliance.id)]}
    assert before == {"role": "va", "teams": [str(world.patient_services.id)]}
    refused = client.post(
        f"/admin/users/{world.admin.id}",
        data={"name": "Admin", "role": "va", "csrf_token": token},
    )
    assert refused.status_code == 422
    assert "cannot remove your own admin role" in refused.get_data(as_text=True)


def test_deactivation_ends_sessions_revokes_feeds_and_returns_open_work(app, client, session):
    world = build_world(session)
    (task,) = renewal_tasks(session, world, 1, NOW)
    va = world.vas[0]
    task.assignee_id = va.id
    session.add(CalendarToken(user_id=va.id, token_hash=hashlib.sha256(b"t").hexdigest()))
    session.commit()
    their_browser = app.test_client()
    login(their_browser, va.email)
    assert their_browser.get("/").status_code == 200

    login(client, world.admin.email)
    token = page_token(client, "/admin/users")
    response = client.post(f"/admin/users/{va.id}/deactivate", data={"csrf_token": token})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "1 calendar token(s) revoked, 1 open task(s)" in page
    session.expire_all()
    assert their_browser.get("/").status_code == 302  # signed out everywhere
    assert session.scalar(select(CalendarToken.revoked_at)) is not None
    assert session.get(Task, task.id).assignee_id is None
    refused = client.post(f"/admin/users/{world.admin.id}/deactivate", data={"csrf_token": token})
    assert refused.status_code == 422


def test_subjects_are_limited_to_my_sites_and_lists_carry_no_patient_names(client, session):
    world = build_world(session)
    mine = add_patient(
        session,
        world.fl,
        1,
        card_expires_on=date.today() + timedelta(days=20),
        certification_expires_on=date.today() - timedelta(days=2),
    )
    mine.first_name = "Avery"
    elsewhere_site = make_site(session, code="CO-Denver", state="CO", timezone="America/Denver")
    elsewhere = add_patient(session, elsewhere_site, 2)
    team = make_team(session, sites=[world.fl], slug="fl-only")
    va = make_user(session, teams=[team], email="fl@example.test")
    session.commit()
    login(client, va.email)

    listing = client.get("/subjects/patients").get_data(as_text=True)
    assert mine.ref in listing and elsewhere.ref not in listing
    assert "Avery" not in listing and mine.last_name not in listing  # initials only
    assert "expired" in listing
    assert client.get(f"/subjects/patients/{elsewhere.id}").status_code == 404
    detail = client.get(f"/subjects/patients/{mine.id}").get_data(as_text=True)
    assert (
        "Avery" in detail
        and "State registry card" in detail
        and "Physician certification" in detail
    )

    token = page_token(client, "/subjects/patients")
    found = client.post("/subjects/patients", data={"q": "avery", "csrf_token": token})
    assert mine.ref in found.get_data(as_text=True)
    assert 'method="post"' in listing  # a name never goes into the URL
    by_ref = client.get(f"/subjects/patients?q={mine.ref}").get_data(as_text=True)
    assert mine.ref in by_ref
    assert client.get("/subjects/patients?status=bogus").status_code == 422


def test_physicians_documents_disposals_and_inspections(client, session):
    world = build_world(session)
    practice = Practice(site_id=world.fl.id, name="Bayside Integrative", state="FL")
    session.add(practice)
    session.flush()
    doctor = Physician(
        npi="1234567893",
        first_name="Morgan",
        last_name="Placeholder",
        practice_id=practice.id,
        site_id=world.fl.id,
    )
    expired = Document(
        site_id=world.fl.id,
        category=DocumentCategory.LICENSES,
        title="Dispensing license",
        expires_on=date.today() - timedelta(days=3),
    )
    waste = DisposalRecord(
        site_id=world.fl.id,
        source_type=WasteSource.PLANT,
        tag="1A4060300002EE1000001234",
        weight=Decimal("400"),
        unit=WeightUnit.GRAM,
        reason=WasteReason.FAILURE_TO_THRIVE,
        method=WasteMethod.GRIND_AND_MIX,
        mixed_material="soil",
        mixed_weight=Decimal("300"),
    )
    visit = Inspection(
        site_id=world.fl.id,
        agency="Office of Medical Marijuana Use",
        scheduled_on=date.today() + timedelta(days=10),
        kind=InspectionKind.ANNOUNCED,
    )
    session.add_all([doctor, expired, waste, visit])
    session.commit()
    login(client, world.vas[0].email)
    assert "Dr Morgan Placeholder" in client.get("/subjects/physicians?q=placeh").get_data(
        as_text=True
    )
    practices = client.get("/subjects/practices").get_data(as_text=True)
    assert "Bayside Integrative" in practices
    docs = client.get("/subjects/documents?status=expired&category=licenses").get_data(as_text=True)
    assert "Dispensing license" in docs and "expired" in docs
    assert "below" not in client.get(f"/subjects/disposals/{waste.id}").get_data(as_text=True)
    disposal = client.get(f"/subjects/disposals/{waste.id}").get_data(as_text=True)
    assert "43% non-cannabis" in disposal and "&lt; 50%" in disposal
    readiness = client.get(f"/subjects/inspections/{visit.id}").get_data(as_text=True)
    assert "licenses" in readiness and "missing" in readiness and "expired" in readiness
    overview = client.get("/subjects/").get_data(as_text=True)
    assert "Disposal records" in overview
