"""The synthetic demo data set: `seed_demo` fills an empty database, reproducibly.

Three sites in three states, three teams, a dozen accounts (password
DEMO_PASSWORD), ~2,000 patients with caregivers, ~150 physicians in ~40
practices, ~300 documents, ~50 disposal records and three inspections.
Names come from Faker and every other choice from `random.Random`, both seeded
with SEED; dates are spread around the `today` passed in (default: the real
today), so the same `today` always gives the same data set. No real people.
"""

from services.demo.catalog import DEFAULT_PATIENTS, DEMO_DOMAIN, DEMO_PASSWORD, SEED, SITE_CODES
from services.demo.seed import DEMO_TABLES, SeedReport, demo_logins, seed_demo

__all__ = [
    "DEFAULT_PATIENTS",
    "DEMO_DOMAIN",
    "DEMO_PASSWORD",
    "DEMO_TABLES",
    "SEED",
    "SITE_CODES",
    "SeedReport",
    "demo_logins",
    "seed_demo",
]
