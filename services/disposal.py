"""Cannabis waste: logging a record (which starts the disposal SOP) and its checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import (
    GRAMS_PER_UNIT,
    DisposalRecord,
    Site,
    User,
    WasteMethod,
    WasteReason,
    WasteSource,
    WeightUnit,
    utcnow,
)
from services.events import emit


class DisposalError(Exception):
    """The record cannot be logged; `errors` maps each field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class WasteEntry:
    """What a person enters to log waste (strings as typed; checked by `log_disposal`)."""

    site_id: int
    source_type: str
    tag: str
    weight: str
    unit: str
    reason: str
    method: str
    witness1_id: int | None
    witness2_id: int | None
    mixed_material: str | None = None
    mixed_weight: str | None = None
    camera: str | None = None
    camera_window_start: datetime | None = None
    camera_window_end: datetime | None = None
    note: str | None = None


def _decimal(value: str | None, field: str, errors: dict[str, str]) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        errors[field] = f"expected a number, got {value!r}"
        return None
    if number < 0 or not number.is_finite():
        errors[field] = "must be zero or more"
        return None
    return number


def _choice(enum: Any, value: str, field: str, errors: dict[str, str]) -> Any:
    try:
        return enum(value)
    except ValueError:
        errors[field] = f"choose one of: {', '.join(m.value for m in enum)}"
        return None


def _witness_errors(session: Session, entry: WasteEntry, logger: User) -> dict[str, str]:
    errors: dict[str, str] = {}
    ids = {"witness1_id": entry.witness1_id, "witness2_id": entry.witness2_id}
    for field, user_id in ids.items():
        if user_id is None:
            errors[field] = "two witnesses are required (Michigan R 420.211)"
        elif user_id == logger.id:
            errors[field] = "the person logging the waste cannot witness it"
    if entry.witness1_id is not None and entry.witness1_id == entry.witness2_id:
        errors["witness2_id"] = "the two witnesses must be different people"
    known = set(
        session.scalars(
            select(User.id).where(User.id.in_([i for i in ids.values() if i]), User.active)
        )
    )
    for field, user_id in ids.items():
        if user_id is not None and field not in errors and user_id not in known:
            errors[field] = "no active user with that id"
    return errors


def log_disposal(
    session: Session, entry: WasteEntry, logger: User, now: datetime | None = None
) -> DisposalRecord:
    """Check and save a waste record, and announce `disposal.logged` (on commit).

    Raises DisposalError with a message per bad field; nothing is saved then.
    """
    errors = _witness_errors(session, entry, logger)
    source = _choice(WasteSource, entry.source_type, "source_type", errors)
    unit = _choice(WeightUnit, entry.unit, "unit", errors)
    reason = _choice(WasteReason, entry.reason, "reason", errors)
    method = _choice(WasteMethod, entry.method, "method", errors)
    weight = _decimal(entry.weight, "weight", errors)
    if weight is not None and weight == 0:
        errors["weight"] = "must be more than zero"
    mixed = _decimal(entry.mixed_weight, "mixed_weight", errors)
    if not entry.tag.strip():
        errors["tag"] = "the package tag or batch id is required"
    if session.get(Site, entry.site_id) is None:
        errors["site_id"] = "no such site"
    start, end = entry.camera_window_start, entry.camera_window_end
    if start and end and end <= start:
        errors["camera_window_end"] = "must be after the window's start"
    if errors:
        raise DisposalError(errors)
    record = DisposalRecord(
        site_id=entry.site_id,
        source_type=source,
        tag=entry.tag.strip(),
        weight=weight,
        unit=unit,
        reason=reason,
        method=method,
        mixed_material=entry.mixed_material or None,
        mixed_weight=mixed,
        note=entry.note,
        logged_by_id=logger.id,
        witness1_id=entry.witness1_id,
        witness2_id=entry.witness2_id,
        camera=entry.camera,
        camera_window_start=start,
        camera_window_end=end,
        generated_at=now or utcnow(),
    )
    session.add(record)
    session.flush()
    emit(session, "disposal.logged", record.id)
    return record


def non_cannabis_share(record: DisposalRecord) -> float | None:
    """Return the non-cannabis share of the mixture (0..1), or None if nothing is mixed in.

    Colorado 1 CCR 212-3 §3-230: waste leaves the premises ground and mixed so
    that the mixture is at least 50 % non-marijuana.
    """
    if record.mixed_weight is None:
        return None
    grams = float(record.weight) * GRAMS_PER_UNIT[record.unit]
    mixed_grams = float(record.mixed_weight) * GRAMS_PER_UNIT[record.unit]
    total = grams + mixed_grams
    return mixed_grams / total if total else None


def meets_mix_rule(record: DisposalRecord) -> bool:
    """Return True when at least half the mixture is non-cannabis material."""
    share = non_cannabis_share(record)
    return share is not None and share >= 0.5
