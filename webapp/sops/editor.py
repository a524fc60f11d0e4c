"""The SOP list and the editor: live check, preview against live data, save.

Every action works as a plain form (JS off); with htmx, check and preview swap
their own fragment in place. The form carries the version it started from
(`base_version`), so a save racing another manager's is refused with a diff.
"""

from __future__ import annotations

import functools
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from models import Sop, db
from services.sop_validation import schema_json
from services.sops.editing import EditError, InvalidEdit, SaveConflict, save_edit
from services.sops.history import side_by_side
from services.sops.impact import preview_edit
from services.sops.lint import check_edit, normalize_text
from services.sops.overview import sop_overview, sop_row
from services.sops.registry import latest_version
from webapp import htmx
from webapp.policy import MANAGERS, allow
from webapp.sops import bp


def sop_or_404(slug: str) -> Sop:
    """Return the SOP with this slug, or abort with 404."""
    sop = db.session.scalar(select(Sop).where(Sop.slug == slug))
    if sop is None:
        abort(404, description=f'There is no SOP "{slug}".')
    return sop


@functools.cache
def _schema() -> str:
    return schema_json()


@bp.get("/")
@allow(*MANAGERS)
def index() -> ResponseReturnValue:
    """List every SOP: version, owner, triggers and next runs, open work, last run, state."""
    return render_template("sops/index.html", rows=sop_overview(db.session))


@bp.get("/schema.json")
@allow(*MANAGERS)
def schema() -> ResponseReturnValue:
    """Return the SOP language's JSON Schema (the editor's key completion reads it)."""
    response = Response(_schema(), mimetype="application/schema+json")
    response.cache_control.private = True
    response.cache_control.max_age = 3600
    return response


def _form_text() -> str:
    return normalize_text(request.form.get("text", ""))


def _form_base() -> int:
    raw = request.form.get("base_version", "")
    return int(raw) if raw.isdigit() else 0


def editor_page(sop: Sop, text: str, base: int, status: int = 200, **extra: Any) -> Any:
    """Return the whole editor page for `text` started from version `base`."""
    context: dict[str, Any] = {
        "issues": [],
        "checked": False,
        "impact": None,
        "note": request.form.get("note", ""),
        "apply": request.form.get("apply") == "1",
    }
    context.update(extra)
    row = sop_row(db.session, sop)
    return render_template("sops/edit.html", sop=sop, row=row, text=text, base=base, **context), (
        status
    )


@bp.get("/<slug>/")
@allow(*MANAGERS)
def edit(slug: str) -> ResponseReturnValue:
    """Show the newest version in the editor."""
    sop = sop_or_404(slug)
    latest = latest_version(db.session, sop.id)
    if latest is None:  # a file that never loaded: start from nothing, its error is shown
        return editor_page(sop, "", 0)
    return editor_page(sop, latest.yaml_text, latest.number)


@bp.post("/<slug>/check")
@allow(*MANAGERS)
def check(slug: str) -> ResponseReturnValue:
    """Validate the text as it stands (the editor calls this as the manager types)."""
    sop = sop_or_404(slug)
    text = _form_text()
    result = check_edit(text, sop.slug)
    if htmx.wants_fragment():
        # The text changed: a preview on the page no longer describes it.
        issues = render_template("sops/_issues.html", checked=True, issues=result.issues)
        return issues + render_template("sops/_preview.html", stale=True, oob=True)
    status = 200 if result.ok else 422
    return editor_page(sop, text, _form_base(), status, checked=True, issues=result.issues)


@bp.post("/<slug>/preview")
@allow(*MANAGERS)
def preview(slug: str) -> ResponseReturnValue:
    """Show what saving the text would create, change, cancel or leave alone."""
    sop = sop_or_404(slug)
    text = _form_text()
    result = check_edit(text, sop.slug)
    impact = preview_edit(db.session, sop, text) if result.ok else None
    context = {"impact": impact, "previewed": True, "issues": result.issues, "checked": True}
    if htmx.wants_fragment():
        return render_template("sops/_preview.html", **context)
    return editor_page(sop, text, _form_base(), 200 if result.ok else 422, **context)


@bp.post("/<slug>/save")
@allow(*MANAGERS)
def save(slug: str) -> ResponseReturnValue:
    """Save the text as the next version (note required; refused if the base is stale)."""
    sop = sop_or_404(slug)
    text, base = _form_text(), _form_base()
    try:
        saved = save_edit(
            db.session,
            sop,
            text,
            base,
            current_user.id,
            request.form.get("note"),
            apply_to_open=request.form.get("apply") == "1",
        )
    except InvalidEdit as invalid:
        db.session.rollback()
        return editor_page(sop, text, base, 422, checked=True, issues=invalid.issues, error=invalid)
    except SaveConflict as conflict:
        # Show what the other save changed against this text; the text stays in the
        # editor and the form now starts from the newest version: saving again is a
        # choice made with the diff in view.
        newest = conflict.latest
        diff = side_by_side(newest.yaml_text, text)
        context = {"conflict": conflict, "diff": diff, "theirs": newest, "error": conflict}
        db.session.rollback()
        return editor_page(sop, text, newest.number, 409, **context)
    except EditError as error:
        db.session.rollback()
        return editor_page(sop, text, base, 422, error=error)
    number = saved.version.number
    db.session.commit()
    message = f"Saved version {number} of {sop.title}."
    if saved.applied is not None:
        message += f" Open tasks: {saved.applied.summary()}."
    flash(message)
    return redirect(url_for("sops.history", slug=sop.slug, a=max(number - 1, 1), b=number))
