"""The audit view (filter by user, entity, action, dates) and its CSV export."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Response, request, stream_with_context
from flask.typing import ResponseReturnValue

from models import db, utcnow
from services.audit_log import (
    ACTIONS,
    AuditFilter,
    actors,
    audit_page,
    entity_types,
    export_csv,
    record_export,
)
from webapp import htmx, params
from webapp.audit import bp
from webapp.policy import MANAGERS, allow

FIELDS = ("actor", "entity_type", "entity_id", "action", "date_from", "date_to")


def parse(args: Mapping[str, str]) -> tuple[AuditFilter, dict[str, str], dict[str, str]]:
    """Return the audit filter in `args`, messages per bad field, and the clean values."""
    errors: dict[str, str] = {}
    flt = AuditFilter(
        actor_id=params.integer(args, "actor", errors),
        entity_type=params.choice(args, "entity_type", entity_types(), errors),
        entity_id=params.text(args, "entity_id", 64, errors),
        action=params.choice(args, "action", ACTIONS, errors),
        date_from=params.day(args, "date_from", errors),
        date_to=params.day(args, "date_to", errors),
    )
    params.date_range(flt.date_from, flt.date_to, ("date_from", "date_to"), errors)
    return flt, errors, params.cleaned(args, FIELDS, errors)


@bp.get("/")
@allow(*MANAGERS)
def index() -> ResponseReturnValue:
    """Audit events, newest first, filtered; "Older" pages by id."""
    flt, errors, values = parse(request.args)
    before = params.integer(request.args, "before", {})
    events, next_before = audit_page(db.session, flt, before)
    context = {
        "events": events,
        "next_before": next_before,
        "values": values,
        "errors": errors,
        "people": actors(db.session),
        "entity_types": entity_types(),
        "actions": ACTIONS,
    }
    status = 422 if errors else 200
    return htmx.render("audit/index.html", "audit/_events.html", **context), status


@bp.get("/export.csv")
@allow(*MANAGERS)
def export() -> ResponseReturnValue:
    """The filtered trail as CSV; the export itself is recorded in the trail first."""
    flt, errors, _ = parse(request.args)
    if errors:
        return index()
    record_export(db.session, flt)
    db.session.commit()
    stamp = utcnow().strftime("%Y%m%dT%H%MZ")
    return Response(
        stream_with_context(export_csv(db.session, flt)),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="audit-{stamp}.csv"',
            "Cache-Control": "private, no-store",
        },
    )
