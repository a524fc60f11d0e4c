"""Reading subjects for a run: batches by keyset, as light rows with a template view."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, inspect, select
from sqlalchemy.orm import Session, selectinload

from models import Site, SubjectKind
from models.sop_spec import SopSpec
from models.subject_kinds import SubjectKindInfo, subject_kind

SITE_PREFIX = "site__"


class RecordView:
    """A read-only attribute view of a row's mapping, for templates and expressions.

    Jinja's sandbox reads attributes; a Core row is much cheaper to fetch than an
    ORM object, so sweeps over many subjects read rows and wrap them in this.
    """

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        return f"<record {self._values.get('ref', '?')}>"


@dataclass(frozen=True)
class SubjectRow:
    """One subject as the engine uses it: id, opaque ref, site facts, and the template view."""

    id: int
    ref: str
    site_id: int | None
    site_state: str | None
    site_timezone: str
    site_calendar: str
    view: Any  # what templates see as `subject`
    site_view: Any  # what templates see as `site`

    def value(self, field: str) -> Any:
        """Return the subject's column `field`."""
        return getattr(self.view, field)


DEFAULT_TIMEZONE = "America/New_York"
DEFAULT_CALENDAR = "US"


def _relationship_names(info: SubjectKindInfo) -> set[str]:
    return {rel.key for rel in inspect(info.model).relationships} - {"site"}


def needs_orm(spec: SopSpec) -> bool:
    """Return True when a template or expression reads a relationship of the subject
    (`subject.physician.npi`), which light rows do not carry."""
    info = subject_kind(spec.subjects.kind)
    names = _relationship_names(info)
    if not names:
        return False
    pattern = re.compile(r"subject\.(" + "|".join(map(re.escape, sorted(names))) + r")\b")
    sources = [spec.subjects.when or ""]
    for step in spec.steps:
        sources += [step.title, step.description or "", step.when or ""]
    return any(pattern.search(text) for text in sources)


def base_query(info: SubjectKindInfo, orm: bool) -> Select[Any]:
    """Return the SELECT of subjects of `info.kind` with their site's columns."""
    model = info.model
    site_cols = [c.label(SITE_PREFIX + c.key) for c in Site.__table__.c]
    if info.kind is SubjectKind.SITE:
        return select(model) if orm else select(*model.__table__.c)
    site_fk = getattr(model, info.site_column or "site_id")
    if orm:
        relationship_names = _relationship_names(info)
        options = [selectinload(getattr(model, name)) for name in sorted(relationship_names)]
        return (
            select(model)
            .options(selectinload(model.site), *options)
            .join(Site, Site.id == site_fk, isouter=True)
        )
    return select(*model.__table__.c, *site_cols).join(Site, Site.id == site_fk, isouter=True)


def _site_from(values: dict[str, Any]) -> dict[str, Any]:
    return {k.removeprefix(SITE_PREFIX): v for k, v in values.items() if k.startswith(SITE_PREFIX)}


def to_subject(info: SubjectKindInfo, item: Any) -> SubjectRow:
    """Return the SubjectRow for a Core row mapping or an ORM object of kind `info`."""
    if isinstance(item, dict):
        values = {k: v for k, v in item.items() if not k.startswith(SITE_PREFIX)}
        site_values = values if info.kind is SubjectKind.SITE else _site_from(item)
        site_view = RecordView({**site_values, "ref": f"S-{site_values.get('id')}"})
        values["ref"] = f"{info.ref_prefix}{values['id']}"
        values["site"] = site_view
        view: Any = RecordView(values)
        if info.kind is SubjectKind.SITE:
            site_view = view
    else:
        view = item
        site_view = item if info.kind is SubjectKind.SITE else item.site
        site_values = {
            "id": getattr(site_view, "id", None),
            "state": getattr(site_view, "state", None),
            "timezone": getattr(site_view, "timezone", None),
            "holiday_calendar": getattr(site_view, "holiday_calendar", None),
        }
    return SubjectRow(
        id=view.id,
        ref=info.ref_for(view),
        site_id=site_values.get("id"),
        site_state=site_values.get("state"),
        site_timezone=site_values.get("timezone") or DEFAULT_TIMEZONE,
        site_calendar=site_values.get("holiday_calendar") or DEFAULT_CALENDAR,
        view=view,
        site_view=site_view,
    )


def fetch_batch(
    session: Session, spec: SopSpec, where: Any, after_id: int, limit: int, orm: bool
) -> list[SubjectRow]:
    """Return up to `limit` matching subjects with id > `after_id`, by ascending id.

    Keyset pages (not OFFSET, not one long cursor) so that each batch is its own
    query and its own transaction: a crash loses at most the batch in flight.
    """
    info = subject_kind(spec.subjects.kind)
    model = info.model
    query = base_query(info, orm).where(where, model.id > after_id).order_by(model.id).limit(limit)
    if orm:
        return [to_subject(info, obj) for obj in session.scalars(query)]
    return [to_subject(info, dict(row)) for row in session.execute(query).mappings()]


def fetch_one(session: Session, spec: SopSpec, subject_id: int) -> SubjectRow | None:
    """Return one subject by id (whatever the filter says), or None if it is gone."""
    info = subject_kind(spec.subjects.kind)
    query = base_query(info, orm=True).where(info.model.id == subject_id)
    obj = session.scalars(query).first()
    return to_subject(info, obj) if obj is not None else None


def ids_of(subjects: Sequence[SubjectRow]) -> list[int]:
    return [s.id for s in subjects]
