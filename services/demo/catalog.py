"""The fixed vocabulary of the demo data set: sites, teams, accounts and word lists.

Everything here is synthetic. Sites, brands and license numbers say "demo";
e-mail domains end in `.test` (reserved, never routable, RFC 2606); phone
numbers are in the 555-0100..555-0199 block set aside for fiction.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.enums import (
    ContactPreference,
    DocumentCategory,
    EngagementStage,
    Role,
    WasteMethod,
    WasteReason,
    WasteSource,
)

# One seed for Faker and for `random.Random`: same seed + same `today` = same data set.
SEED = 20_261_101
DEMO_PASSWORD = "sopflow-demo"
DEMO_DOMAIN = "demo.sopflow.test"
DEFAULT_PATIENTS = 2_000


@dataclass(frozen=True)
class SiteSpec:
    code: str
    name: str
    state: str
    timezone: str
    holiday_calendar: str
    license_number: str
    card_valid_on_expiry_day: bool
    area_code: str
    share: float  # fraction of the patients registered at this site
    practices: int
    cities: tuple[str, ...]
    agency: str
    cameras: tuple[str, ...]


SITES: tuple[SiteSpec, ...] = (
    SiteSpec(
        code="FL-Tampa",
        name="Demo Wellness Tampa",
        state="FL",
        timezone="America/New_York",
        holiday_calendar="US-FL",
        license_number="FL-MMTC-DEMO-0042",
        card_valid_on_expiry_day=True,
        area_code="813",
        share=0.45,
        practices=16,
        cities=("Tampa", "St. Petersburg", "Clearwater", "Brandon", "Lakeland", "Wesley Chapel"),
        agency="Florida Department of Health, Office of Medical Marijuana Use",
        cameras=("CAM-07 waste room", "CAM-08 vault door", "CAM-12 loading dock"),
    ),
    SiteSpec(
        code="PA-Pittsburgh",
        name="Demo Wellness Pittsburgh",
        state="PA",
        timezone="America/New_York",
        holiday_calendar="US-PA",
        license_number="PA-D-DEMO-0117",
        card_valid_on_expiry_day=True,
        area_code="412",
        share=0.35,
        practices=14,
        cities=(
            "Pittsburgh",
            "Monroeville",
            "Cranberry Township",
            "Bethel Park",
            "McKeesport",
            "Wexford",
        ),
        agency="Pennsylvania Department of Health, Office of Medical Marijuana",
        cameras=("CAM-03 destruction area", "CAM-04 vault", "CAM-09 back hallway"),
    ),
    SiteSpec(
        code="OK-Tulsa",
        name="Demo Wellness Tulsa",
        state="OK",
        timezone="America/Chicago",
        holiday_calendar="US-OK",
        license_number="OK-DAAA-DEMO-0093",
        card_valid_on_expiry_day=False,
        area_code="918",
        share=0.20,
        practices=10,
        cities=("Tulsa", "Broken Arrow", "Owasso", "Jenks", "Bixby", "Sand Springs"),
        agency="Oklahoma Medical Marijuana Authority (OMMA)",
        cameras=("CAM-02 waste cage", "CAM-05 vault", "CAM-06 sales floor"),
    ),
)
SITE_CODES = tuple(s.code for s in SITES)

# The shipped SOPs name these slugs as owner teams: keep them exact.
TEAMS: tuple[tuple[str, str], ...] = (
    ("patient-services", "Patient Services"),
    ("physician-relations", "Physician Relations"),
    ("compliance", "Compliance"),
)


@dataclass(frozen=True)
class UserSpec:
    handle: str  # the e-mail's local part
    first_name: str
    role: Role
    teams: tuple[str, ...]
    active: bool = True

    @property
    def email(self) -> str:
        return f"{self.handle}@{DEMO_DOMAIN}"


USERS: tuple[UserSpec, ...] = (
    UserSpec("admin", "Alex", Role.ADMIN, ("compliance",)),
    UserSpec("manager.maria", "Maria", Role.MANAGER, ("patient-services",)),
    UserSpec("manager.marcus", "Marcus", Role.MANAGER, ("physician-relations",)),
    UserSpec("manager.mei", "Mei", Role.MANAGER, ("compliance",)),
    UserSpec("va.ana", "Ana", Role.VA, ("patient-services",)),
    UserSpec("va.ben", "Ben", Role.VA, ("patient-services",)),
    UserSpec("va.carla", "Carla", Role.VA, ("patient-services",)),
    UserSpec("va.dev", "Dev", Role.VA, ("patient-services", "physician-relations")),
    UserSpec("va.elena", "Elena", Role.VA, ("physician-relations",)),
    UserSpec("va.femi", "Femi", Role.VA, ("physician-relations",)),
    UserSpec("va.gus", "Gus", Role.VA, ("compliance",)),
    UserSpec("va.hana", "Hana", Role.VA, ("compliance", "patient-services")),
    # Left the company: cannot sign in, must never be assigned work.
    UserSpec("va.ivan", "Ivan", Role.VA, ("patient-services",), active=False),
)

# Qualifying conditions (a common subset of the FL/PA lists) with rough weights.
CONDITIONS: tuple[tuple[str, float], ...] = (
    ("Chronic pain", 30),
    ("Post-traumatic stress disorder", 14),
    ("Anxiety disorder", 12),
    ("Cancer", 7),
    ("Neuropathy", 6),
    ("Epilepsy", 4),
    ("Multiple sclerosis", 3),
    ("Crohn's disease", 3),
    ("Opioid use disorder", 3),
    ("Glaucoma", 2),
    ("Parkinson's disease", 2),
    ("Inflammatory bowel disease", 2),
    ("HIV/AIDS", 1),
    ("Terminal illness", 1),
    ("Autism", 1),
    ("Amyotrophic lateral sclerosis", 0.5),
)

CONTACT_PREFERENCES: tuple[tuple[ContactPreference, float], ...] = (
    (ContactPreference.EMAIL, 45),
    (ContactPreference.SMS, 30),
    (ContactPreference.PHONE, 15),
    (ContactPreference.MAIL, 7),
    (ContactPreference.NONE, 3),
)

PATIENT_EMAIL_DOMAINS = ("example.test", "mail.test", "inbox.test", "patients.test")

SPECIALTIES: tuple[tuple[str, float], ...] = (
    ("Family medicine", 30),
    ("Internal medicine", 22),
    ("Pain management", 14),
    ("Neurology", 8),
    ("Psychiatry", 8),
    ("Oncology", 6),
    ("Physical medicine and rehabilitation", 6),
    ("Osteopathic medicine", 6),
)

ENGAGEMENT_STAGES: tuple[tuple[EngagementStage, float], ...] = (
    (EngagementStage.PROSPECT, 20),
    (EngagementStage.CONTACTED, 20),
    (EngagementStage.ENGAGED, 20),
    (EngagementStage.CERTIFYING, 25),
    (EngagementStage.DORMANT, 10),
    (EngagementStage.DECLINED, 5),
)

# How strongly patients are certified by a physician at each stage.
PATIENT_WEIGHT_BY_STAGE: dict[EngagementStage, float] = {
    EngagementStage.CERTIFYING: 10,
    EngagementStage.ENGAGED: 3,
    EngagementStage.DORMANT: 2,
    EngagementStage.CONTACTED: 0.5,
    EngagementStage.PROSPECT: 0,
    EngagementStage.DECLINED: 0,
}

PRACTICE_PATTERNS = (
    "{last} Family Medicine",
    "{city} Integrative Health",
    "{last} & {last2} Pain Management",
    "{city} Neurology Associates",
    "{last} Internal Medicine",
    "{city} Wellness Clinic",
    "{last} Health Partners",
    "{city} Compassionate Care",
)

OUTREACH_KINDS = ("call", "email", "materials", "visit")
OUTREACH_OUTCOMES: dict[EngagementStage, tuple[str, ...]] = {
    EngagementStage.CONTACTED: ("left voicemail", "spoke with office manager", "no answer"),
    EngagementStage.ENGAGED: ("materials requested", "meeting booked", "spoke with physician"),
    EngagementStage.CERTIFYING: (
        "referral confirmed",
        "patient packet delivered",
        "lunch-and-learn",
    ),
    EngagementStage.DORMANT: ("no answer", "left voicemail", "office closed"),
    EngagementStage.DECLINED: ("not interested", "declined to certify"),
}
OUTREACH_NOTES = (
    "Dropped off the patient renewal checklist.",
    "Asked for the office's preferred referral contact.",
    "Followed up on the materials sent last time.",
    "Shared the renewal calendar for the coming quarter.",
    "Office asked to be called back after the holidays.",
    None,
)

# (category, title patterns, validity in days, owner team)
DOCUMENT_TYPES: dict[DocumentCategory, tuple[tuple[str, ...], int, str]] = {
    DocumentCategory.PATIENT_RECORDS: (
        (
            "Patient file audit {quarter}",
            "Registry verification log {month}",
            "Caregiver designation forms {month}",
            "Patient consent forms binder {quarter}",
        ),
        365,
        "patient-services",
    ),
    DocumentCategory.STAFF_TRAINING: (
        (
            "Responsible vendor training: {person}",
            "HIPAA privacy and security training: {person}",
            "Seed-to-sale system user training: {person}",
            "Robbery and security response drill: {person}",
        ),
        365,
        "compliance",
    ),
    DocumentCategory.PRODUCT_COA: (
        (
            "Certificate of analysis, batch {batch} (flower)",
            "Certificate of analysis, batch {batch} (vape cartridge)",
            "Certificate of analysis, batch {batch} (tincture)",
            "Certificate of analysis, batch {batch} (edible)",
        ),
        365,
        "compliance",
    ),
    DocumentCategory.PURCHASE_RECORDS: (
        (
            "Wholesale invoice INV-{number}",
            "Transfer manifest M-{number}",
            "Vendor license on file: supplier {number}",
        ),
        730,
        "compliance",
    ),
    DocumentCategory.DISPOSAL_LOGS: (
        (
            "Disposal log {month}",
            "Waste hauler manifest {month}",
            "Destruction video retention check {month}",
        ),
        730,
        "compliance",
    ),
    DocumentCategory.LICENSES: (
        (
            "Dispensary operating license",
            "Local business tax receipt",
            "Certificate of occupancy",
            "Fire inspection certificate",
            "Alarm system permit",
            "Certificate of insurance",
        ),
        365,
        "compliance",
    ),
    DocumentCategory.SECURITY_LOGS: (
        (
            "Visitor log, restricted areas {month}",
            "Camera coverage and retention check {month}",
            "Alarm test report {month}",
            "Key and access card audit {quarter}",
        ),
        730,
        "compliance",
    ),
}

# Waste reasons and amounts per source (METRC California guide vocabulary).
WASTE_REASONS: dict[WasteSource, tuple[WasteReason, ...]] = {
    WasteSource.PLANT: (
        WasteReason.FAILURE_TO_THRIVE,
        WasteReason.MALE_PLANTS,
        WasteReason.PRUNING,
        WasteReason.PESTICIDES,
        WasteReason.CONTAMINATION,
    ),
    WasteSource.HARVEST: (WasteReason.PRUNING, WasteReason.CONTAMINATION, WasteReason.DAMAGE),
    WasteSource.PACKAGE: (
        WasteReason.EXPIRED_PRODUCT,
        WasteReason.RETURNED_PRODUCT,
        WasteReason.DAMAGE,
        WasteReason.CONTAMINATION,
        WasteReason.MANDATED_DESTRUCTION,
    ),
}
WASTE_MATERIALS: dict[WasteMethod, tuple[str, ...]] = {
    WasteMethod.GRIND_AND_MIX: ("soil", "kitty litter", "sawdust"),
    WasteMethod.COMPOST: ("food waste", "grass clippings", "soil"),
    WasteMethod.WASTE_HAULER: ("paper waste", "cardboard", "food waste"),
    WasteMethod.SELF_HAUL: ("soil", "sand"),
    WasteMethod.INCINERATION: ("paper waste", "cardboard"),
}
WASTE_METHODS: tuple[tuple[WasteMethod, float], ...] = (
    (WasteMethod.GRIND_AND_MIX, 50),
    (WasteMethod.COMPOST, 15),
    (WasteMethod.WASTE_HAULER, 20),
    (WasteMethod.SELF_HAUL, 5),
    (WasteMethod.INCINERATION, 10),
)
WASTE_PLACES = (
    "flower room F2",
    "veg room V1",
    "trim room",
    "vault",
    "returns shelf",
    "sales floor",
)
