"""An SOP's history: versions with author, time and note; a side-by-side diff of any
two; a version's text; restore (a new version equal to an old one)."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from models import Sop, db, record
from services.sops.editing import EditError, InvalidEdit, SaveConflict, restore_version
from services.sops.history import Diff, side_by_side, version_of, versions_of
from webapp import htmx
from webapp.policy import MANAGERS, allow
from webapp.sops import bp
from webapp.sops.editor import sop_or_404


def _number(name: str, default: int) -> int:
    raw = request.args.get(name, "")
    return int(raw) if raw.isdigit() else default


def _compare(sop: Sop, newest: int) -> tuple[int, int, Diff | None]:
    """Return (a, b, diff of version a → b) from the query string (default: the last change)."""
    a, b = _number("a", max(newest - 1, 1)), _number("b", newest)
    old, new = version_of(db.session, sop, a), version_of(db.session, sop, b)
    if old is None or new is None:
        return a, b, None
    return a, b, side_by_side(old.yaml_text, new.yaml_text)


@bp.get("/<slug>/history")
@allow(*MANAGERS)
def history(slug: str) -> ResponseReturnValue:
    """List the versions, newest first, with the diff of two of them (`?a=&b=`)."""
    sop = sop_or_404(slug)
    versions = versions_of(db.session, sop.id)
    newest = versions[0].number if versions else 0
    a, b, diff = _compare(sop, newest)
    context = {"sop": sop, "versions": versions, "newest": newest, "a": a, "b": b, "diff": diff}
    if htmx.wants_fragment():
        return render_template("sops/_compare.html", **context)
    return render_template("sops/history.html", **context)


@bp.get("/<slug>/versions/<int:number>")
@allow(*MANAGERS)
def version(slug: str, number: int) -> ResponseReturnValue:
    """Show one version's text, with the button that restores it."""
    sop = sop_or_404(slug)
    found = version_of(db.session, sop, number)
    if found is None:
        abort(404, description=f"{sop.title} has no version {number}.")
    versions = versions_of(db.session, sop.id)
    return render_template("sops/version.html", sop=sop, version=found, newest=versions[0].number)


@bp.get("/<slug>/versions/<int:number>.yaml")
@allow(*MANAGERS)
def download(slug: str, number: int) -> ResponseReturnValue:
    """Download one version as a YAML file (recorded as an export)."""
    sop = sop_or_404(slug)
    found = version_of(db.session, sop, number)
    if found is None:
        abort(404, description=f"{sop.title} has no version {number}.")
    record(db.session, "export", "sop", sop.id, after={"version": number, "to": "download"})
    db.session.commit()
    response = Response(found.yaml_text, mimetype="application/yaml")
    response.headers["Content-Disposition"] = f'attachment; filename="{sop.slug}.v{number}.yaml"'
    return response


@bp.post("/<slug>/versions/<int:number>/restore")
@allow(*MANAGERS)
def restore(slug: str, number: int) -> ResponseReturnValue:
    """Append a copy of version `number` as the newest version."""
    sop = sop_or_404(slug)
    raw_base = request.form.get("base_version", "")
    base = int(raw_base) if raw_base.isdigit() else 0
    try:
        restored = restore_version(
            db.session, sop, number, base, current_user.id, request.form.get("note")
        )
    except SaveConflict as conflict:
        db.session.rollback()
        flash(f"Not restored: {conflict}. Check the history below and try again.")
        return redirect(url_for("sops.history", slug=sop.slug))
    except InvalidEdit as invalid:
        db.session.rollback()
        problems = "; ".join(f"line {i.line}: {i.message}" for i in invalid.issues[:3])
        flash(f"Version {number} no longer passes validation, so it was not restored: {problems}")
        return redirect(url_for("sops.history", slug=sop.slug))
    except EditError as error:
        db.session.rollback()
        flash(f"Not restored: {error}")
        return redirect(url_for("sops.history", slug=sop.slug))
    new_number = restored.number
    db.session.commit()
    flash(f"Restored version {number} as version {new_number}.")
    return redirect(url_for("sops.history", slug=sop.slug, a=new_number - 1, b=new_number))
