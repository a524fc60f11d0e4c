"""The shared state of one demo generation: the random source, the name pools, `today`.

Every draw goes through `Context.rng` in a fixed order, and no draw depends
on a database id, so the same seed and the same `today` give the same rows on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
import random
import re
from bisect import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Generic, TypeVar

from faker import Faker

from services.deadlines import deadline_instant

T = TypeVar("T")

# Draws per pool: Faker's draws follow its frequency tables, so common names stay common.
_POOL_SIZE = 1_500
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """Return `text` lower-cased with runs of other characters turned into one dash."""
    return _NOT_ALNUM.sub("-", text.lower()).strip("-")


class Weighted(Generic[T]):
    """A fast repeated weighted choice (bisect on precomputed cumulative weights)."""

    def __init__(self, pairs: Iterable[tuple[T, float]]) -> None:
        items = list(pairs)
        self.values = [v for v, _ in items]
        self.cumulative = list(itertools.accumulate(w for _, w in items))
        self.total = self.cumulative[-1]
        if self.total <= 0:
            raise ValueError("weights must not all be zero")

    def pick(self, rng: random.Random) -> T:
        index = bisect(self.cumulative, rng.random() * self.total)
        return self.values[min(index, len(self.values) - 1)]  # guard float rounding at 1.0


class Registry:
    """Unique, random-looking 8-digit numbers for one state's registry.

    n -> (a*n + b) mod 10^8 with a coprime to 10 is a bijection, so numbers
    never repeat (up to 10^8 of them) and no set of issued numbers is kept.
    """

    MOD = 10**8

    def __init__(self, rng: random.Random) -> None:
        a = rng.randrange(10**6, self.MOD)
        while a % 2 == 0 or a % 5 == 0:
            a += 1
        self.a, self.b, self.issued = a, rng.randrange(self.MOD), 0

    def take(self) -> int:
        number = (self.a * self.issued + self.b) % self.MOD
        self.issued += 1
        return number


@dataclass
class Context:
    today: date
    now: datetime
    seed: int
    rng: random.Random = field(init=False)
    first_names: list[str] = field(init=False)
    last_names: list[str] = field(init=False)

    def __post_init__(self) -> None:
        fake = Faker("en_US")
        fake.seed_instance(self.seed)
        self.first_names = [fake.first_name() for _ in range(_POOL_SIZE)]
        self.last_names = [fake.last_name() for _ in range(_POOL_SIZE)]
        self.first_slugs = [slug(n) for n in self.first_names]
        self.last_slugs = [slug(n) for n in self.last_names]
        self.rng = random.Random(self.seed)
        # Precomputed so that the per-patient hot path only indexes lists.
        self.near_days = [self.today + timedelta(days=d) for d in range(-30, 184)]
        self.far_days = [self.today + timedelta(days=d) for d in range(184, 541)]
        self._phones: dict[str, list[str]] = {}

    def index(self, n: int) -> int:
        """A uniform index below `n` (cheaper than randrange in hot loops)."""
        return int(self.rng.random() * n)

    def first_name(self) -> str:
        return self.first_names[self.index(_POOL_SIZE)]

    def last_name(self) -> str:
        return self.last_names[self.index(_POOL_SIZE)]

    def person(self) -> tuple[int, int]:
        """Indexes into the first- and last-name pools (and their slugs)."""
        return self.index(_POOL_SIZE), self.index(_POOL_SIZE)

    def phones(self, area_code: str) -> list[str]:
        """The 100 numbers 555-0100..0199 (reserved for fiction) in an area code."""
        if area_code not in self._phones:
            self._phones[area_code] = [f"({area_code}) 555-01{n:02d}" for n in range(100)]
        return self._phones[area_code]

    def phone(self, area_code: str) -> str:
        return self.phones(area_code)[self.index(100)]

    def email(self, first: str, last: str, domain: str) -> str:
        return f"{slug(first)}.{slug(last)}{10 + self.index(90)}@{domain}"

    def day(self, low: int, high: int) -> date:
        """A day between `low` and `high` days from today (inclusive)."""
        return self.today + timedelta(days=self.rng.randint(low, high))

    def expiry(self) -> date:
        """A registry or certification expiry: 85 % from a month ago to 6 months ahead,
        the rest 6 to 18 months ahead (not everyone is due)."""
        if self.rng.random() < 0.85:
            return self.near_days[self.index(len(self.near_days))]
        return self.far_days[self.index(len(self.far_days))]

    def at(self, day: date, tz: str, first_hour: int = 9, last_hour: int = 16) -> datetime:
        """An aware UTC instant during working hours on `day` in zone `tz`."""
        wall = time(self.rng.randint(first_hour, last_hour), self.rng.randrange(0, 60, 5))
        return deadline_instant(day, tz, wall)


def chunks(rows: Iterable[T], size: int) -> Iterator[list[T]]:
    """Yield lists of at most `size` items (itertools.batched arrives in Python 3.12)."""
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, size)):
        yield batch
