"""SOPs, their append-only versions, their runs, and round-robin assignment state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.audit import Audited
from models.base import UTCDateTime, db, utcnow
from models.enums import RunStatus, SopVersionSource, str_enum
from models.org import User


class Sop(Audited, db.Model):
    """A standard operating procedure; its content lives in its versions."""

    __tablename__ = "sop"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)  # the YAML `id`
    title: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    file_path: Mapped[str | None] = mapped_column(String(500))
    # sha256 of the file as last synced from or exported to it: tells "the file
    # changed" apart from "the browser changed" (see services/sops/registry.py).
    file_checksum: Mapped[str | None] = mapped_column(String(64))
    # The last load of the file failed: shown in the SOP list instead of vanishing.
    load_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    versions: Mapped[list[SopVersion]] = relationship(
        back_populates="sop", order_by="SopVersion.number"
    )


class SopVersion(Audited, db.Model):
    """One immutable text of an SOP. Editing or restoring appends a new one."""

    __tablename__ = "sop_version"
    __table_args__ = (UniqueConstraint("sop_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sop_id: Mapped[int] = mapped_column(ForeignKey("sop.id"))
    number: Mapped[int] = mapped_column(Integer)
    yaml_text: Mapped[str] = mapped_column(Text)
    checksum: Mapped[str] = mapped_column(String(64))  # sha256 of yaml_text
    source: Mapped[SopVersionSource] = mapped_column(str_enum(SopVersionSource, 16))
    note: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    sop: Mapped[Sop] = relationship(back_populates="versions")
    author: Mapped[User | None] = relationship()


class SopRun(db.Model):
    """One execution of an SOP (a Prefect flow run, or a dry run) and what it did."""

    __tablename__ = "sop_run"
    __table_args__ = (Index("ix_sop_run_sop_started", "sop_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sop_id: Mapped[int] = mapped_column(ForeignKey("sop.id"))
    sop_version_id: Mapped[int] = mapped_column(ForeignKey("sop_version.id"))
    trigger: Mapped[str] = mapped_column(String(32))  # schedule / event / manual
    trigger_detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    flow_run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[RunStatus] = mapped_column(str_enum(RunStatus, 16), default=RunStatus.RUNNING)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_count: Mapped[int] = mapped_column(Integer, default=0)
    unchanged_count: Mapped[int] = mapped_column(Integer, default=0)
    skipped_count: Mapped[int] = mapped_column(Integer, default=0)
    cancelled_count: Mapped[int] = mapped_column(Integer, default=0)
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    # [{"subject": "patient:12", "error": "..."}]: ids only, never names.
    failures: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)

    sop: Mapped[Sop] = relationship()
    version: Mapped[SopVersion] = relationship()


class RoundRobinCursor(db.Model):
    """Whom a round-robin pool gave work to last, so turns stay fair across runs."""

    __tablename__ = "round_robin_cursor"

    scope: Mapped[str] = mapped_column(String(120), primary_key=True)  # e.g. "team:3"
    last_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
