"""The subjects' list and detail pages.

Patient names never travel in a URL: a search by name is a POST (its results
are shown, not linked); references, sites and statuses are GET parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import abort, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from models import (
    DisposalStatus,
    DocumentCategory,
    EngagementStage,
    InspectionStatus,
    PatientStatus,
    SubjectKind,
    db,
)
from services import deadlines
from services.disposal import meets_mix_rule, non_cannabis_share
from services.engine.subjects import DEFAULT_TIMEZONE
from services.subjects import lists
from services.subjects.cards import expiry, renewal_status
from services.subjects.lists import SubjectFilter
from services.tasks.queries import subject_tasks
from webapp import htmx, params
from webapp.formatting import now
from webapp.policy import allow_any_signed_in
from webapp.policy import current_scope as scope
from webapp.subjects import bp

FIELDS = ("site", "status", "category", "q")


@dataclass(frozen=True)
class Kind:
    """One subject list: its title, status choices, and how it is fetched."""

    title: str
    statuses: dict[str, str]
    fetch: Callable[..., lists.SubjectPage]
    needs_today: bool = False


def _values(enum: Any) -> dict[str, str]:
    return {m.value: m.value.replace("_", " ") for m in enum}


EXPIRY = {"expiring": "expiring within 60 days", "expired": "expired"}
KINDS: dict[str, Kind] = {
    "patients": Kind("Patients", {**EXPIRY, **_values(PatientStatus)}, lists.patients, True),
    "physicians": Kind("Physicians", _values(EngagementStage), lists.physicians),
    "practices": Kind("Practices", {}, lists.practices),
    "documents": Kind("Documents", EXPIRY, lists.documents, True),
    "disposals": Kind("Disposal records", _values(DisposalStatus), lists.disposals),
    "inspections": Kind("Inspections", _values(InspectionStatus), lists.inspections),
}


def _today() -> Any:
    return deadlines.local_date(now(), DEFAULT_TIMEZONE)


def _filter(
    kind: Kind, args: MultiDict[str, str]
) -> tuple[SubjectFilter, dict[str, str], dict[str, str]]:
    """Return the list's filter, messages per bad field, and the clean values."""
    errors: dict[str, str] = {}
    flt = SubjectFilter(
        site_id=params.integer(args, "site", errors),
        q=params.text(args, "q", 100, errors),
        status=params.choice(args, "status", kind.statuses, errors),
        category=params.choice(args, "category", [c.value for c in DocumentCategory], errors),
    )
    return flt, errors, params.cleaned(args, FIELDS, errors)


@bp.get("/")
@allow_any_signed_in
def index() -> ResponseReturnValue:
    """The subjects overview: how many of each kind, with links to the lists."""
    return render_template(
        "subjects/index.html", counts=lists.counts(db.session, scope()), kinds=KINDS
    )


@bp.route(
    "/<any(patients, physicians, practices, documents, disposals, inspections):kind>",
    methods=["GET", "POST"],
)
@allow_any_signed_in
def listing(kind: str) -> ResponseReturnValue:
    """A searchable, paginated list of one kind of subject (POST: a search by name)."""
    spec = KINDS[kind]
    source = request.form if request.method == "POST" else request.args
    flt, errors, values = _filter(spec, source)  # type: ignore[arg-type]
    page_number = 1 if request.method == "POST" else params.page_number(request.args)
    fetch_args: list[Any] = [db.session, scope(), flt]
    if spec.needs_today:
        fetch_args.append(_today())
    page = spec.fetch(*fetch_args, page=page_number)
    context = {
        "kind": kind,
        "spec": spec,
        "page": page,
        "values": values,
        "errors": errors,
        "posted": request.method == "POST",
        "sites": lists.sites(db.session, scope()),
        "categories": _values(DocumentCategory),
        "today": _today(),
        "renewal_status": renewal_status,
        "expiry": expiry,
    }
    status = 422 if errors else 200
    return htmx.render("subjects/list.html", "subjects/_list.html", **context), status


def _detail(kind: SubjectKind, found: Any, template: str, **extra: Any) -> ResponseReturnValue:
    if found is None:
        abort(404)
    tasks = subject_tasks(db.session, scope(), kind, found.id)
    return render_template(template, s=found, tasks=tasks, today=_today(), expiry=expiry, **extra)


@bp.get("/patients/<int:patient_id>")
@allow_any_signed_in
def patient(patient_id: int) -> ResponseReturnValue:
    """A patient: both expiry dates and renewal status, physician, caregivers, tasks."""
    found = lists.patient(db.session, scope(), patient_id)
    return _detail(
        SubjectKind.PATIENT, found, "subjects/patient.html", renewal_status=renewal_status
    )


@bp.get("/physicians/<int:physician_id>")
@allow_any_signed_in
def physician(physician_id: int) -> ResponseReturnValue:
    """A physician: practice, engagement stage, outreach history, tasks."""
    found = lists.physician(db.session, scope(), physician_id)
    contacts = lists.outreach(db.session, physician_id) if found else []
    return _detail(SubjectKind.PHYSICIAN, found, "subjects/physician.html", contacts=contacts)


@bp.get("/practices/<int:practice_id>")
@allow_any_signed_in
def practice(practice_id: int) -> ResponseReturnValue:
    """A practice and its physicians."""
    found = lists.practice(db.session, scope(), practice_id)
    return _detail(SubjectKind.PRACTICE, found, "subjects/practice.html")


@bp.get("/documents/<int:document_id>")
@allow_any_signed_in
def document(document_id: int) -> ResponseReturnValue:
    """A document: category, dates and expiry status, tasks."""
    found = lists.document(db.session, scope(), document_id)
    return _detail(SubjectKind.DOCUMENT, found, "subjects/document.html")


@bp.get("/disposals/<int:disposal_id>")
@allow_any_signed_in
def disposal(disposal_id: int) -> ResponseReturnValue:
    """A disposal record: the waste, the mixture rule, witnesses, hold and destruction."""
    found = lists.disposal(db.session, scope(), disposal_id)
    share = non_cannabis_share(found) if found else None
    mix_ok = meets_mix_rule(found) if found else False
    return _detail(
        SubjectKind.DISPOSAL, found, "subjects/disposal.html", share=share, mix_ok=mix_ok
    )


@bp.get("/inspections/<int:inspection_id>")
@allow_any_signed_in
def inspection(inspection_id: int) -> ResponseReturnValue:
    """An inspection and its site's readiness summary by document category."""
    found = lists.inspection(db.session, scope(), inspection_id)
    summary = lists.readiness(db.session, found.site_id, found.scheduled_on) if found else []
    return _detail(SubjectKind.INSPECTION, found, "subjects/inspection.html", readiness=summary)
