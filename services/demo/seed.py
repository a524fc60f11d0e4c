"""`seed_demo`: fill an empty database with the demo data set, fast and reproducibly.

Rows are written with Core executemany inserts in chunks (no ORM unit of work),
parents first; the database assigns every id, and children learn their
parents' ids by reading them back once by a unique key (site code, team slug,
e-mail, practice name, NPI, registry number).

Nothing here commits: the caller does, so a failed seed leaves nothing behind.
No intermediate commits are needed at any scale either: patients are generated
and written CHUNK_SIZE at a time, and only the ids of patients who have a
caregiver are read back, so memory stays bounded (2M patients is one transaction).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from models import (
    Caregiver,
    DisposalRecord,
    Document,
    Inspection,
    OutreachContact,
    Patient,
    Physician,
    Practice,
    Site,
    Team,
    User,
    patient_caregivers,
    record,
    team_members,
    team_sites,
    utcnow,
)
from models.enums import Role
from services.demo.catalog import (
    DEFAULT_PATIENTS,
    DEMO_PASSWORD,
    SEED,
    SITE_CODES,
    SITES,
    TEAMS,
    USERS,
)
from services.demo.context import Context, Registry, chunks
from services.demo.operations import disposal_rows, document_rows, inspection_rows
from services.demo.people import (
    PatientFactory,
    caregiver_rows,
    outreach_rows,
    patient_physician_pickers,
    physician_rows,
    practice_rows,
)

CHUNK_SIZE = 5_000

# Tables the demo fills, in insertion order. Any row in one of them that is not
# the demo's own means the database is in use: the seed then touches nothing.
DEMO_TABLES: tuple[Table, ...] = tuple(
    getattr(t, "__table__", t)
    for t in (
        Site,
        Team,
        team_sites,
        User,
        team_members,
        Practice,
        Physician,
        OutreachContact,
        Patient,
        Caregiver,
        patient_caregivers,
        Document,
        DisposalRecord,
        Inspection,
    )
)


@dataclass
class SeedReport:
    """What `seed_demo` did: rows per table, how long it took, or why it did nothing."""

    created: bool
    counts: dict[str, int]
    seconds: float
    today: date
    reason: str = ""
    patients_requested: int = 0

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        c = self.counts
        if not self.created:
            held = ", ".join(f"{table} {n:,}" for table, n in c.items() if n)
            return f"{self.reason}; nothing changed.\n  Rows per table: {held or 'none'}."
        rate = self.rows / self.seconds if self.seconds else 0.0
        return "\n".join(
            [
                f"Seeded the synthetic demo data set as of {self.today.isoformat()}: "
                f"{self.rows:,} rows in {self.seconds:.2f} s ({rate:,.0f} rows/s).",
                f"  {c['site']} sites, {c['team']} teams, {c['user_account']} users, "
                f"{c['practice']} practices, {c['physician']} physicians "
                f"({c['outreach_contact']} outreach contacts),",
                f"  {c['patient']:,} patients, {c['caregiver']:,} caregivers "
                f"({c['patient_caregiver']:,} links), {c['document']} documents, "
                f"{c['disposal_record']} disposal records, {c['inspection']} inspections.",
                f"  Every demo account's password is {DEMO_PASSWORD!r} "
                "(list them with `sopflow demo-logins`).",
            ]
        )


def demo_logins() -> list[tuple[str, str, str]]:
    """(e-mail, role, password) of every active demo account, for `make run` to print."""
    return [(u.email, u.role.value, DEMO_PASSWORD) for u in USERS if u.active]


def seed_demo(
    session: Session, patients: int | None = None, *, today: date | None = None
) -> SeedReport:
    """Fill an empty database with the synthetic demo data set and return a report.

    `patients` scales the patient count (default DEFAULT_PATIENTS); everything else
    keeps its size. Dates are spread relative to `today` (default: the real
    today), so a fresh demo always has work due from the past month to the next
    six months; for a given `today` the data set is identical on every run and
    backend (fixed Faker and random seeds, no draw depends on a database id).

    Does nothing, and says why in the report, when the demo sites already exist
    or any of DEMO_TABLES holds other rows. Does not commit.
    """
    started = time.perf_counter()
    today = today or date.today()
    count = DEFAULT_PATIENTS if patients is None else patients
    if count < 0:
        raise ValueError(f"patients must be >= 0, got {count}")

    existing = {
        t.name: session.scalar(select(func.count()).select_from(t)) or 0 for t in DEMO_TABLES
    }
    if any(existing.values()):
        demo_sites = session.scalars(select(Site.code).where(Site.code.in_(SITE_CODES))).all()
        reason = (
            f"The demo data set is already loaded (sites {', '.join(sorted(demo_sites))})"
            if demo_sites
            else "The database already holds data that is not the demo's; "
            "the demo seed only fills an empty database"
        )
        return SeedReport(False, existing, time.perf_counter() - started, today, reason, count)

    ctx = Context(today=today, now=utcnow(), seed=SEED)
    counts = _Writer(session)
    _seed(session, ctx, counts, count)
    # Fresh statistics, as a bulk load should leave: the first sweep runs minutes
    # later, before autovacuum would have sampled the new rows.
    for table in DEMO_TABLES:
        session.execute(text(f'ANALYZE "{table.name}"'))
    record(
        session,
        "seed_demo",
        "database",
        "demo",
        after={"today": today.isoformat(), "seed": SEED, "counts": counts.counts},
    )
    return SeedReport(True, counts.counts, time.perf_counter() - started, today, "", count)


class _Writer:
    """Chunked Core inserts that count what they wrote per table."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.counts: dict[str, int] = {t.name: 0 for t in DEMO_TABLES}

    def insert(self, table: Table, rows: Iterable[dict[str, Any]]) -> None:
        for batch in chunks(rows, CHUNK_SIZE):
            self.session.execute(insert(table), batch)
            self.counts[table.name] += len(batch)

    def ids(self, column: Any) -> dict[Any, int]:
        """Map a unique column's values to the ids the database gave them."""
        return dict(self.session.execute(select(column, column.table.c.id)).tuples().all())


def _seed(session: Session, ctx: Context, w: _Writer, patient_count: int) -> None:
    rng = ctx.rng
    # Organisation: sites, teams, accounts.
    w.insert(
        Site.__table__,
        (
            {
                "code": s.code,
                "name": s.name,
                "state": s.state,
                "timezone": s.timezone,
                "holiday_calendar": s.holiday_calendar,
                "license_number": s.license_number,
                "card_valid_on_expiry_day": s.card_valid_on_expiry_day,
                "created_at": ctx.now,
            }
            for s in SITES
        ),
    )
    site_ids: dict[str, int] = w.ids(Site.code)
    specs_by_id = {site_ids[s.code]: s for s in SITES}
    w.insert(Team.__table__, ({"slug": slug, "name": name} for slug, name in TEAMS))
    team_ids: dict[str, int] = w.ids(Team.slug)
    w.insert(
        team_sites,
        ({"team_id": t, "site_id": s} for t in team_ids.values() for s in site_ids.values()),
    )

    password_hash = generate_password_hash(DEMO_PASSWORD)  # once: hashing is slow on purpose
    names = {u.email: f"{u.first_name} {ctx.last_name()}" for u in USERS}
    w.insert(
        User.__table__,
        (
            {
                "email": u.email,
                "name": names[u.email],
                "role": u.role,
                "active": u.active,
                "password_hash": password_hash,
                "session_nonce": secrets.token_hex(16),
                "digest_opt_out": False,
                "created_at": ctx.now,
            }
            for u in USERS
        ),
    )
    user_ids: dict[str, int] = w.ids(User.email)
    w.insert(
        team_members,
        ({"team_id": team_ids[t], "user_id": user_ids[u.email]} for u in USERS for t in u.teams),
    )
    active = [u for u in USERS if u.active]
    members = {slug: [user_ids[u.email] for u in active if slug in u.teams] for slug, _ in TEAMS}
    members["all"] = [user_ids[u.email] for u in active]
    user_names = {user_ids[email]: name for email, name in names.items()}

    # Physicians, by practice, and the outreach history with them.
    practices = practice_rows(ctx, site_ids, SITES)
    w.insert(Practice.__table__, practices)
    practice_ids: dict[str, int] = w.ids(Practice.name)
    physicians, infos = physician_rows(ctx, practices, practice_ids, specs_by_id)
    w.insert(Physician.__table__, physicians)
    physician_ids: dict[str, int] = w.ids(Physician.npi)
    w.insert(
        OutreachContact.__table__,
        outreach_rows(ctx, infos, physician_ids, members["physician-relations"]),
    )

    # Patients (streamed in chunks: bounded memory at any scale), then caregivers.
    registries = {s.state: Registry(rng) for s in SITES}
    factory = PatientFactory(
        ctx, SITES, site_ids, patient_physician_pickers(infos, physician_ids), registries
    )
    w.insert(Patient.__table__, factory.rows(patient_count))
    caregivers, links = caregiver_rows(ctx, SITES, site_ids, factory.linked, registries)
    w.insert(Caregiver.__table__, caregivers)
    caregiver_ids = _ids_by_state(session, Caregiver.__table__)
    patient_ids = _ids_by_state(session, Patient.__table__, {(s, p) for s, _, p in links})
    w.insert(
        patient_caregivers,
        (
            {"patient_id": patient_ids[(state, p)], "caregiver_id": caregiver_ids[(state, c)]}
            for state, c, p in links
        ),
    )

    # Operations: documents, waste, inspections.
    w.insert(Document.__table__, document_rows(ctx, SITES, site_ids, members, user_names))
    compliance = [
        user_ids[u.email] for u in active if u.role is not Role.ADMIN and "compliance" in u.teams
    ]
    w.insert(
        DisposalRecord.__table__,
        disposal_rows(ctx, SITES, site_ids, loggers=compliance, witnesses=members["all"]),
    )
    w.insert(Inspection.__table__, inspection_rows(ctx, SITES, site_ids))


def _ids_by_state(
    session: Session, table: Table, wanted: set[tuple[str, str]] | None = None
) -> Mapping[tuple[str, str], int]:
    """{(state, registry_number): id} for the rows of a registry table (only `wanted` ones).

    Streams the rows, so memory stays bounded by `wanted` at any patient count.
    """
    if wanted is not None and not wanted:
        return {}
    query = select(table.c.state, table.c.registry_number, table.c.id)
    rows = session.execute(query.execution_options(yield_per=CHUNK_SIZE))
    return {
        (state, number): row_id
        for state, number, row_id in rows
        if wanted is None or (state, number) in wanted
    }
