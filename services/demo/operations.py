"""Rows for a site's operations: inspection documents, cannabis waste, inspections.
Pure generation: no database access here."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from models.enums import (
    DisposalStatus,
    DocumentCategory,
    InspectionKind,
    InspectionStatus,
    WasteSource,
    WeightUnit,
)
from services.deadlines import add_business_days, deadline_instant, roll_to_business_day
from services.demo.catalog import (
    DOCUMENT_TYPES,
    WASTE_MATERIALS,
    WASTE_METHODS,
    WASTE_PLACES,
    WASTE_REASONS,
    SiteSpec,
)
from services.demo.context import Context, Weighted

Row = dict[str, Any]

DOCUMENTS_PER_SITE_AND_CATEGORY = (12, 16)  # about 300 over 3 sites x 7 categories
HOLD_BUSINESS_DAYS = 3  # hold before destruction (Oregon / Illinois / Florida practice)
# Status mix of the ~50 disposal records, and how many break the >= 50 % mixture rule.
DISPOSAL_STATUSES = {
    DisposalStatus.LOGGED: 5,
    DisposalStatus.WITNESSED: 5,
    DisposalStatus.HOLDING: 8,
    DisposalStatus.DESTROYED: 8,
    DisposalStatus.RECORDED: 24,
}
MIXTURE_VIOLATIONS = 2


def _issued_and_expiry(ctx: Context, validity: int) -> tuple[date, date | None]:
    """10 % expired, 12 % expiring within 30 days, 73 % valid, 5 % without expiry;
    issued `validity` days before it expires, always in the past."""
    draw = ctx.rng.random()
    if draw < 0.10:
        expires = ctx.day(-120, -1)
    elif draw < 0.22:
        expires = ctx.day(0, 30)
    elif draw < 0.95:
        expires = ctx.day(31, validity - 15)
    else:
        return ctx.day(-validity, -15), None
    return expires - timedelta(days=validity), expires


def document_rows(
    ctx: Context,
    specs: tuple[SiteSpec, ...],
    site_ids: Mapping[str, int],
    team_user_ids: Mapping[str, list[int]],
    user_names: Mapping[int, str],
) -> list[Row]:
    """Documents of every category at every site, owned by the team that keeps them."""
    rng = ctx.rng
    rows: list[Row] = []
    for spec in specs:
        for category in DocumentCategory:
            patterns, validity, team = DOCUMENT_TYPES[category]
            low, high = DOCUMENTS_PER_SITE_AND_CATEGORY
            for _ in range(rng.randint(low, high)):
                owner = rng.choice(team_user_ids[team])
                issued, expires = _issued_and_expiry(ctx, validity)
                period = issued  # a log or audit is filed in the month it covers
                trainee = rng.choice(team_user_ids["all"])  # staff training: whose certificate
                title = rng.choice(patterns).format(
                    person=user_names[trainee],
                    month=period.strftime("%B %Y"),
                    quarter=f"Q{(period.month - 1) // 3 + 1} {period.year}",
                    batch=f"{spec.state}-{rng.randrange(10**6):06d}",
                    number=f"{rng.randrange(10**5):05d}",
                )
                rows.append(
                    {
                        "site_id": site_ids[spec.code],
                        "category": category,
                        "title": title,
                        "owner_id": owner,
                        "issued_on": issued,
                        "expires_on": expires,
                        # The demo holds no files: documents are catalogue entries only.
                        "file_ref": None,
                        "created_at": ctx.now,
                    }
                )
    return rows


def _amount(ctx: Context, source: WasteSource) -> tuple[Decimal, WeightUnit]:
    rng = ctx.rng
    if source is WasteSource.PLANT:
        return Decimal(f"{rng.uniform(150, 6000):.1f}"), WeightUnit.GRAM
    if source is WasteSource.HARVEST:
        if rng.random() < 0.5:
            return Decimal(f"{rng.uniform(0.5, 25):.3f}"), WeightUnit.KILOGRAM
        return Decimal(f"{rng.uniform(1, 50):.2f}"), WeightUnit.POUND
    if rng.random() < 0.7:
        return Decimal(f"{rng.uniform(3.5, 450):.1f}"), WeightUnit.GRAM
    return Decimal(f"{rng.uniform(0.125, 16):.3f}"), WeightUnit.OUNCE


def _mixed_weight(ctx: Context, weight: Decimal, compliant: bool) -> Decimal:
    """Mixed-in weight (same unit): >= the waste's weight keeps the mixture >= 50 %
    non-cannabis (Colorado 1 CCR 212-3 §3-230); below it breaks the rule."""
    step = Decimal("0.001")
    if compliant:
        factor = Decimal(f"{ctx.rng.uniform(1.0, 2.5):.3f}")
        return max(weight, (weight * factor).quantize(step, ROUND_CEILING))
    factor = Decimal(f"{ctx.rng.uniform(0.4, 0.85):.3f}")
    return (weight * factor).quantize(step, ROUND_FLOOR)


def _timeline(
    ctx: Context, spec: SiteSpec, status: DisposalStatus
) -> tuple[datetime, datetime | None, datetime | None, datetime | None]:
    """(generated, held_until, destroyed, recorded_in_state) consistent with `status`.

    Waste is held HOLD_BUSINESS_DAYS business days after it is logged, destroyed
    then, and entered in the state system within 3 business days (one in ten late).
    """
    cal, tz, rng = spec.holiday_calendar, spec.timezone, ctx.rng
    yesterday = roll_to_business_day(ctx.today - timedelta(days=1), cal, "backward")
    if status in (DisposalStatus.LOGGED, DisposalStatus.WITNESSED):
        generated_day = add_business_days(yesterday, -rng.randint(0, 1), cal)
        return ctx.at(generated_day, tz), None, None, None
    if status is DisposalStatus.HOLDING:
        generated_day = add_business_days(yesterday, -rng.randint(0, 2), cal)
        generated = ctx.at(generated_day, tz)
        return generated, _held_until(generated, spec), None, None
    if status is DisposalStatus.DESTROYED:
        destroyed_day = add_business_days(yesterday, -rng.randint(0, 2), cal)
        recorded_day = None
    else:
        recorded_day = add_business_days(yesterday, -rng.randint(0, 45), cal)
        lag = rng.randint(4, 6) if rng.random() < 0.1 else rng.randint(0, 2)
        destroyed_day = add_business_days(recorded_day, -lag, cal)
    generated_day = add_business_days(destroyed_day, -HOLD_BUSINESS_DAYS - rng.randint(0, 1), cal)
    generated = ctx.at(generated_day, tz, 8, 12)
    held_until = _held_until(generated, spec)
    destroyed = max(ctx.at(destroyed_day, tz, 13, 16), held_until)
    recorded = None
    if recorded_day is not None:
        recorded = max(ctx.at(recorded_day, tz), destroyed + timedelta(minutes=30))
    return generated, held_until, destroyed, recorded


def _held_until(generated: datetime, spec: SiteSpec) -> datetime:
    """The same local wall time HOLD_BUSINESS_DAYS business days after `generated`."""
    local = generated.astimezone(ZoneInfo(spec.timezone))
    day = add_business_days(local.date(), HOLD_BUSINESS_DAYS, spec.holiday_calendar)
    return deadline_instant(day, spec.timezone, local.time().replace(tzinfo=None))


def disposal_rows(
    ctx: Context,
    specs: tuple[SiteSpec, ...],
    site_ids: Mapping[str, int],
    loggers: list[int],
    witnesses: list[int],
) -> list[Row]:
    """About 50 waste records across the sites in every status.

    Witnesses are two distinct active users other than the logger; a record still
    in LOGGED status has not been witnessed yet, so its witnesses are empty.
    """
    rng = ctx.rng
    statuses = [status for status, n in DISPOSAL_STATUSES.items() for _ in range(n)]
    rng.shuffle(statuses)
    violating = set(rng.sample(range(len(statuses)), MIXTURE_VIOLATIONS))
    serials = rng.sample(range(10**8), len(statuses))  # unique package tags
    methods = Weighted(WASTE_METHODS)
    sites = Weighted((spec, spec.share) for spec in specs)
    rows: list[Row] = []
    for index, status in enumerate(statuses):
        spec: SiteSpec = sites.pick(rng)
        source = rng.choice(list(WasteSource))
        weight, unit = _amount(ctx, source)
        method = methods.pick(rng)
        logger = rng.choice(loggers)
        pair = rng.sample([u for u in witnesses if u != logger], 2)
        generated, held_until, destroyed, recorded = _timeline(ctx, spec, status)
        window_around = destroyed or generated
        reason = rng.choice(WASTE_REASONS[source])
        place = rng.choice(WASTE_PLACES)
        rows.append(
            {
                "site_id": site_ids[spec.code],
                "source_type": source,
                "tag": f"1A40{specs.index(spec) + 1:02d}0300002EE1{serials[index]:08d}",
                "weight": weight,
                "unit": unit,
                "reason": reason,
                "method": method,
                "mixed_material": rng.choice(WASTE_MATERIALS[method]),
                "mixed_weight": _mixed_weight(ctx, weight, index not in violating),
                "note": f"{source.value.title()} waste from the {place} "
                f"({reason.value.replace('_', ' ')}).",
                "logged_by_id": logger,
                "witness1_id": None if status is DisposalStatus.LOGGED else pair[0],
                "witness2_id": None if status is DisposalStatus.LOGGED else pair[1],
                "camera": rng.choice(spec.cameras),
                "camera_window_start": window_around - timedelta(minutes=rng.randint(10, 20)),
                "camera_window_end": window_around + timedelta(minutes=rng.randint(30, 60)),
                "status": status,
                "generated_at": generated,
                "held_until": held_until,
                "destroyed_at": destroyed,
                "recorded_in_state_at": recorded,
                "state_record_ref": f"{spec.state}-ADJ-{rng.randrange(10**7):07d}"
                if recorded
                else None,
            }
        )
    return rows


def inspection_rows(
    ctx: Context, specs: tuple[SiteSpec, ...], site_ids: Mapping[str, int]
) -> list[Row]:
    """Two upcoming inspections at different sites within three weeks, one past one."""
    florida, pennsylvania, oklahoma = specs

    def on(spec: SiteSpec, days: int) -> date:
        return roll_to_business_day(ctx.today + timedelta(days=days), spec.holiday_calendar)

    return [
        {
            "site_id": site_ids[florida.code],
            "agency": florida.agency,
            "scheduled_on": on(florida, 9),
            "kind": InspectionKind.ANNOUNCED,
            "status": InspectionStatus.SCHEDULED,
            "notes": "Announced routine inspection: the inspector asked for the visitor log "
            "and 90 days of disposal records.",
        },
        {
            "site_id": site_ids[pennsylvania.code],
            "agency": pennsylvania.agency,
            "scheduled_on": on(pennsylvania, 18),
            "kind": InspectionKind.RENEWAL,
            "status": InspectionStatus.SCHEDULED,
            "notes": "Permit renewal inspection.",
        },
        {
            "site_id": site_ids[oklahoma.code],
            "agency": oklahoma.agency,
            "scheduled_on": on(oklahoma, -41),
            "kind": InspectionKind.UNANNOUNCED,
            "status": InspectionStatus.COMPLETED,
            "notes": "No findings. Two visitor-log entries lacked sign-out times; corrected "
            "on site.",
        },
    ]
