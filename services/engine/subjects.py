"""Reading subjects for a run: keyset batches of light rows, with a template view.

Rows come from Core SELECTs (an ORM object costs several times more to build).
The relationships that templates and expressions read (`subject.caregivers`,
`subject.physician.npi`) are loaded for a whole batch with one query each,
and only for the subjects that need planning.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Select, inspect, select
from sqlalchemy.orm import RelationshipProperty, Session

from models import Site, SubjectKind
from models.sop_spec import SopSpec
from models.subject_kinds import SubjectKindInfo, subject_kind
from services.sop_validation.templates import RecordView

SITE_PREFIX = "site__"
DEFAULT_TIMEZONE = "America/New_York"
DEFAULT_CALENDAR = "US"


@dataclass(frozen=True)
class SubjectRow:
    """One subject as the engine uses it: id, opaque ref, site facts, and the template view."""

    id: int
    ref: str
    site_id: int | None
    site_state: str | None
    site_timezone: str
    site_calendar: str
    view: RecordView  # what templates see as `subject`
    site_view: RecordView  # what templates see as `site`

    def value(self, field: str) -> Any:
        """Return the subject's column `field`."""
        return getattr(self.view, field)


def _relationships(info: SubjectKindInfo) -> dict[str, RelationshipProperty[Any]]:
    return {rel.key: rel for rel in inspect(info.model).relationships if rel.key != "site"}


@cache
def _referenced(spec_sources: tuple[str, ...], names: tuple[str, ...]) -> frozenset[str]:
    if not names:
        return frozenset()
    pattern = re.compile(r"subject\.(" + "|".join(map(re.escape, names)) + r")\b")
    return frozenset(m.group(1) for text in spec_sources for m in pattern.finditer(text))


def referenced_relationships(spec: SopSpec, subject_level_only: bool = False) -> frozenset[str]:
    """Return the relationship names of the subject that the spec's templates and
    expressions read (only the subject-level `when:` if `subject_level_only`)."""
    info = subject_kind(spec.subjects.kind)
    sources = [spec.subjects.when or ""]
    if not subject_level_only:
        for step in spec.steps:
            sources += [step.title, step.description or "", step.when or ""]
    return _referenced(tuple(sources), tuple(sorted(_relationships(info))))


def base_query(info: SubjectKindInfo) -> Select[Any]:
    """Return the SELECT of subjects of `info.kind` with their site's columns."""
    model = info.model
    if info.kind is SubjectKind.SITE:
        return select(*model.__table__.c)
    site_cols = [c.label(SITE_PREFIX + c.key) for c in Site.__table__.c]
    site_fk = getattr(model, info.site_column or "site_id")
    return select(*model.__table__.c, *site_cols).join(Site, Site.id == site_fk, isouter=True)


def _subject(info: SubjectKindInfo, values: dict[str, Any], site_view: RecordView) -> SubjectRow:
    values["ref"] = f"{info.ref_prefix}{values['id']}"
    if info.kind is SubjectKind.SITE:
        view = site_view = RecordView(values)
    else:
        values["site"] = site_view
        view = RecordView(values)
    site = site_view._values  # our own view class: reading its dict is fine here
    return SubjectRow(
        id=values["id"],
        ref=values["ref"],
        site_id=site.get("id"),
        site_state=site.get("state"),
        site_timezone=site.get("timezone") or DEFAULT_TIMEZONE,
        site_calendar=site.get("holiday_calendar") or DEFAULT_CALENDAR,
        view=view,
        site_view=site_view,
    )


def _rows_to_subjects(info: SubjectKindInfo, result: Any) -> list[SubjectRow]:
    """Build SubjectRows from a `base_query` result; rows of one site share its view."""
    keys = list(result.keys())
    n = len(info.model.__table__.c)
    own, site_keys = keys[:n], [k.removeprefix(SITE_PREFIX) for k in keys[n:]]
    sites: dict[Any, RecordView] = {}
    subjects = []
    for row in result:
        values = dict(zip(own, row[:n], strict=True))
        site_view = sites.get(row[n]) if site_keys else None
        if site_view is None and site_keys:
            site_values = dict(zip(site_keys, row[n:], strict=True))
            site_view = sites[row[n]] = RecordView({**site_values, "ref": f"S-{row[n]}"})
        subjects.append(_subject(info, values, site_view or RecordView({})))
    return subjects


# Columns of people's accounts a template may read; never hashes or nonces.
USER_COLUMNS = ("id", "name", "email", "role", "active")


class _Columns:
    """A table's readable columns, shaped like a Table for the queries below."""

    def __init__(self, table: Any) -> None:
        self.c = [c for c in table.c if table.name != "user_account" or c.key in USER_COLUMNS]


def _readable(table: Any) -> _Columns:
    return _Columns(table)


def _views(rows: Iterable[Any], prefix: str = "") -> list[RecordView]:
    out = []
    for row in rows:
        values = dict(row)
        if prefix and "id" in values:
            values["ref"] = f"{prefix}{values['id']}"
        out.append(RecordView(values))
    return out


def _ref_prefix(model: Any) -> str:
    for kind in SubjectKind:
        if subject_kind(kind).model is model:
            return subject_kind(kind).ref_prefix
    return ""


def _attach(view: RecordView, name: str, value: Any) -> None:
    # Set on the underlying dict: RecordView has no public setter, so that a
    # template can never change what it reads.
    view._values[name] = value


def attach_relationships(
    session: Session, info: SubjectKindInfo, subjects: Sequence[SubjectRow], names: Iterable[str]
) -> None:
    """Load relationships `names` for all `subjects` (one query per relationship) and set
    them on each subject's view: a list for to-many, a record or None for to-one."""
    if not subjects:
        return
    relationships = _relationships(info)
    for name in sorted(names):
        rel = relationships[name]
        target = rel.mapper.class_
        table = _readable(target.__table__)
        prefix = _ref_prefix(target)
        if rel.secondary is not None:  # many-to-many through an association table
            (local_pair,) = rel.synchronize_pairs
            (remote_pair,) = rel.secondary_synchronize_pairs
            owner_col = local_pair[1]
            query = (
                select(owner_col.label("_owner"), *table.c)
                .join(rel.secondary, remote_pair[0] == remote_pair[1])
                .where(owner_col.in_([s.id for s in subjects]))
            )
            grouped: dict[int, list[RecordView]] = defaultdict(list)
            for row in session.execute(query).mappings():
                values = dict(row)
                owner = values.pop("_owner")
                grouped[owner].extend(_views([values], prefix))
            for subject in subjects:
                _attach(subject.view, name, grouped.get(subject.id, []))
        elif rel.uselist:  # one-to-many
            ((remote_col, fk_col),) = [(p[0], p[1]) for p in rel.synchronize_pairs]
            query = select(*table.c).where(fk_col.in_([s.id for s in subjects]))
            grouped = defaultdict(list)
            for view in _views(session.execute(query).mappings(), prefix):
                grouped[getattr(view, fk_col.key)].append(view)
            for subject in subjects:
                _attach(subject.view, name, grouped.get(subject.id, []))
        else:  # many-to-one
            ((remote_col, fk_col),) = [(p[0], p[1]) for p in rel.synchronize_pairs]
            keys = {subject.value(fk_col.key) for subject in subjects} - {None}
            found = {}
            if keys:
                query = select(*table.c).where(remote_col.in_(keys))
                found = {v.id: v for v in _views(session.execute(query).mappings(), prefix)}
            for subject in subjects:
                _attach(subject.view, name, found.get(subject.value(fk_col.key)))


def fetch_batch(
    session: Session, spec: SopSpec, where: Any, after_id: int, limit: int
) -> list[SubjectRow]:
    """Return up to `limit` matching subjects with id > `after_id`, by ascending id.

    Keyset pages (not OFFSET, not one long cursor) so that each batch is its own
    query and its own transaction: a crash loses at most the batch in flight.
    Relationships read by the subject-level `when:` are attached here; the rest
    by the caller, for the subjects it plans (see `attach_relationships`).
    """
    info = subject_kind(spec.subjects.kind)
    model = info.model
    query = base_query(info).where(where, model.id > after_id).order_by(model.id).limit(limit)
    subjects = _rows_to_subjects(info, session.execute(query))
    attach_relationships(session, info, subjects, referenced_relationships(spec, True))
    return subjects


def fetch_by_ids(session: Session, spec: SopSpec, ids: Sequence[int]) -> list[SubjectRow]:
    """Return the subjects with these ids (whatever the filter says), by ascending id,
    with every relationship the spec reads."""
    if not ids:
        return []
    info = subject_kind(spec.subjects.kind)
    query = base_query(info).where(info.model.id.in_(sorted(set(ids)))).order_by(info.model.id)
    subjects = _rows_to_subjects(info, session.execute(query))
    attach_relationships(session, info, subjects, referenced_relationships(spec))
    return subjects


def fetch_one(session: Session, spec: SopSpec, subject_id: int) -> SubjectRow | None:
    """Return one subject by id (whatever the filter says) with the relationships the
    spec reads, or None if it is gone."""
    info = subject_kind(spec.subjects.kind)
    found = _rows_to_subjects(
        info, session.execute(base_query(info).where(info.model.id == subject_id))
    )
    if not found:
        return None
    subject = found[0]
    attach_relationships(session, info, [subject], referenced_relationships(spec))
    return subject
