"""SOPs in the database: their versions, loading a version's spec, syncing the folder.

Files and browser, one truth. The database holds every version; the file is
one way to write a new one. `Sop.file_checksum` remembers the file's content
as last synced or exported, so `sync` can tell who changed what:

- file unchanged since then: nothing to do (if the browser saved newer
  versions, `sync` says so: `sopflow export` writes them to the file for git);
- file changed, browser did not: the file becomes the next version;
- both changed: `sync` refuses and names the versions (`export` or
  `sync --force` decides).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Sop, SopVersion, SopVersionSource
from models.sop_spec import SopSpec
from services.engine.planner import PreparedSpec
from services.sop_validation import SopValidationError, load_sop_text


def checksum(text: str) -> str:
    """Return the sha256 hex digest of a SOP text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def latest_version(session: Session, sop_id: int) -> SopVersion | None:
    """Return the SOP's newest version (the one new runs use), or None."""
    query = (
        select(SopVersion)
        .where(SopVersion.sop_id == sop_id)
        .order_by(SopVersion.number.desc())
        .limit(1)
    )
    return session.scalar(query)


@functools.lru_cache(maxsize=256)
def _prepared(text_checksum: str, text: str, source: str) -> PreparedSpec:
    return PreparedSpec(load_sop_text(text, source))


def prepared_for(version: SopVersion) -> PreparedSpec:
    """Return the compiled spec of a stored version (cached by content)."""
    return _prepared(version.checksum, version.yaml_text, f"{version.sop.slug} v{version.number}")


def spec_for(version: SopVersion) -> SopSpec:
    """Return the parsed spec of a stored version."""
    return prepared_for(version).spec


@dataclass
class SyncReport:
    """What a sync did, file by file."""

    created: list[str] = field(default_factory=list)  # "slug v1"
    unchanged: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"new version: {x}" for x in self.created]
        out += [f"unchanged: {x}" for x in self.unchanged]
        out += [f"conflict: {x}" for x in self.conflicts]
        out += [f"error: {x}" for x in self.errors]
        return out


def add_version(
    session: Session,
    sop: Sop,
    text: str,
    source: SopVersionSource,
    author_id: int | None = None,
    note: str | None = None,
) -> SopVersion:
    """Append a new version (number = newest + 1) holding `text`; return it."""
    newest = session.scalar(select(func.max(SopVersion.number)).where(SopVersion.sop_id == sop.id))
    version = SopVersion(
        sop_id=sop.id,
        number=(newest or 0) + 1,
        yaml_text=text,
        checksum=checksum(text),
        source=source,
        author_id=author_id,
        note=note,
    )
    session.add(version)
    session.flush()
    return version


def sync_file(session: Session, path: Path, report: SyncReport, force: bool = False) -> None:
    """Load one SOP file into the database (see the module's rule on conflicts)."""
    text = path.read_text(encoding="utf-8")
    shown = str(path)
    try:
        spec = load_sop_text(text, shown)
    except SopValidationError as exc:
        _record_load_error(session, path, str(exc))
        report.errors.append(str(exc))
        return
    sop = session.scalar(select(Sop).where(Sop.slug == spec.id))
    if sop is None:
        sop = Sop(slug=spec.id, title=spec.title, file_path=shown)
        session.add(sop)
        session.flush()
    sop.load_error = None
    sop.title = spec.title
    sop.file_path = shown
    _drop_placeholders(session, shown, keep=sop)
    newest = latest_version(session, sop.id)
    file_sum = checksum(text)
    if newest is not None and newest.checksum == file_sum:
        sop.file_checksum = file_sum
        report.unchanged.append(f"{spec.id} v{newest.number}")
        return
    browser_ahead = newest is not None and newest.checksum != sop.file_checksum
    if newest is not None and sop.file_checksum == file_sum:
        report.unchanged.append(
            f"{spec.id}: the browser's v{newest.number} is newer than {shown}; "
            f"`sopflow export {spec.id}` writes it to the file"
        )
        return
    # A file never synced (no checksum) only wins over versions that came from files.
    edited = sop.file_checksum is not None or (
        newest is not None and newest.source is not SopVersionSource.FILE
    )
    if browser_ahead and edited and not force:
        report.conflicts.append(
            f"{spec.id}: {shown} changed and so did the database (v{newest.number}, "
            f"{newest.source.value}); nothing was overwritten. Run `sopflow export {spec.id}` "
            "to keep the database's version, or `sopflow sync --force` to take the file"
        )
        return
    version = add_version(session, sop, text, SopVersionSource.FILE, note=f"loaded from {shown}")
    sop.file_checksum = file_sum
    report.created.append(f"{spec.id} v{version.number}")


def _record_load_error(session: Session, path: Path, error: str) -> None:
    """Keep a file's load error on its SOP, so the SOP list shows it instead of nothing.

    A file that never loaded gets a placeholder SOP named after the file (its id is
    unknown: the file may not even parse) without versions; the first good load of
    the file takes it over or, if the file declares another id, removes it.
    """
    shown = str(path)
    sop = session.scalar(select(Sop).where(Sop.file_path == shown)) or session.scalar(
        select(Sop).where(Sop.slug == path.stem)
    )
    if sop is None:
        sop = Sop(slug=path.stem[:64], title=path.name, file_path=shown)
        session.add(sop)
    sop.load_error = error


def _drop_placeholders(session: Session, shown: str, keep: Sop) -> None:
    """Delete the version-less placeholders of `shown` other than `keep`."""
    others = session.scalars(select(Sop).where(Sop.file_path == shown, Sop.id != keep.id)).all()
    for other in others:
        if latest_version(session, other.id) is None:
            session.delete(other)


def sync_directory(session: Session, directory: Path, force: bool = False) -> SyncReport:
    """Load every `*.yaml` SOP under `directory`; one broken file never stops the others."""
    report = SyncReport()
    for path in sorted(directory.glob("*.y*ml")):
        with session.begin_nested():
            sync_file(session, path, report, force=force)
    return report
