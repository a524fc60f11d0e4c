"""Files and browser, one truth: `sopflow sync` never silently overwrites a version
saved in the browser, `sopflow export` writes it back, and a broken file stays visible."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from models import AuditEvent, Sop, SopVersion, SopVersionSource
from services.sops.editing import save_edit
from services.sops.files import export_sops
from services.sops.overview import sop_overview
from services.sops.registry import sync_directory
from tests.support.sop_editing import RENEWAL_TEXT, renewal_with_fl
from tests.support.world import build_world


def _sync(session, directory: Path, force: bool = False):
    report = sync_directory(session, directory, force=force)
    session.commit()
    return report


def _versions(session) -> list[tuple[int, str]]:
    rows = session.scalars(select(SopVersion).order_by(SopVersion.number)).all()
    return [(v.number, v.source.value) for v in rows]


def _setup(session, tmp_path: Path) -> tuple[Path, Sop]:
    build_world(session)
    path = tmp_path / "patient-renewal.yaml"
    path.write_text(RENEWAL_TEXT, encoding="utf-8")
    report = _sync(session, tmp_path)
    assert report.created == ["patient-renewal v1"]
    sop = session.scalar(select(Sop).where(Sop.slug == "patient-renewal"))
    return path, sop


def test_an_unchanged_file_is_left_alone_and_a_changed_one_is_the_next_version(session, tmp_path):
    path, _sop = _setup(session, tmp_path)
    assert _sync(session, tmp_path).unchanged == ["patient-renewal v1"]
    path.write_text(renewal_with_fl("-60d"), encoding="utf-8")
    assert _sync(session, tmp_path).created == ["patient-renewal v2"]
    assert _versions(session) == [(1, "file"), (2, "file")]


def test_sync_keeps_a_newer_browser_version_and_says_export(session, tmp_path):
    path, sop = _setup(session, tmp_path)
    save_edit(session, sop, renewal_with_fl("-60d"), 1, None, "browser edit")
    session.commit()
    report = _sync(session, tmp_path)
    assert report.created == [] and report.conflicts == []
    (line,) = report.unchanged
    assert "browser's v2 is newer" in line and "sopflow export patient-renewal" in line
    assert path.read_text(encoding="utf-8") == RENEWAL_TEXT
    assert _versions(session) == [(1, "file"), (2, "browser")]
    assert [row.unexported for row in sop_overview(session)] == [True]  # the list says so


def test_sync_refuses_to_clobber_a_browser_version_and_names_it(session, tmp_path):
    path, sop = _setup(session, tmp_path)
    save_edit(session, sop, renewal_with_fl("-60d"), 1, None, "browser edit")
    session.commit()
    path.write_text(renewal_with_fl("-50d"), encoding="utf-8")  # someone edited the file too
    report = _sync(session, tmp_path)
    (conflict,) = report.conflicts
    assert "changed and so did the database (v2, browser)" in conflict
    assert "nothing was overwritten" in conflict and "--force" in conflict
    assert report.created == []
    assert _versions(session) == [(1, "file"), (2, "browser")]
    # --force takes the file as a new version; the browser's version stays in history.
    forced = _sync(session, tmp_path, force=True)
    assert forced.created == ["patient-renewal v3"]
    assert _versions(session) == [(1, "file"), (2, "browser"), (3, "file")]


def test_export_then_sync_is_clean(session, tmp_path):
    path, sop = _setup(session, tmp_path)
    save_edit(session, sop, renewal_with_fl("-60d"), 1, None, "browser edit")
    session.commit()
    lines = export_sops(session, tmp_path)
    session.commit()
    assert lines == [f"wrote {path} (patient-renewal v2)"]
    assert path.read_text(encoding="utf-8") == renewal_with_fl("-60d")
    exported = session.scalar(select(AuditEvent).where(AuditEvent.action == "export"))
    assert exported.after == {"path": str(path), "version": 2}
    assert _sync(session, tmp_path).unchanged == ["patient-renewal v2"]
    assert export_sops(session, tmp_path) == [f"unchanged {path}"]
    assert [row.unexported for row in sop_overview(session)] == [False]


def test_a_file_never_synced_does_not_overwrite_a_browser_version(session, tmp_path):
    path, sop = _setup(session, tmp_path)
    save_edit(session, sop, renewal_with_fl("-60d"), 1, None, "browser edit")
    sop.file_checksum = None  # e.g. a database from before checksums were kept
    session.commit()
    path.write_text(renewal_with_fl("-50d"), encoding="utf-8")
    assert _sync(session, tmp_path).conflicts
    assert _versions(session) == [(1, "file"), (2, "browser")]


def test_a_broken_file_is_listed_with_its_error_until_it_is_fixed(session, tmp_path):
    path, _sop = _setup(session, tmp_path)
    broken = tmp_path / "new-sop.yaml"
    broken.write_text("id: new-sop\ntitle: [unclosed\n", encoding="utf-8")
    report = _sync(session, tmp_path)
    assert len(report.errors) == 1 and "new-sop.yaml:" in report.errors[0]
    rows = {row.sop.slug: row for row in sop_overview(session)}
    assert rows["new-sop"].version is None and "new-sop.yaml:" in rows["new-sop"].problem
    # An SOP that loaded keeps its versions when its file breaks; the error shows beside.
    path.write_text(RENEWAL_TEXT.replace("steps:", "stepz:"), encoding="utf-8")
    _sync(session, tmp_path)
    renewal = {row.sop.slug: row for row in sop_overview(session)}["patient-renewal"]
    assert renewal.version.number == 1 and 'unknown key "stepz"' in renewal.sop.load_error
    # Fixed, the new file loads into its placeholder and the errors are gone.
    broken.write_text(RENEWAL_TEXT.replace("id: patient-renewal", "id: new-sop"), "utf-8")
    path.write_text(RENEWAL_TEXT, encoding="utf-8")
    report = _sync(session, tmp_path)
    assert report.created == ["new-sop v1"] and report.errors == []
    sops = session.scalars(select(Sop).order_by(Sop.slug)).all()
    assert [(s.slug, s.load_error) for s in sops] == [("new-sop", None), ("patient-renewal", None)]
    assert (
        session.scalar(select(SopVersion.source).where(SopVersion.sop_id == sops[0].id))
        is SopVersionSource.FILE
    )
