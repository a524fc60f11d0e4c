"""Durations as the SOP language writes them: `-45d`, `3bd`, `2w`, `4h`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

DurationUnit = Literal["d", "bd", "w", "h"]
DURATION_PATTERN = r"^[+-]?\d{1,4}(d|bd|w|h)$"
_DURATION_RE = re.compile(DURATION_PATTERN)
_UNIT_WORDS = {"d": "day", "bd": "business day", "w": "week", "h": "hour"}


@dataclass(frozen=True, order=True)
class Duration:
    """A signed amount of calendar days, business days, weeks or hours."""

    amount: int
    unit: DurationUnit

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Return the duration written as `text`; raise ValueError with the expected form."""
        value = str(text).strip()
        match = _DURATION_RE.match(value)
        if not match:
            raise ValueError(f'expected a duration like -45d or 3bd, got "{text}"')
        unit = match.group(1)
        return cls(int(value[: -len(unit)]), unit)  # type: ignore[arg-type]

    @property
    def is_business(self) -> bool:
        return self.unit == "bd"

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"

    def describe(self) -> str:
        """Return it in words, e.g. "3 business days before"."""
        n = abs(self.amount)
        word = _UNIT_WORDS[self.unit] + ("" if n == 1 else "s")
        if self.amount == 0:
            return "the same day"
        return f"{n} {word} {'before' if self.amount < 0 else 'after'}"
