"""Inspections: scheduling one (which starts the inspection-prep SOP) and readiness."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from models import Inspection, InspectionKind, Site
from services.events import emit


class InspectionError(Exception):
    """The inspection cannot be scheduled; the message says why."""


def schedule_inspection(
    session: Session,
    site_id: int,
    agency: str,
    scheduled_on: date,
    kind: InspectionKind,
    today: date,
) -> Inspection:
    """Save an upcoming inspection and announce `inspection.scheduled` (on commit)."""
    if session.get(Site, site_id) is None:
        raise InspectionError("no such site")
    if not agency.strip():
        raise InspectionError("the inspecting agency is required")
    if scheduled_on < today:
        raise InspectionError("an inspection is scheduled for today or later")
    inspection = Inspection(
        site_id=site_id, agency=agency.strip(), scheduled_on=scheduled_on, kind=kind
    )
    session.add(inspection)
    session.flush()
    emit(session, "inspection.scheduled", inspection.id)
    return inspection
