"""Proof attached to a task: an uploaded file, a link, or a filed Document.

Uploaded files are stored under a storage root (the web app passes
`instance/uploads`) by a random storage key; the name the user gave the file is
kept for display only and never becomes part of a path.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Document, Evidence, Task, TaskEvent, utcnow
from models.sop_spec import EvidenceRule
from services.sops.registry import spec_for
from services.tasks.access import Scope, may_work
from services.tasks.actions import TaskActionError

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_URL = 1000
MAX_NOTE = 500
_KEY = re.compile(r"^[A-Za-z0-9_-]{32}$")


@dataclass(frozen=True)
class StoredFile:
    """Where an uploaded file lives: its key and its absolute path."""

    key: str
    path: Path


def evidence_rule(task: Task) -> EvidenceRule | None:
    """Return the step's evidence rule (kind, category, note), or None."""
    step = spec_for(task.sop_version).steps_by_id().get(task.step_id)
    return step.evidence if step else None


def display_name(name: str | None) -> str:
    """Return a safe display name for an uploaded file: its last path part, printable
    characters only, at most 255 characters ("upload" when nothing is left)."""
    base = re.split(r"[\\/]", name or "")[-1]
    cleaned = "".join(c for c in base if unicodedata.category(c)[0] not in ("C", "Z") or c == " ")
    return cleaned.strip()[:255] or "upload"


def storage_path(root: Path, key: str) -> Path:
    """Return the path of the stored file `key` under `root`; ValueError for a bad key."""
    if not _KEY.match(key):
        raise ValueError("not a storage key")
    return root / key[:2] / key


def store_file(root: Path, stream: BinaryIO, limit: int = MAX_FILE_BYTES) -> StoredFile:
    """Copy `stream` to a new random key under `root`; raise TaskActionError when it is
    empty or larger than `limit` bytes (nothing is left behind then)."""
    key = secrets.token_urlsafe(24)
    path = storage_path(root, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    try:
        with path.open("xb") as out:
            while chunk := stream.read(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise TaskActionError(
                        f"The file is larger than {limit // (1024 * 1024)} MB; attach a link."
                    )
                out.write(chunk)
        if size == 0:
            raise TaskActionError("The file is empty.")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return StoredFile(key, path)


def _check(scope: Scope, task: Task) -> None:
    if not task.is_open:
        raise TaskActionError(f"This task is {task.status.value.replace('_', ' ')}.")
    if not may_work(scope, task):
        raise TaskActionError("Only the task's assignee or a manager can attach evidence.")


def _note(note: str | None) -> str | None:
    value = (note or "").strip()
    if len(value) > MAX_NOTE:
        raise TaskActionError(f"The note is too long: at most {MAX_NOTE} characters.")
    return value or None


def _attach(session: Session, scope: Scope, task: Task, evidence: Evidence, label: str) -> Evidence:
    evidence.added_by_id = scope.user_id
    evidence.added_at = utcnow()
    task.evidence.append(evidence)
    session.add(
        TaskEvent(
            task_id=task.id,
            actor_id=scope.user_id,
            kind="evidence",
            message=f"Attached {label}",
            at=evidence.added_at,
        )
    )
    session.flush()
    return evidence


def attach_file(
    session: Session,
    scope: Scope,
    task: Task,
    root: Path,
    stream: BinaryIO,
    filename: str | None,
    note: str | None = None,
) -> Evidence:
    """Store an uploaded file and attach it to the task."""
    _check(scope, task)
    clean_note = _note(note)
    stored = store_file(root, stream)
    name = display_name(filename)
    evidence = Evidence(kind="file", file_ref=stored.key, file_name=name, note=clean_note)
    return _attach(session, scope, task, evidence, f"file {name}")


def attach_link(
    session: Session, scope: Scope, task: Task, url: str | None, note: str | None = None
) -> Evidence:
    """Attach an http(s) link (e.g. the registry's confirmation page)."""
    _check(scope, task)
    value = (url or "").strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise TaskActionError("Give a link starting with https:// or http://.")
    if len(value) > MAX_URL:
        raise TaskActionError(f"The link is too long: at most {MAX_URL} characters.")
    evidence = Evidence(kind="link", url=value, note=_note(note))
    return _attach(session, scope, task, evidence, f"link {parts.netloc}")


def document_choices(session: Session, task: Task, limit: int = 200) -> Sequence[Document]:
    """Return the documents of the task's site that may be linked (the step's category
    first when it names one), newest first."""
    query = select(Document).order_by(Document.created_at.desc(), Document.id.desc()).limit(limit)
    if task.site_id is not None:
        query = query.where(Document.site_id == task.site_id)
    rule = evidence_rule(task)
    if rule is not None and rule.category is not None:
        query = query.where(Document.category == rule.category)
    return session.scalars(query).all()


def attach_document(
    session: Session, scope: Scope, task: Task, document_id: int | None, note: str | None = None
) -> Evidence:
    """Link a filed Document of the task's site (in the step's category, if it names one)."""
    _check(scope, task)
    document = session.get(Document, document_id) if document_id else None
    if document is None or (task.site_id is not None and document.site_id != task.site_id):
        raise TaskActionError("Choose a document of this task's site.")
    rule = evidence_rule(task)
    if rule is not None and rule.category is not None and document.category != rule.category:
        category = rule.category.value.replace("_", " ")
        raise TaskActionError(f"This step needs a document filed under {category}.")
    evidence = Evidence(kind="document", document_id=document.id, note=_note(note))
    return _attach(session, scope, task, evidence, f"document {document.ref}")
