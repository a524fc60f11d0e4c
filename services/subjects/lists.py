"""Searchable, paginated lists of subjects and their detail rows, within a user's sites.

Lists page by LIMIT/OFFSET over an indexed order (subject tables are tens of
thousands of rows, not hundreds of thousands) and load related rows in the
same query. Patient lists carry no names: the detail page does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from models import (
    DisposalRecord,
    DisposalStatus,
    Document,
    DocumentCategory,
    EngagementStage,
    Inspection,
    InspectionStatus,
    OutreachContact,
    Patient,
    PatientStatus,
    Physician,
    Practice,
    Site,
)
from services.subjects.cards import RENEWAL_WINDOW_DAYS
from services.tasks.access import Scope

PAGE_SIZE = 50
MAX_QUERY = 100
ENGAGED = (EngagementStage.ENGAGED, EngagementStage.CERTIFYING)


@dataclass(frozen=True)
class SubjectFilter:
    """What a subject list is narrowed to; empty values mean "any"."""

    site_id: int | None = None
    q: str = ""
    status: str = ""  # the kind's own status value, or expired / expiring
    category: str = ""  # documents: a DocumentCategory value
    date_from: date | None = None
    date_to: date | None = None


@dataclass
class SubjectPage:
    """One page of a list: its rows, its number, and whether another follows."""

    items: list[Any]
    page: int
    has_next: bool


def _scoped(query: Select[Any], scope: Scope, site_column: Any) -> Select[Any]:
    if scope.site_ids is None:
        return query
    return query.where(site_column.in_(sorted(scope.site_ids)))


def _paginate(session: Session, query: Select[Any], page: int) -> SubjectPage:
    page = max(1, min(page, 10_000))
    rows = list(session.scalars(query.limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)))
    return SubjectPage(rows[:PAGE_SIZE], page, len(rows) > PAGE_SIZE)


def _words(q: str) -> list[str]:
    return [w for w in q.strip().lower()[:MAX_QUERY].split() if w][:4]


def _ref_id(q: str, prefix: str) -> int | None:
    match = re.fullmatch(rf"{prefix}-(\d{{1,9}})", q.strip(), flags=re.IGNORECASE)
    return int(match.group(1)) if match else None


def sites(session: Session, scope: Scope) -> Sequence[Site]:
    """Return the sites the scope sees, by code (filter choices)."""
    return session.scalars(_scoped(select(Site).order_by(Site.code), scope, Site.id)).all()


# --- patients -----------------------------------------------------------------------


def patients(
    session: Session, scope: Scope, flt: SubjectFilter, today: date, page: int = 1
) -> SubjectPage:
    """Return patients, soonest card expiry first. `q` finds a reference ("P-12"), a
    registry number or a name; `status` is a PatientStatus or expired / expiring."""
    query = select(Patient).options(joinedload(Patient.site))
    query = _scoped(query, scope, Patient.site_id)
    if flt.site_id is not None:
        query = query.where(Patient.site_id == flt.site_id)
    soon = today + timedelta(days=RENEWAL_WINDOW_DAYS)
    if flt.status == "expired":
        query = query.where(
            or_(Patient.card_expires_on < today, Patient.certification_expires_on < today)
        )
    elif flt.status == "expiring":
        query = query.where(
            or_(
                Patient.card_expires_on.between(today, soon),
                Patient.certification_expires_on.between(today, soon),
            )
        )
    elif flt.status:
        query = query.where(Patient.status == PatientStatus(flt.status))
    if flt.q.strip():
        query = query.where(_patient_search(flt.q))
    query = query.order_by(Patient.card_expires_on.is_(None), Patient.card_expires_on, Patient.id)
    return _paginate(session, query, page)


def _patient_search(q: str) -> ColumnElement[bool]:
    if (patient_id := _ref_id(q, "P")) is not None:
        return Patient.id == patient_id
    text = q.strip()[:MAX_QUERY]
    names = [
        or_(
            func.lower(Patient.first_name).startswith(w, autoescape=True),
            func.lower(Patient.last_name).startswith(w, autoescape=True),
        )
        for w in _words(text)
    ]
    return or_(func.upper(Patient.registry_number) == text.upper(), and_(*names))


def patient(session: Session, scope: Scope, patient_id: int) -> Patient | None:
    """Return one patient (physician, caregivers and site loaded) within the scope."""
    query = select(Patient).where(Patient.id == patient_id)
    query = _scoped(query, scope, Patient.site_id).options(
        joinedload(Patient.site), joinedload(Patient.physician), selectinload(Patient.caregivers)
    )
    return session.scalar(query)


# --- physicians and practices --------------------------------------------------------


def physicians(session: Session, scope: Scope, flt: SubjectFilter, page: int = 1) -> SubjectPage:
    """Return physicians by name; `status` is an engagement stage, `q` a name or NPI."""
    query = select(Physician).options(joinedload(Physician.practice), joinedload(Physician.site))
    query = _scoped(query, scope, Physician.site_id)
    if flt.site_id is not None:
        query = query.where(Physician.site_id == flt.site_id)
    if flt.status:
        query = query.where(Physician.engagement_stage == EngagementStage(flt.status))
    if flt.q.strip():
        if (physician_id := _ref_id(flt.q, "DR")) is not None:
            query = query.where(Physician.id == physician_id)
        else:
            words = _words(flt.q)
            query = query.where(
                or_(
                    Physician.npi == flt.q.strip(),
                    and_(
                        *(
                            or_(
                                func.lower(Physician.last_name).startswith(w, autoescape=True),
                                func.lower(Physician.first_name).startswith(w, autoescape=True),
                            )
                            for w in words
                        )
                    ),
                )
            )
    query = query.order_by(Physician.last_name, Physician.first_name, Physician.id)
    return _paginate(session, query, page)


def physician(session: Session, scope: Scope, physician_id: int) -> Physician | None:
    """Return one physician (practice and site loaded) within the scope."""
    query = select(Physician).where(Physician.id == physician_id)
    query = _scoped(query, scope, Physician.site_id).options(
        joinedload(Physician.practice), joinedload(Physician.site)
    )
    return session.scalar(query)


def outreach(session: Session, physician_id: int, limit: int = 50) -> Sequence[OutreachContact]:
    """Return a physician's newest outreach contacts."""
    query = (
        select(OutreachContact)
        .where(OutreachContact.physician_id == physician_id)
        .order_by(OutreachContact.at.desc(), OutreachContact.id.desc())
        .limit(limit)
    )
    return session.scalars(query).all()


@dataclass(frozen=True)
class PracticeRow:
    """A practice and its engagement metrics."""

    practice: Practice
    physicians: int
    engaged: int
    last_contacted_on: date | None


def practices(session: Session, scope: Scope, flt: SubjectFilter, page: int = 1) -> SubjectPage:
    """Return practices with physician counts, engaged counts and last contact (one query)."""
    engaged = func.sum(case((Physician.engagement_stage.in_(ENGAGED), 1), else_=0))
    query = (
        select(
            Practice,
            func.count(Physician.id),
            engaged,
            func.max(Physician.last_contacted_on),
        )
        .outerjoin(Physician, Physician.practice_id == Practice.id)
        .group_by(Practice.id)
        .order_by(Practice.name, Practice.id)
    )
    query = _scoped(query, scope, Practice.site_id)
    if flt.site_id is not None:
        query = query.where(Practice.site_id == flt.site_id)
    if flt.q.strip():
        words = _words(flt.q)
        query = query.where(
            and_(*(func.lower(Practice.name).contains(w, autoescape=True) for w in words))
        )
    page = max(1, min(page, 10_000))
    rows = session.execute(query.limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)).all()
    items = [PracticeRow(p, n or 0, e or 0, last) for p, n, e, last in rows[:PAGE_SIZE]]
    return SubjectPage(items, page, len(rows) > PAGE_SIZE)


def practice(session: Session, scope: Scope, practice_id: int) -> Practice | None:
    """Return one practice with its physicians, within the scope."""
    query = select(Practice).where(Practice.id == practice_id)
    query = _scoped(query, scope, Practice.site_id).options(
        selectinload(Practice.physicians), joinedload(Practice.site)
    )
    return session.scalar(query)


# --- documents, disposals, inspections -------------------------------------------------


def documents(
    session: Session, scope: Scope, flt: SubjectFilter, today: date, page: int = 1
) -> SubjectPage:
    """Return documents, soonest expiry first; `status` is expired / expiring."""
    query = select(Document).options(joinedload(Document.site))
    query = _scoped(query, scope, Document.site_id)
    if flt.site_id is not None:
        query = query.where(Document.site_id == flt.site_id)
    if flt.category:
        query = query.where(Document.category == DocumentCategory(flt.category))
    if flt.status == "expired":
        query = query.where(Document.expires_on < today)
    elif flt.status == "expiring":
        soon = today + timedelta(days=RENEWAL_WINDOW_DAYS)
        query = query.where(Document.expires_on.between(today, soon))
    if flt.q.strip():
        query = query.where(
            and_(*(func.lower(Document.title).contains(w, autoescape=True) for w in _words(flt.q)))
        )
    query = query.order_by(Document.expires_on.is_(None), Document.expires_on, Document.id)
    return _paginate(session, query, page)


def document(session: Session, scope: Scope, document_id: int) -> Document | None:
    """Return one document within the scope."""
    query = select(Document).where(Document.id == document_id)
    query = _scoped(query, scope, Document.site_id).options(
        joinedload(Document.site), joinedload(Document.owner)
    )
    return session.scalar(query)


def disposals(session: Session, scope: Scope, flt: SubjectFilter, page: int = 1) -> SubjectPage:
    """Return disposal records, newest first; `status` is a DisposalStatus, `q` a tag."""
    query = select(DisposalRecord).options(
        joinedload(DisposalRecord.site),
        joinedload(DisposalRecord.witness1),
        joinedload(DisposalRecord.witness2),
    )
    query = _scoped(query, scope, DisposalRecord.site_id)
    if flt.site_id is not None:
        query = query.where(DisposalRecord.site_id == flt.site_id)
    if flt.status:
        query = query.where(DisposalRecord.status == DisposalStatus(flt.status))
    if flt.q.strip():
        if (record_id := _ref_id(flt.q, "W")) is not None:
            query = query.where(DisposalRecord.id == record_id)
        else:
            tag = flt.q.strip()[:MAX_QUERY].lower()
            query = query.where(func.lower(DisposalRecord.tag).contains(tag, autoescape=True))
    query = query.order_by(DisposalRecord.generated_at.desc(), DisposalRecord.id.desc())
    return _paginate(session, query, page)


def disposal(session: Session, scope: Scope, record_id: int) -> DisposalRecord | None:
    """Return one disposal record (people loaded) within the scope."""
    query = select(DisposalRecord).where(DisposalRecord.id == record_id)
    query = _scoped(query, scope, DisposalRecord.site_id).options(
        joinedload(DisposalRecord.site),
        joinedload(DisposalRecord.logged_by),
        joinedload(DisposalRecord.witness1),
        joinedload(DisposalRecord.witness2),
    )
    return session.scalar(query)


def inspections(session: Session, scope: Scope, flt: SubjectFilter, page: int = 1) -> SubjectPage:
    """Return inspections, newest scheduled first; `status` is an InspectionStatus."""
    query = select(Inspection).options(joinedload(Inspection.site))
    query = _scoped(query, scope, Inspection.site_id)
    if flt.site_id is not None:
        query = query.where(Inspection.site_id == flt.site_id)
    if flt.status:
        query = query.where(Inspection.status == InspectionStatus(flt.status))
    query = query.order_by(Inspection.scheduled_on.desc(), Inspection.id.desc())
    return _paginate(session, query, page)


def inspection(session: Session, scope: Scope, inspection_id: int) -> Inspection | None:
    """Return one inspection within the scope."""
    query = select(Inspection).where(Inspection.id == inspection_id)
    query = _scoped(query, scope, Inspection.site_id).options(joinedload(Inspection.site))
    return session.scalar(query)


@dataclass(frozen=True)
class Readiness:
    """One regulatory category at a site: complete / missing / expired, and counts."""

    category: DocumentCategory
    state: str
    current: int
    expired: int


def readiness(session: Session, site_id: int, on: date) -> list[Readiness]:
    """Return the inspection-readiness summary of a site's documents as of `on` (one query)."""
    expired = func.sum(case((Document.expires_on < on, 1), else_=0))
    query = (
        select(Document.category, func.count(), expired)
        .where(Document.site_id == site_id)
        .group_by(Document.category)
    )
    found = {cat: (n, e or 0) for cat, n, e in session.execute(query)}
    summary = []
    for category in DocumentCategory:
        total, gone = found.get(category, (0, 0))
        state = "missing" if total == 0 else ("expired" if gone == total else "complete")
        summary.append(Readiness(category, state, total - gone, gone))
    return summary


def counts(session: Session, scope: Scope) -> dict[str, int]:
    """Return how many subjects of each kind the scope sees (the overview)."""
    models = {
        "patients": (Patient, Patient.site_id),
        "physicians": (Physician, Physician.site_id),
        "practices": (Practice, Practice.site_id),
        "documents": (Document, Document.site_id),
        "disposals": (DisposalRecord, DisposalRecord.site_id),
        "inspections": (Inspection, Inspection.site_id),
    }
    result = {}
    for name, (model, site_column) in models.items():
        query = _scoped(select(func.count()).select_from(model), scope, site_column)
        result[name] = session.scalar(query) or 0
    return result
