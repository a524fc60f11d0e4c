"""The closed vocabularies of the data model, as string enums.

Stored as plain strings (not native database enums) so adding a value is a
one-line change and SQLite and PostgreSQL hold the same schema.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Enum as SAEnum


def str_enum(enum: type[StrEnum], length: int = 32) -> SAEnum:
    """Return a column type storing `enum`'s values as VARCHAR(length)."""
    return SAEnum(
        enum,
        native_enum=False,
        length=length,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class Role(StrEnum):
    VA = "va"
    MANAGER = "manager"
    ADMIN = "admin"


class TaskStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    BLOCKED = "blocked"
    DONE = "done"
    CANCELLED = "cancelled"
    # A step that did not apply (its `when:` was false, or its anchor date is
    # missing): kept as a row so the decision is on record and not re-made.
    SKIPPED = "skipped"


OPEN_STATUSES = (TaskStatus.OPEN, TaskStatus.IN_PROGRESS, TaskStatus.BLOCKED)


class SubjectKind(StrEnum):
    PATIENT = "patient"
    CAREGIVER = "caregiver"
    PHYSICIAN = "physician"
    PRACTICE = "practice"
    DOCUMENT = "document"
    DISPOSAL = "disposal"
    INSPECTION = "inspection"
    SITE = "site"


class PatientStatus(StrEnum):
    ACTIVE = "active"
    LAPSED = "lapsed"
    INACTIVE = "inactive"
    DECEASED = "deceased"


class ContactPreference(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PHONE = "phone"
    MAIL = "mail"
    NONE = "none"


class EngagementStage(StrEnum):
    PROSPECT = "prospect"
    CONTACTED = "contacted"
    ENGAGED = "engaged"
    CERTIFYING = "certifying"
    DORMANT = "dormant"
    DECLINED = "declined"


class DocumentCategory(StrEnum):
    PATIENT_RECORDS = "patient_records"
    STAFF_TRAINING = "staff_training"
    PRODUCT_COA = "product_coa"
    PURCHASE_RECORDS = "purchase_records"
    DISPOSAL_LOGS = "disposal_logs"
    LICENSES = "licenses"
    SECURITY_LOGS = "security_logs"


class WasteSource(StrEnum):
    PLANT = "plant"
    HARVEST = "harvest"
    PACKAGE = "package"


class WeightUnit(StrEnum):
    GRAM = "g"
    KILOGRAM = "kg"
    OUNCE = "oz"
    POUND = "lb"


# Grams per unit, for the >= 50 % non-cannabis mixture rule (Colorado 1 CCR 212-3 §3-230).
GRAMS_PER_UNIT = {
    WeightUnit.GRAM: 1.0,
    WeightUnit.KILOGRAM: 1000.0,
    WeightUnit.OUNCE: 28.349523125,
    WeightUnit.POUND: 453.59237,
}


class WasteReason(StrEnum):
    """Waste reasons from METRC's California guide."""

    CONTAMINATION = "contamination"
    DAMAGE = "damage"
    FAILURE_TO_THRIVE = "failure_to_thrive"
    MALE_PLANTS = "male_plants"
    MANDATED_DESTRUCTION = "mandated_destruction"
    PESTICIDES = "pesticides"
    PRUNING = "pruning"
    EXPIRED_PRODUCT = "expired_product"
    RETURNED_PRODUCT = "returned_product"


class WasteMethod(StrEnum):
    """Disposal methods from METRC's California guide."""

    COMPOST = "compost"
    SELF_HAUL = "self_haul"
    WASTE_HAULER = "waste_hauler"
    GRIND_AND_MIX = "grind_and_mix"
    INCINERATION = "incineration"


class DisposalStatus(StrEnum):
    LOGGED = "logged"
    WITNESSED = "witnessed"
    HOLDING = "holding"
    DESTROYED = "destroyed"
    RECORDED = "recorded"


class InspectionKind(StrEnum):
    ANNOUNCED = "announced"
    UNANNOUNCED = "unannounced"
    RENEWAL = "renewal"
    SELF_AUDIT = "self_audit"


class InspectionStatus(StrEnum):
    SCHEDULED = "scheduled"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class SopVersionSource(StrEnum):
    FILE = "file"
    BROWSER = "browser"
    RESTORE = "restore"


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class CalendarScope(StrEnum):
    USER = "user"
    TEAM = "team"
    SITE = "site"
