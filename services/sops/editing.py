"""Changing an SOP from the browser: save a new version, restore an old one, enable
or disable it.

Versions are append-only: a save or a restore adds one, never rewrites one.
Saves are optimistic: the editor sends the version number it started from,
and a save whose base is no longer the newest is refused with the newer
version (`SaveConflict`), so two managers never silently overwrite each other.
Two saves at the same instant are serialised by a row lock on the SOP
(PostgreSQL) and, on any database, by the unique (sop, number) constraint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import Sop, SopVersion, SopVersionSource
from services.sop_validation import SopIssue
from services.sops.lint import check_edit, normalize_text
from services.sops.open_tasks import Applied, apply_to_open_tasks
from services.sops.registry import add_version, checksum, latest_version

MAX_NOTE = 2000


class EditError(Exception):
    """The edit cannot be saved as sent; the message says why (nothing was saved)."""


class InvalidEdit(EditError):
    """The text does not validate; `issues` lists every problem."""

    def __init__(self, issues: list[SopIssue]) -> None:
        self.issues = issues
        super().__init__(f"the SOP has {len(issues)} problem(s); nothing was saved")


class SaveConflict(EditError):
    """Another version was saved since the editor's base version."""

    def __init__(self, base: int, latest: SopVersion) -> None:
        self.base = base
        self.latest = latest
        who = latest.author.name if latest.author else latest.source.value
        super().__init__(
            f"version {latest.number} was saved ({who}) after the version {base} you started "
            "from; your text was not saved and is still in the editor"
        )


@dataclass
class Saved:
    """A saved version and, if asked, what applying it to open tasks did."""

    version: SopVersion
    applied: Applied | None = None


def _lock(session: Session, sop: Sop) -> None:
    """Hold the SOP's row until commit, so concurrent saves of it take turns (a no-op
    on SQLite, whose writers take turns anyway)."""
    session.execute(select(Sop.id).where(Sop.id == sop.id).with_for_update())


def _clean_note(note: str | None) -> str:
    text = " ".join((note or "").split())
    if not text:
        raise EditError("A change note is required: say what changed and why.")
    if len(text) > MAX_NOTE:
        raise EditError(f"The change note is {len(text)} characters; keep it under {MAX_NOTE}.")
    return text


def _append(
    session: Session,
    sop: Sop,
    text: str,
    base: int,
    source: SopVersionSource,
    author_id: int | None,
    note: str,
) -> SopVersion:
    """Append `text` as the next version if `base` is still the newest; return it."""
    _lock(session, sop)
    latest = latest_version(session, sop.id)
    if latest is not None and latest.number != base:
        raise SaveConflict(base, latest)
    if latest is not None and latest.checksum == checksum(text):
        raise EditError(f"Nothing to save: the text is the same as version {latest.number}.")
    try:
        with session.begin_nested():
            version = add_version(session, sop, text, source, author_id=author_id, note=note)
    except IntegrityError:  # another save took this number between our read and insert
        session.expire_all()
        newest = latest_version(session, sop.id)
        if newest is None:
            raise
        raise SaveConflict(base, newest) from None
    return version


def save_edit(
    session: Session,
    sop: Sop,
    text: str,
    base: int,
    author_id: int | None,
    note: str | None,
    apply_to_open: bool = False,
    now: datetime | None = None,
) -> Saved:
    """Validate and append `text` as the SOP's next version; return it.

    Raises InvalidEdit, SaveConflict or EditError (nothing saved). Open tasks keep
    their version unless `apply_to_open`. The caller commits.
    """
    text = normalize_text(text)
    clean_note = _clean_note(note)
    check = check_edit(text, sop.slug)
    if not check.ok or check.spec is None:
        raise InvalidEdit(check.issues)
    version = _append(session, sop, text, base, SopVersionSource.BROWSER, author_id, clean_note)
    sop.title = check.spec.title
    sop.load_error = None
    applied = apply_to_open_tasks(session, version, now) if apply_to_open else None
    return Saved(version, applied)


def restore_version(
    session: Session,
    sop: Sop,
    number: int,
    base: int,
    author_id: int | None,
    note: str | None = None,
) -> SopVersion:
    """Append a copy of version `number` as the newest version; return it.

    History is never rewritten: the restored text becomes a new version with its
    own author and note. Raises EditError / InvalidEdit / SaveConflict.
    """
    old = session.scalar(
        select(SopVersion).where(SopVersion.sop_id == sop.id, SopVersion.number == number)
    )
    if old is None:
        raise EditError(f"{sop.slug} has no version {number}.")
    check = check_edit(old.yaml_text, sop.slug)
    if not check.ok or check.spec is None:
        # The language may have moved on since: say so rather than store a broken newest.
        raise InvalidEdit(check.issues)
    clean_note = _clean_note(note or f"Restored version {number}")
    version = _append(
        session, sop, old.yaml_text, base, SopVersionSource.RESTORE, author_id, clean_note
    )
    sop.title = check.spec.title
    return version


def set_enabled(session: Session, sop: Sop, enabled: bool) -> bool:
    """Enable or disable the SOP (audited); return True when that changed anything.

    A disabled SOP has no schedules (`sopflow serve` drops them at its next reload;
    see `services.sops.launch.pause_schedules` for a running Prefect) and ignores events.
    """
    if sop.enabled == enabled:
        return False
    sop.enabled = enabled
    session.flush()
    return True
