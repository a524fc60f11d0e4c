"""Typed inputs of a manual run: text from a form or the command line, checked."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Site, Sop, Team
from services.sops.registry import latest_version, spec_for


class InputError(Exception):
    """An input is unknown, missing or of the wrong type; the message names it."""


def _coerce(session: Session, kind: str, raw: str, choices: list[str] | None) -> Any:
    if kind == "integer":
        return int(raw)
    if kind == "boolean":
        if raw.lower() in ("true", "yes", "1", "on"):
            return True
        if raw.lower() in ("false", "no", "0", "off"):
            return False
        raise ValueError("expected true or false")
    if kind == "date":
        return date.fromisoformat(raw).isoformat()
    if kind == "site":
        site_id = session.scalar(
            select(Site.id).where((Site.code == raw) | (Site.id == _int_or(raw)))
        )
        if site_id is None:
            raise ValueError("no such site")
        return site_id
    if kind == "team":
        if session.scalar(select(Team.id).where(Team.slug == raw)) is None:
            raise ValueError("no such team")
        return raw
    if kind == "choice":
        if raw not in (choices or []):
            raise ValueError(f"choose one of: {', '.join(choices or [])}")
        return raw
    return raw


def _int_or(raw: str) -> int:
    return int(raw) if raw.isdigit() else -1


def coerce_inputs(session: Session, sop_slug: str, raw: dict[str, str]) -> dict[str, Any]:
    """Return the SOP's inputs: given values checked against their declared types,
    defaults for the rest. Raises InputError naming the first bad input."""
    sop = session.scalar(select(Sop).where(Sop.slug == sop_slug))
    version = latest_version(session, sop.id) if sop else None
    if version is None:
        raise InputError(f'no SOP "{sop_slug}" with a loadable version')
    declared = {i.id: i for i in spec_for(version).manual_inputs}
    unknown = sorted(set(raw) - set(declared))
    if unknown:
        raise InputError(
            f"unknown input {unknown[0]!r}; this SOP declares: {', '.join(declared) or 'none'}"
        )
    values: dict[str, Any] = {}
    for input_id, spec_input in declared.items():
        if input_id not in raw or raw[input_id] == "":
            if spec_input.required and spec_input.default is None:
                raise InputError(f"input {input_id!r} is required")
            values[input_id] = spec_input.default
            continue
        try:
            values[input_id] = _coerce(session, spec_input.type, raw[input_id], spec_input.choices)
        except ValueError as exc:
            raise InputError(f"input {input_id!r}: {exc} (got {raw[input_id]!r})") from None
    return values
