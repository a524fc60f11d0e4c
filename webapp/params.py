"""Reading request parameters: typed values, or a message for the form (never a 500).

Each reader takes the raw mapping, the field name and an `errors` dict it adds
a message to when the value is malformed; the value is then None (or the default).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date

MAX_ID = 2**31 - 1


def text(args: Mapping[str, str], name: str, limit: int, errors: dict[str, str]) -> str:
    """Return the stripped text value (at most `limit` characters)."""
    value = (args.get(name) or "").strip()
    if len(value) > limit:
        errors[name] = f"At most {limit} characters."
        return value[:limit]
    return value


def integer(args: Mapping[str, str], name: str, errors: dict[str, str]) -> int | None:
    """Return a positive id, None when empty; a message when it is not a number."""
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
        errors[name] = "Choose a value from the list."
        return None
    return int(raw)


def day(args: Mapping[str, str], name: str, errors: dict[str, str]) -> date | None:
    """Return an ISO date (YYYY-MM-DD), None when empty; a message when malformed."""
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        errors[name] = "Give a date as YYYY-MM-DD."
        return None
    if not 2000 <= value.year <= 2100:
        errors[name] = "Give a date between 2000 and 2100."
        return None
    return value


def choice(
    args: Mapping[str, str], name: str, allowed: Collection[str], errors: dict[str, str]
) -> str:
    """Return the value if it is one of `allowed` ("" when empty or unknown, with a message)."""
    value = (args.get(name) or "").strip()
    if value and value not in allowed:
        errors[name] = f"Unknown {name.replace('_', ' ')} “{value[:40]}”."
        return ""
    return value


def page_number(args: Mapping[str, str], name: str = "page") -> int:
    """Return the 1-based page number (1 when missing or malformed)."""
    raw = (args.get(name) or "").strip()
    return int(raw) if raw.isdigit() and 0 < int(raw) <= 10_000 else 1


def date_range(
    start: date | None, end: date | None, names: tuple[str, str], errors: dict[str, str]
) -> None:
    """Add a message when the range ends before it starts."""
    if start is not None and end is not None and end < start:
        errors[names[1]] = "The end is before the start."


def cleaned(args: Mapping[str, str], names: Collection[str], errors: Mapping[str, str]) -> dict:
    """Return the non-empty values of `names` that had no error (to rebuild a URL)."""
    return {n: args[n].strip() for n in names if n not in errors and (args.get(n) or "").strip()}
