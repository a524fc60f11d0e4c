"""What the SOP language knows about each kind of subject, read from the SQLAlchemy tables.

One registry maps a `SubjectKind` to its table class, its columns (name, value
type, nullability, allowed values), its date fields, how it reaches its site,
its opaque reference, the columns that are protected health information, and a
*sample subject*: a plain object with realistic synthetic values for every
column, used to render templates when an SOP is validated. Everything is
derived from the table classes, so a new column is known here at once.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from types import SimpleNamespace
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import inspect as sa_inspect

from models.enums import (
    ContactPreference,
    DisposalStatus,
    DocumentCategory,
    EngagementStage,
    InspectionKind,
    InspectionStatus,
    PatientStatus,
    Role,
    SubjectKind,
    WasteMethod,
    WasteReason,
    WasteSource,
    WeightUnit,
)
from models.org import Site, User
from models.subjects import (
    Caregiver,
    DisposalRecord,
    Document,
    Inspection,
    Patient,
    Physician,
    Practice,
)

FieldType = Literal["date", "datetime", "string", "integer", "number", "boolean"]

MODELS: dict[SubjectKind, type[Any]] = {
    SubjectKind.PATIENT: Patient,
    SubjectKind.CAREGIVER: Caregiver,
    SubjectKind.PHYSICIAN: Physician,
    SubjectKind.PRACTICE: Practice,
    SubjectKind.DOCUMENT: Document,
    SubjectKind.DISPOSAL: DisposalRecord,
    SubjectKind.INSPECTION: Inspection,
    SubjectKind.SITE: Site,
}

# Site has no `ref` property; its opaque reference uses this prefix (see ref_for).
SITE_REF_PREFIX = "S-"

# Columns that identify a person or their health (HIPAA minimum necessary): they
# may appear in a task's in-app description, never in its title (calendar feeds, mail).
PHI_FIELDS: dict[SubjectKind, frozenset[str]] = {
    SubjectKind.PATIENT: frozenset(
        {
            "first_name",
            "last_name",
            "date_of_birth",
            "qualifying_condition",
            "registry_number",
            "email",
            "phone",
        }
    ),
    SubjectKind.CAREGIVER: frozenset(
        {"first_name", "last_name", "registry_number", "email", "phone"}
    ),
}

# User columns a template may read (never secrets).
_USER_FIELDS = ("id", "name", "email", "role", "active")


@dataclass(frozen=True)
class SubjectField:
    """One column of a subject's table, as the SOP language sees it."""

    name: str
    type: FieldType
    nullable: bool
    enum: type[enum.Enum] | None = None

    @property
    def choices(self) -> tuple[str, ...]:
        """The allowed values of an enum column (empty for free columns)."""
        return tuple(str(m.value) for m in self.enum) if self.enum else ()

    @property
    def is_temporal(self) -> bool:
        return self.type in ("date", "datetime")


def _field_type(column_type: sa.types.TypeEngine[Any]) -> FieldType:
    if isinstance(column_type, sa.types.TypeDecorator):
        column_type = column_type.impl_instance
    if isinstance(column_type, sa.DateTime):
        return "datetime"
    if isinstance(column_type, sa.Date):
        return "date"
    if isinstance(column_type, sa.Boolean):
        return "boolean"
    if isinstance(column_type, sa.Integer):
        return "integer"
    if isinstance(column_type, sa.Numeric):
        return "number"
    return "string"


def _columns(model: type[Any]) -> dict[str, SubjectField]:
    fields: dict[str, SubjectField] = {}
    for column in model.__table__.columns:
        enum_class = getattr(column.type, "enum_class", None)
        fields[column.key] = SubjectField(
            name=column.key,
            type=_field_type(column.type),
            nullable=bool(column.nullable),
            enum=enum_class,
        )
    return fields


def _ref_prefix(model: type[Any]) -> str:
    prop = getattr(model, "ref", None)
    if isinstance(prop, property) and prop.fget is not None:
        return str(prop.fget(SimpleNamespace(id=0)))[:-1]  # "P-0" -> "P-"
    return SITE_REF_PREFIX


@dataclass(frozen=True)
class SubjectKindInfo:
    """Everything the SOP language needs to know about one kind of subject."""

    kind: SubjectKind
    model: type[Any]
    ref_prefix: str
    # The column holding the subject's site id; None for kind `site` (the subject is the site).
    site_column: str | None
    fields: Mapping[str, SubjectField]
    phi_fields: frozenset[str]

    @property
    def date_fields(self) -> tuple[str, ...]:
        """Columns a deadline can be computed from (dates and date-times)."""
        return tuple(name for name, f in self.fields.items() if f.is_temporal)

    @property
    def cycle_fields(self) -> tuple[str, ...]:
        """Columns whose value can identify a cycle: dates, texts and integers, never PHI
        (the cycle is part of every task's identity)."""
        allowed = ("date", "datetime", "string", "integer")
        return tuple(
            name
            for name, f in self.fields.items()
            if f.type in allowed and name not in self.phi_fields
        )

    def field(self, name: str) -> SubjectField | None:
        return self.fields.get(name)

    def ref_for(self, subject: Any) -> str:
        """The opaque reference of a row of this kind ("P-4821"), safe for feeds and mail."""
        ref = getattr(subject, "ref", None)
        return str(ref) if ref else f"{self.ref_prefix}{subject.id}"

    def site_of(self, subject: Any) -> Any:
        """The row's site (for kind `site`, the row itself)."""
        return subject if self.site_column is None else subject.site

    def sample(self) -> SampleRecord:
        """A synthetic subject of this kind, for rendering templates at validation time."""
        return sample_subject(self.kind)


@cache
def subject_kinds() -> dict[SubjectKind, SubjectKindInfo]:
    """The registry: every subject kind and what the language knows about it."""
    registry: dict[SubjectKind, SubjectKindInfo] = {}
    for kind, model in MODELS.items():
        columns = _columns(model)
        registry[kind] = SubjectKindInfo(
            kind=kind,
            model=model,
            ref_prefix=_ref_prefix(model),
            site_column=None if kind is SubjectKind.SITE else "site_id",
            fields=columns,
            phi_fields=PHI_FIELDS.get(kind, frozenset()),
        )
    return registry


def subject_kind(kind: SubjectKind | str) -> SubjectKindInfo:
    """Return the registry entry of `kind` (a SubjectKind or its value)."""
    return subject_kinds()[SubjectKind(kind)]


class SampleRecord:
    """A stand-in for a row: attribute access only, like the ORM object it imitates.

    Each kind gets its own subclass (`sample.Patient`, ...) so that Jinja's
    "has no attribute" message names the kind.
    """

    def __init__(self, kind: str, values: Mapping[str, Any], phi: frozenset[str]) -> None:
        self.__dict__.update(values)
        self._kind = kind
        self._phi = phi

    def public_names(self) -> list[str]:
        return sorted(k for k in self.__dict__ if not k.startswith("_"))

    def __repr__(self) -> str:
        return f"<sample {self._kind} {self.__dict__.get('ref', '')}>"


@cache
def _record_class(name: str) -> type[SampleRecord]:
    return type(name, (SampleRecord,), {"__module__": "sample", "__qualname__": name})


def _record(name: str, values: Mapping[str, Any], phi: frozenset[str] = frozenset()) -> Any:
    return _record_class(name.title().replace("_", ""))(name, values, phi)


_AT = datetime(2026, 11, 2, 15, 30, tzinfo=UTC)

# Realistic synthetic values (no real person) for every column of every kind.
SAMPLE_VALUES: dict[SubjectKind, dict[str, Any]] = {
    SubjectKind.SITE: {
        "id": 1,
        "code": "FL-Tampa",
        "name": "Tampa Bay Wellness Center",
        "state": "FL",
        "timezone": "America/New_York",
        "holiday_calendar": "US-FL",
        "license_number": "MMTC-2019-0007",
        "card_valid_on_expiry_day": True,
        "created_at": datetime(2024, 1, 15, 14, 0, tzinfo=UTC),
    },
    SubjectKind.PATIENT: {
        "id": 4821,
        "site_id": 1,
        "registry_number": "FL-7Q3K9D2M",
        "state": "FL",
        "first_name": "Avery",
        "last_name": "Sample",
        "date_of_birth": date(1978, 5, 14),
        "card_expires_on": date(2026, 12, 31),
        "certification_expires_on": date(2027, 2, 14),
        "qualifying_condition": "chronic nonmalignant pain",
        "physician_id": 311,
        "contact_preference": ContactPreference.EMAIL,
        "email": "avery.sample@example.org",
        "phone": "+1-555-010-0100",
        "consent_email": True,
        "consent_sms": False,
        "consent_phone": True,
        "status": PatientStatus.ACTIVE,
        "created_at": datetime(2025, 1, 6, 16, 20, tzinfo=UTC),
    },
    SubjectKind.CAREGIVER: {
        "id": 152,
        "site_id": 1,
        "registry_number": "FL-C-55120",
        "state": "FL",
        "first_name": "Jordan",
        "last_name": "Example",
        "email": "jordan.example@example.org",
        "phone": "+1-555-010-0152",
        "card_expires_on": date(2026, 11, 30),
    },
    SubjectKind.PHYSICIAN: {
        "id": 311,
        "npi": "1234567893",
        "first_name": "Morgan",
        "last_name": "Placeholder",
        "practice_id": 27,
        "site_id": 1,
        "email": "dr.placeholder@example.org",
        "phone": "+1-555-010-0311",
        "specialty": "Pain medicine",
        "engagement_stage": EngagementStage.ENGAGED,
        "last_contacted_on": date(2026, 9, 1),
        "next_follow_up_on": date(2026, 12, 1),
    },
    SubjectKind.PRACTICE: {
        "id": 27,
        "site_id": 1,
        "name": "Bayside Integrative Medicine",
        "city": "Tampa",
        "state": "FL",
        "phone": "+1-555-010-0027",
    },
    SubjectKind.DOCUMENT: {
        "id": 903,
        "site_id": 1,
        "category": DocumentCategory.LICENSES,
        "title": "Dispensing organization license",
        "owner_id": 12,
        "issued_on": date(2025, 12, 1),
        "expires_on": date(2026, 12, 1),
        "file_ref": "documents/903/license.pdf",
        "created_at": datetime(2025, 12, 2, 13, 5, tzinfo=UTC),
    },
    SubjectKind.DISPOSAL: {
        "id": 77,
        "site_id": 1,
        "source_type": WasteSource.PLANT,
        "tag": "1A4060300002EE1000001234",
        "weight": Decimal("412.500"),
        "unit": WeightUnit.GRAM,
        "reason": WasteReason.FAILURE_TO_THRIVE,
        "method": WasteMethod.GRIND_AND_MIX,
        "mixed_material": "soil and sawdust",
        "mixed_weight": Decimal("450.000"),
        "note": "Root rot in veg room 2",
        "logged_by_id": 12,
        "witness1_id": 13,
        "witness2_id": 14,
        "camera": "CAM-07 destruction area",
        "camera_window_start": datetime(2026, 11, 2, 15, 0, tzinfo=UTC),
        "camera_window_end": datetime(2026, 11, 2, 15, 45, tzinfo=UTC),
        "status": DisposalStatus.LOGGED,
        "generated_at": _AT,
        "held_until": datetime(2026, 11, 5, 22, 0, tzinfo=UTC),
        "destroyed_at": datetime(2026, 11, 6, 16, 0, tzinfo=UTC),
        "recorded_in_state_at": datetime(2026, 11, 9, 14, 0, tzinfo=UTC),
        "state_record_ref": "METRC-ADJ-88231",
    },
    SubjectKind.INSPECTION: {
        "id": 12,
        "site_id": 1,
        "agency": "Florida Office of Medical Marijuana Use",
        "scheduled_on": date(2026, 12, 10),
        "kind": InspectionKind.ANNOUNCED,
        "status": InspectionStatus.SCHEDULED,
        "notes": "Annual renewal inspection",
    },
}

_SAMPLE_USER = {
    "id": 12,
    "name": "Riley Staff",
    "email": "riley.staff@example.org",
    "role": Role.VA,
    "active": True,
}

_FALLBACK: dict[FieldType, Any] = {
    "date": date(2026, 12, 1),
    "datetime": _AT,
    "string": "sample",
    "integer": 1,
    "number": Decimal("1.000"),
    "boolean": False,
}


def _column_values(info: SubjectKindInfo) -> dict[str, Any]:
    """Every column of the kind: the hand-written sample, else a value of the right type."""
    explicit = SAMPLE_VALUES.get(info.kind, {})
    values: dict[str, Any] = {}
    for name, f in info.fields.items():
        if name in explicit:
            values[name] = explicit[name]
        elif f.enum is not None:
            values[name] = next(iter(f.enum))
        else:
            values[name] = _FALLBACK[f.type]
    values["ref"] = f"{info.ref_prefix}{values['id']}"
    return values


def _flat_sample(kind: SubjectKind) -> Any:
    info = subject_kind(kind)
    return _record(kind.value, _column_values(info), info.phi_fields)


@cache
def sample_site() -> Any:
    """The sample site every sample subject belongs to."""
    return _flat_sample(SubjectKind.SITE)


def sample_user() -> Any:
    return _record("user", {k: _SAMPLE_USER[k] for k in _USER_FIELDS})


@cache
def sample_subject(kind: SubjectKind | str) -> Any:
    """A synthetic subject: every column, `ref`, `site`, and one level of relationships."""
    kind = SubjectKind(kind)
    if kind is SubjectKind.SITE:
        return sample_site()
    info = subject_kind(kind)
    values = _column_values(info)
    by_model = {model: k for k, model in MODELS.items()}
    for rel in sa_inspect(info.model).relationships:
        target = rel.mapper.class_
        if target is User:
            related: Any = sample_user()
        elif target is Site:
            related = sample_site()
        elif target in by_model:
            related = _flat_sample(by_model[target])
        else:
            continue
        values[rel.key] = [related] if rel.uselist else related
    values["site"] = sample_site()
    return _record(kind.value, values, info.phi_fields)
