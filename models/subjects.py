"""The things SOPs are about: patients and caregivers, physicians and practices,
documents, cannabis waste and inspections. All synthetic in this repository."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.audit import Audited
from models.base import UTCDateTime, db, utcnow
from models.enums import (
    ContactPreference,
    DisposalStatus,
    DocumentCategory,
    EngagementStage,
    InspectionKind,
    InspectionStatus,
    PatientStatus,
    WasteMethod,
    WasteReason,
    WasteSource,
    WeightUnit,
    str_enum,
)
from models.org import Site, User

patient_caregivers = Table(
    "patient_caregiver",
    db.metadata,
    Column("patient_id", ForeignKey("patient.id", ondelete="CASCADE"), primary_key=True),
    Column("caregiver_id", ForeignKey("caregiver.id", ondelete="CASCADE"), primary_key=True),
)


class Practice(Audited, db.Model):
    """A medical practice where certifying physicians work."""

    __tablename__ = "practice"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(2))
    phone: Mapped[str | None] = mapped_column(String(32))
    site: Mapped[Site] = relationship()
    physicians: Mapped[list[Physician]] = relationship(back_populates="practice")

    @property
    def ref(self) -> str:
        return f"PR-{self.id}"


class Physician(Audited, db.Model):
    """A certifying physician and where the outreach relationship stands."""

    __tablename__ = "physician"
    __table_args__ = (Index("ix_physician_follow_up", "next_follow_up_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    npi: Mapped[str] = mapped_column(String(10), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    practice_id: Mapped[int] = mapped_column(ForeignKey("practice.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    specialty: Mapped[str | None] = mapped_column(String(100))
    engagement_stage: Mapped[EngagementStage] = mapped_column(
        str_enum(EngagementStage), default=EngagementStage.PROSPECT
    )
    last_contacted_on: Mapped[date | None] = mapped_column(Date, index=True)
    next_follow_up_on: Mapped[date | None] = mapped_column(Date)
    practice: Mapped[Practice] = relationship(back_populates="physicians")
    site: Mapped[Site] = relationship()

    @property
    def ref(self) -> str:
        return f"DR-{self.id}"


class OutreachContact(Audited, db.Model):
    """One touch point with a physician: a call, materials sent, a visit, and its outcome."""

    __tablename__ = "outreach_contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    physician_id: Mapped[int] = mapped_column(ForeignKey("physician.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    kind: Mapped[str] = mapped_column(String(32))  # call / email / materials / visit
    outcome: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Caregiver(Audited, db.Model):
    """A registered caregiver, with a card of their own, linked to one or more patients."""

    __tablename__ = "caregiver"
    __table_args__ = (UniqueConstraint("state", "registry_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    registry_number: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(2))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    card_expires_on: Mapped[date | None] = mapped_column(Date, index=True)
    patients: Mapped[list[Patient]] = relationship(
        secondary=patient_caregivers, back_populates="caregivers"
    )

    @property
    def ref(self) -> str:
        return f"C-{self.id}"


class Patient(Audited, db.Model):
    """A registered medical cannabis patient with two independent expiry dates:
    the state registry card and the physician's certification."""

    __tablename__ = "patient"
    __table_args__ = (UniqueConstraint("state", "registry_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    registry_number: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(2))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    card_expires_on: Mapped[date | None] = mapped_column(Date, index=True)
    certification_expires_on: Mapped[date | None] = mapped_column(Date, index=True)
    qualifying_condition: Mapped[str | None] = mapped_column(String(120))
    physician_id: Mapped[int | None] = mapped_column(ForeignKey("physician.id"), index=True)
    contact_preference: Mapped[ContactPreference] = mapped_column(
        str_enum(ContactPreference), default=ContactPreference.EMAIL
    )
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    consent_email: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_sms: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_phone: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[PatientStatus] = mapped_column(
        str_enum(PatientStatus), default=PatientStatus.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    site: Mapped[Site] = relationship()
    physician: Mapped[Physician | None] = relationship()
    caregivers: Mapped[list[Caregiver]] = relationship(
        secondary=patient_caregivers, back_populates="patients"
    )

    @property
    def ref(self) -> str:
        """An opaque reference safe for lists, feeds and mail (no name)."""
        return f"P-{self.id}"


class Document(Audited, db.Model):
    """A record an inspector may ask for, filed under a regulatory category."""

    __tablename__ = "document"
    __table_args__ = (Index("ix_document_site_category", "site_id", "category"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    category: Mapped[DocumentCategory] = mapped_column(str_enum(DocumentCategory))
    title: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    issued_on: Mapped[date | None] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date, index=True)
    file_ref: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    site: Mapped[Site] = relationship()
    owner: Mapped[User | None] = relationship()

    @property
    def ref(self) -> str:
        return f"D-{self.id}"


class DisposalRecord(Audited, db.Model):
    """Cannabis waste from generation to entry in the state tracking system."""

    __tablename__ = "disposal_record"
    __table_args__ = (
        CheckConstraint(
            "witness1_id IS NULL OR witness2_id IS NULL OR witness1_id <> witness2_id",
            name="distinct_witnesses",
        ),
        CheckConstraint("weight > 0", name="positive_weight"),
        CheckConstraint("mixed_weight IS NULL OR mixed_weight >= 0", name="mixed_weight"),
        Index("ix_disposal_record_site_generated", "site_id", "generated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    source_type: Mapped[WasteSource] = mapped_column(str_enum(WasteSource, 16))
    tag: Mapped[str] = mapped_column(String(64))  # package tag or batch id
    weight: Mapped[Decimal] = mapped_column(Numeric(12, 3))
    unit: Mapped[WeightUnit] = mapped_column(str_enum(WeightUnit, 4))
    reason: Mapped[WasteReason] = mapped_column(str_enum(WasteReason))
    method: Mapped[WasteMethod] = mapped_column(str_enum(WasteMethod))
    mixed_material: Mapped[str | None] = mapped_column(String(120))
    mixed_weight: Mapped[Decimal | None] = mapped_column(Numeric(12, 3))  # same unit as weight
    note: Mapped[str | None] = mapped_column(Text)
    logged_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    witness1_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    witness2_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    camera: Mapped[str | None] = mapped_column(String(64))
    camera_window_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    camera_window_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[DisposalStatus] = mapped_column(
        str_enum(DisposalStatus, 16), default=DisposalStatus.LOGGED
    )
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    held_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recorded_in_state_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state_record_ref: Mapped[str | None] = mapped_column(String(64))

    site: Mapped[Site] = relationship()
    logged_by: Mapped[User | None] = relationship(foreign_keys=[logged_by_id])
    witness1: Mapped[User | None] = relationship(foreign_keys=[witness1_id])
    witness2: Mapped[User | None] = relationship(foreign_keys=[witness2_id])

    @property
    def ref(self) -> str:
        return f"W-{self.id}"


class Inspection(Audited, db.Model):
    """A state inspection (announced or not) or an internal self-audit of a site."""

    __tablename__ = "inspection"
    __table_args__ = (Index("ix_inspection_site_scheduled", "site_id", "scheduled_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    agency: Mapped[str] = mapped_column(String(200))
    scheduled_on: Mapped[date] = mapped_column(Date)
    kind: Mapped[InspectionKind] = mapped_column(str_enum(InspectionKind, 16))
    status: Mapped[InspectionStatus] = mapped_column(
        str_enum(InspectionStatus, 16), default=InspectionStatus.SCHEDULED
    )
    notes: Mapped[str | None] = mapped_column(Text)
    site: Mapped[Site] = relationship()

    @property
    def ref(self) -> str:
        return f"I-{self.id}"
