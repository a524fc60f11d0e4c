"""A subject's summary card (what a task is about, at a glance) and expiry status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from models import (
    Caregiver,
    DisposalRecord,
    Document,
    Inspection,
    Patient,
    Physician,
    Practice,
    Site,
    SubjectKind,
)
from services.disposal import meets_mix_rule, non_cannabis_share

RENEWAL_WINDOW_DAYS = 60
SOON_DAYS = 30


@dataclass(frozen=True)
class Expiry:
    """How an expiry date stands today: a label and a tone (ok, notice, warn, danger)."""

    day: date | None
    label: str
    tone: str


def expiry(day: date | None, today: date) -> Expiry:
    """Return the status of an expiry date as of `today`."""
    if day is None:
        return Expiry(None, "not on file", "notice")
    left = (day - today).days
    if left < 0:
        return Expiry(day, f"expired {-left} days ago" if left < -1 else "expired", "danger")
    if left == 0:
        return Expiry(day, "expires today", "danger")
    if left <= SOON_DAYS:
        return Expiry(day, f"expires in {left} days" if left > 1 else "expires tomorrow", "warn")
    if left <= RENEWAL_WINDOW_DAYS:
        return Expiry(day, f"renewal window ({left} days)", "notice")
    return Expiry(day, "current", "ok")


def renewal_status(patient: Patient, today: date) -> Expiry:
    """Return the patient's renewal status: the more urgent of their two expiry dates."""
    card = expiry(patient.card_expires_on, today)
    cert = expiry(patient.certification_expires_on, today)
    order = {"danger": 0, "warn": 1, "notice": 2, "ok": 3}
    return min((card, cert), key=lambda e: (order[e.tone], e.day or date.max))


@dataclass(frozen=True)
class SubjectCard:
    """A subject's kind, id and reference, a heading, and labelled facts."""

    kind: SubjectKind
    id: int
    ref: str
    heading: str
    facts: list[tuple[str, Any]]
    site: Site | None


def _yes(value: bool | None) -> str:
    return "yes" if value else "no"


def _patient(p: Patient, today: date) -> tuple[str, list[tuple[str, Any]]]:
    consents = [k for k, v in (("e-mail", p.consent_email), ("SMS", p.consent_sms)) if v]
    if p.consent_phone:
        consents.append("phone")
    facts: list[tuple[str, Any]] = [
        ("State card", expiry(p.card_expires_on, today)),
        ("Certification", expiry(p.certification_expires_on, today)),
        ("Status", p.status.value),
        ("Contact preference", p.contact_preference.value),
        ("Consent", ", ".join(consents) or "none on file"),
        ("Physician", f"{p.physician.ref} · Dr {p.physician.last_name}" if p.physician else "—"),
        ("Caregivers", ", ".join(c.ref for c in p.caregivers) or "none"),
    ]
    return f"{p.first_name} {p.last_name}", facts


def _physician(d: Physician, today: date) -> tuple[str, list[tuple[str, Any]]]:
    return f"Dr {d.first_name} {d.last_name}", [
        ("Practice", d.practice.name if d.practice else "—"),
        ("Stage", d.engagement_stage.value),
        ("Last contacted", d.last_contacted_on or "never"),
        ("Next follow-up", d.next_follow_up_on or "—"),
        ("Specialty", d.specialty or "—"),
    ]


def _document(d: Document, today: date) -> tuple[str, list[tuple[str, Any]]]:
    return d.title, [
        ("Category", d.category.value.replace("_", " ")),
        ("Issued", d.issued_on or "—"),
        ("Expires", expiry(d.expires_on, today) if d.expires_on else "does not expire"),
    ]


def _disposal(w: DisposalRecord, today: date) -> tuple[str, list[tuple[str, Any]]]:
    share = non_cannabis_share(w)
    mix = "—" if share is None else f"{share:.0%} non-cannabis"
    if share is not None:
        mix += " (meets the 50% rule)" if meets_mix_rule(w) else " (below the 50% rule)"
    witnesses = [x.name for x in (w.witness1, w.witness2) if x is not None]
    return f"Waste {w.tag}", [
        ("Source", w.source_type.value),
        ("Weight", f"{w.weight} {w.unit.value}"),
        ("Reason", w.reason.value.replace("_", " ")),
        ("Method", w.method.value.replace("_", " ")),
        ("Mixed with", f"{w.mixed_material or '—'} · {mix}"),
        ("Witnesses", ", ".join(witnesses) or "none yet"),
        ("Status", w.status.value),
    ]


def _inspection(i: Inspection, today: date) -> tuple[str, list[tuple[str, Any]]]:
    return i.agency, [
        ("Scheduled", i.scheduled_on),
        ("Kind", i.kind.value.replace("_", " ")),
        ("Status", i.status.value),
    ]


def _practice(p: Practice, today: date) -> tuple[str, list[tuple[str, Any]]]:
    return p.name, [("City", p.city or "—"), ("Physicians", len(p.physicians))]


def _caregiver(c: Caregiver, today: date) -> tuple[str, list[tuple[str, Any]]]:
    return f"{c.first_name} {c.last_name}", [
        ("Card", expiry(c.card_expires_on, today)),
        ("Patients", ", ".join(p.ref for p in c.patients) or "none"),
    ]


def _site(s: Site, today: date) -> tuple[str, list[tuple[str, Any]]]:
    return s.name, [("State", s.state), ("License", s.license_number or "—")]


_CARDS: dict[SubjectKind, tuple[type[Any], list[Any], Any]] = {
    SubjectKind.PATIENT: (
        Patient,
        [joinedload(Patient.physician), selectinload(Patient.caregivers)],
        _patient,
    ),
    SubjectKind.PHYSICIAN: (Physician, [joinedload(Physician.practice)], _physician),
    SubjectKind.DOCUMENT: (Document, [], _document),
    SubjectKind.DISPOSAL: (
        DisposalRecord,
        [joinedload(DisposalRecord.witness1), joinedload(DisposalRecord.witness2)],
        _disposal,
    ),
    SubjectKind.INSPECTION: (Inspection, [], _inspection),
    SubjectKind.PRACTICE: (Practice, [selectinload(Practice.physicians)], _practice),
    SubjectKind.CAREGIVER: (Caregiver, [selectinload(Caregiver.patients)], _caregiver),
    SubjectKind.SITE: (Site, [], _site),
}


def subject_card(
    session: Session, kind: SubjectKind, subject_id: int, today: date
) -> SubjectCard | None:
    """Return the card of one subject (None if it no longer exists)."""
    model, options, describe = _CARDS[kind]
    row = session.scalar(select(model).where(model.id == subject_id).options(*options))
    if row is None:
        return None
    heading, facts = describe(row, today)
    site = row if kind is SubjectKind.SITE else getattr(row, "site", None)
    ref = row.ref
    return SubjectCard(kind, row.id, ref, heading, facts, site)
