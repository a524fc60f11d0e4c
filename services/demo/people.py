"""Rows for the people SOPs are about: practices, physicians and their outreach,
patients and caregivers. Pure generation: no database access here."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from models.enums import ContactPreference, EngagementStage, PatientStatus
from services.demo.catalog import (
    CONDITIONS,
    CONTACT_PREFERENCES,
    ENGAGEMENT_STAGES,
    OUTREACH_KINDS,
    OUTREACH_NOTES,
    OUTREACH_OUTCOMES,
    PATIENT_EMAIL_DOMAINS,
    PATIENT_WEIGHT_BY_STAGE,
    PRACTICE_PATTERNS,
    SPECIALTIES,
    SiteSpec,
)
from services.demo.context import Context, Registry, Weighted, slug

Row = dict[str, Any]

CAREGIVER_SHARE = 0.15  # patients with at least one caregiver
SECOND_CAREGIVER_SHARE = 0.04  # of those, patients with two (PA allows at most 2)
# Patients per caregiver (PA allows at most 5).
CAREGIVER_LOAD = Weighted([(1, 80), (2, 17), (3, 3)])


def luhn_digit(digits: str) -> int:
    """Return the Luhn check digit to append to `digits`."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return (10 - total % 10) % 10


def npi(ctx: Context, used: set[str]) -> str:
    """A synthetic NPI: ten digits, leading 1, valid check digit (prefix 80840), unique."""
    while True:
        body = f"1{ctx.rng.randrange(10**8):08d}"
        if body not in used:
            used.add(body)
            return body + str(luhn_digit("80840" + body))


# --- practices and physicians ------------------------------------------------------------


def practice_rows(ctx: Context, sites: Mapping[str, int], specs: tuple[SiteSpec, ...]) -> list[Row]:
    """About 40 practices, each at a site; names are unique across the demo."""
    rows: list[Row] = []
    taken: set[str] = set()
    for spec in specs:
        for _ in range(spec.practices):
            while True:
                city = ctx.rng.choice(spec.cities)
                pattern = ctx.rng.choice(PRACTICE_PATTERNS)
                name = pattern.format(last=ctx.last_name(), last2=ctx.last_name(), city=city)
                if name not in taken:
                    break
            taken.add(name)
            rows.append(
                {
                    "site_id": sites[spec.code],
                    "name": name,
                    "city": city,
                    "state": spec.state,
                    "phone": ctx.phone(spec.area_code),
                }
            )
    return rows


@dataclass(frozen=True)
class PhysicianInfo:
    npi: str
    site_code: str
    timezone: str
    stage: EngagementStage
    last_contacted_on: date | None


def _follow_up(ctx: Context, stage: EngagementStage) -> tuple[date | None, date | None]:
    """(last_contacted_on, next_follow_up_on) for a physician at `stage`; some overdue."""
    rng = ctx.rng
    if stage is EngagementStage.PROSPECT:
        return None, (None if rng.random() < 0.5 else ctx.day(-10, 30))
    if stage is EngagementStage.CONTACTED:
        last = ctx.day(-60, -3)
        return last, last + timedelta(days=rng.randint(7, 21))
    if stage is EngagementStage.ENGAGED:
        return ctx.day(-45, -1), ctx.day(-7, 30)
    if stage is EngagementStage.CERTIFYING:
        return ctx.day(-90, -1), ctx.day(-5, 60)
    if stage is EngagementStage.DORMANT:
        return ctx.day(-400, -120), (None if rng.random() < 0.5 else ctx.day(-60, -1))
    return ctx.day(-300, -30), None  # declined


def physician_rows(
    ctx: Context,
    practices: list[Row],
    practice_ids: Mapping[str, int],
    specs: Mapping[int, SiteSpec],
    count: int = 150,
) -> tuple[list[Row], list[PhysicianInfo]]:
    """`count` physicians over the practices (each has at least one)."""
    rng = ctx.rng
    sizes = [1] * len(practices)
    pull = [rng.uniform(0.2, 3.0) for _ in practices]
    for index in rng.choices(range(len(practices)), weights=pull, k=count - len(practices)):
        sizes[index] += 1
    stages = Weighted(ENGAGEMENT_STAGES)
    specialties = Weighted(SPECIALTIES)
    used: set[str] = set()
    rows: list[Row] = []
    infos: list[PhysicianInfo] = []
    for practice, size in zip(practices, sizes, strict=True):
        spec = specs[practice["site_id"]]
        domain = f"{slug(practice['name'])}.test"
        for _ in range(size):
            first, last = ctx.first_name(), ctx.last_name()
            stage = stages.pick(rng)
            last_contacted, follow_up = _follow_up(ctx, stage)
            number = npi(ctx, used)
            rows.append(
                {
                    "npi": number,
                    "first_name": first,
                    "last_name": last,
                    "practice_id": practice_ids[practice["name"]],
                    "site_id": practice["site_id"],
                    "email": f"dr.{slug(last)}.{slug(first)[:1]}@{domain}",
                    "phone": ctx.phone(spec.area_code),
                    "specialty": specialties.pick(rng),
                    "engagement_stage": stage,
                    "last_contacted_on": last_contacted,
                    "next_follow_up_on": follow_up,
                }
            )
            infos.append(PhysicianInfo(number, spec.code, spec.timezone, stage, last_contacted))
    return rows, infos


_OUTREACH_COUNT = {
    EngagementStage.PROSPECT: (0, 0),
    EngagementStage.CONTACTED: (1, 2),
    EngagementStage.ENGAGED: (2, 4),
    EngagementStage.CERTIFYING: (2, 5),
    EngagementStage.DORMANT: (1, 3),
    EngagementStage.DECLINED: (1, 2),
}


def outreach_rows(
    ctx: Context,
    physicians: list[PhysicianInfo],
    physician_ids: Mapping[str, int],
    user_ids: list[int],
) -> list[Row]:
    """A few touch points per contacted physician, the latest on `last_contacted_on`."""
    rng = ctx.rng
    rows: list[Row] = []
    for info in physicians:
        low, high = _OUTREACH_COUNT[info.stage]
        if info.last_contacted_on is None or high == 0:
            continue
        day = info.last_contacted_on
        for _ in range(rng.randint(low, high)):
            rows.append(
                {
                    "physician_id": physician_ids[info.npi],
                    "user_id": rng.choice(user_ids),
                    "kind": rng.choice(OUTREACH_KINDS),
                    "outcome": rng.choice(OUTREACH_OUTCOMES[info.stage]),
                    "note": rng.choice(OUTREACH_NOTES),
                    "at": ctx.at(day, info.timezone),
                }
            )
            day -= timedelta(days=rng.randint(7, 40))
    return rows


# --- patients and caregivers -------------------------------------------------------------


@dataclass(frozen=True)
class LinkedPatient:
    """What the caregiver step needs to know of a patient who has a caregiver."""

    state: str
    registry_number: str
    last_name: str
    card_expires_on: date


def patient_physician_pickers(
    physicians: list[PhysicianInfo], physician_ids: Mapping[str, int]
) -> dict[str, Weighted]:
    """Per site, a weighted choice of certifying physician (certifying ones most often)."""
    by_site: dict[str, list[tuple[int, float]]] = {}
    for info in physicians:
        weight = PATIENT_WEIGHT_BY_STAGE[info.stage]
        by_site.setdefault(info.site_code, []).append((physician_ids[info.npi], weight))
    pickers = {}
    for code, pairs in by_site.items():
        if sum(w for _, w in pairs) <= 0:
            pairs = [(pid, 1.0) for pid, _ in pairs]
        pickers[code] = Weighted(pairs)
    return pickers


class PatientFactory:
    """Generates patient rows one at a time and remembers who gets a caregiver."""

    def __init__(
        self,
        ctx: Context,
        specs: tuple[SiteSpec, ...],
        site_ids: Mapping[str, int],
        physicians: Mapping[str, Weighted],
        registries: Mapping[str, Registry],
    ) -> None:
        self.ctx = ctx
        self.sites = Weighted((spec, spec.share) for spec in specs)
        self.site_ids = site_ids
        self.physicians = physicians
        self.registries = registries
        self.conditions = Weighted(CONDITIONS)
        self.preferences = Weighted(CONTACT_PREFERENCES)
        self.linked: dict[str, list[LinkedPatient]] = {spec.code: [] for spec in specs}

    def rows(self, count: int) -> Iterator[Row]:
        for _ in range(count):
            yield self._row()

    def _row(self) -> Row:
        ctx = self.ctx
        rnd = ctx.rng.random
        spec: SiteSpec = self.sites.pick(ctx.rng)
        fi, li = ctx.person()
        first, last = ctx.first_names[fi], ctx.last_names[li]
        registry_number = f"{spec.state}P{self.registries[spec.state].take():08d}"
        card = ctx.expiry()
        certification = ctx.expiry()  # independent of the card
        age_days = int(ctx.rng.triangular(21, 88, 47) * 365.25)
        # Oklahoma has no list of qualifying conditions: physician's discretion.
        condition = None if spec.state == "OK" and rnd() < 0.3 else self.conditions.pick(ctx.rng)
        preference: ContactPreference = self.preferences.pick(ctx.rng)
        has_email = preference is ContactPreference.EMAIL or rnd() < 0.6
        has_phone = preference is ContactPreference.SMS or preference is ContactPreference.PHONE
        has_phone = has_phone or rnd() < 0.8
        # Consent for the preferred channel is usually, not always, on file.
        consent_email = rnd() < (0.93 if preference is ContactPreference.EMAIL else 0.35)
        consent_sms = rnd() < (0.93 if preference is ContactPreference.SMS else 0.35)
        consent_phone = rnd() < (0.93 if preference is ContactPreference.PHONE else 0.35)
        draw = rnd()
        if draw < 0.02:
            status = PatientStatus.INACTIVE
        elif draw < 0.025:
            status = PatientStatus.DECEASED
        elif card < ctx.today and rnd() < 0.7:
            status = PatientStatus.LAPSED
        else:
            status = PatientStatus.ACTIVE
        if rnd() < CAREGIVER_SHARE:
            self.linked[spec.code].append(LinkedPatient(spec.state, registry_number, last, card))
        email = None
        if has_email:
            domain = PATIENT_EMAIL_DOMAINS[ctx.index(len(PATIENT_EMAIL_DOMAINS))]
            email = f"{ctx.first_slugs[fi]}.{ctx.last_slugs[li]}{10 + ctx.index(90)}@{domain}"
        return {
            "site_id": self.site_ids[spec.code],
            "registry_number": registry_number,
            "state": spec.state,
            "first_name": first,
            "last_name": last,
            "date_of_birth": ctx.today - timedelta(days=age_days),
            "card_expires_on": card,
            "certification_expires_on": certification,
            "qualifying_condition": condition,
            "physician_id": self.physicians[spec.code].pick(ctx.rng),
            "contact_preference": preference,
            "email": email,
            "phone": ctx.phone(spec.area_code) if has_phone else None,
            "consent_email": consent_email and has_email,
            "consent_sms": consent_sms and has_phone,
            "consent_phone": consent_phone and has_phone,
            "status": status,
            "created_at": ctx.now,
        }


def caregiver_rows(
    ctx: Context,
    specs: tuple[SiteSpec, ...],
    site_ids: Mapping[str, int],
    linked: Mapping[str, list[LinkedPatient]],
    registries: Mapping[str, Registry],
) -> tuple[list[Row], list[tuple[str, str, str]]]:
    """Caregivers for the linked patients, and (state, caregiver no., patient no.) links.

    Most caregivers serve one patient, some two or three (PA: at most 5); a few
    patients have a second caregiver (PA: at most 2). An Oklahoma caregiver's
    license never outlasts its patients' (OAC 442:10-2-5).
    """
    rng = ctx.rng
    rows: list[Row] = []
    links: list[tuple[str, str, str]] = []

    def add(spec: SiteSpec, group: list[LinkedPatient]) -> None:
        last = group[0].last_name if rng.random() < 0.6 else ctx.last_name()
        first = ctx.first_name()
        number = f"{spec.state}C{registries[spec.state].take():08d}"
        card = ctx.expiry()
        if spec.state == "OK":
            card = min([card, *(p.card_expires_on for p in group)])
        rows.append(
            {
                "site_id": site_ids[spec.code],
                "registry_number": number,
                "state": spec.state,
                "first_name": first,
                "last_name": last,
                "email": ctx.email(first, last, rng.choice(PATIENT_EMAIL_DOMAINS))
                if rng.random() < 0.7
                else None,
                "phone": ctx.phone(spec.area_code) if rng.random() < 0.9 else None,
                "card_expires_on": card,
            }
        )
        links.extend((spec.state, number, p.registry_number) for p in group)

    for spec in specs:
        patients = linked[spec.code]
        start = 0
        while start < len(patients):
            size = CAREGIVER_LOAD.pick(rng)
            add(spec, patients[start : start + size])
            start += size
        for patient in patients:
            if rng.random() < SECOND_CAREGIVER_SHARE:
                add(spec, [patient])
    return rows, links
