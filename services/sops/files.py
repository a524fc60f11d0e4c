"""Writing SOP versions back to `sop_definitions/` (the browser → git direction)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Sop, record
from services.sops.registry import latest_version


def export_sops(session: Session, directory: Path, slugs: tuple[str, ...] = ()) -> list[str]:
    """Write each SOP's newest version to its file (all SOPs when `slugs` is empty);
    return a line per SOP saying what happened."""
    query = select(Sop).order_by(Sop.slug)
    if slugs:
        query = query.where(Sop.slug.in_(slugs))
    lines = []
    found = set()
    for sop in session.scalars(query):
        found.add(sop.slug)
        version = latest_version(session, sop.id)
        if version is None:
            lines.append(f"skipped {sop.slug}: no version")
            continue
        path = Path(sop.file_path) if sop.file_path else directory / f"{sop.slug}.yaml"
        sop.file_path = str(path)
        sop.file_checksum = version.checksum
        if path.exists() and path.read_text(encoding="utf-8") == version.yaml_text:
            lines.append(f"unchanged {path}")
            continue
        path.write_text(version.yaml_text, encoding="utf-8")
        record(
            session, "export", "sop", sop.id, after={"path": str(path), "version": version.number}
        )
        lines.append(f"wrote {path} ({sop.slug} v{version.number})")
    lines += [f"no SOP {slug!r}" for slug in slugs if slug not in found]
    return lines
