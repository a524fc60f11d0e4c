"""An SOP's history: its versions, and a side-by-side diff between any two texts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from itertools import zip_longest

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from models import Sop, SopVersion


def versions_of(session: Session, sop_id: int) -> Sequence[SopVersion]:
    """Return the SOP's versions, newest first, with their authors loaded."""
    query = (
        select(SopVersion)
        .where(SopVersion.sop_id == sop_id)
        .options(joinedload(SopVersion.author))
        .order_by(SopVersion.number.desc())
    )
    return session.scalars(query).all()


def version_of(session: Session, sop: Sop, number: int) -> SopVersion | None:
    """Return version `number` of the SOP, or None."""
    query = select(SopVersion).where(SopVersion.sop_id == sop.id, SopVersion.number == number)
    return session.scalar(query.options(joinedload(SopVersion.author)))


@dataclass(frozen=True)
class DiffRow:
    """One row of a side-by-side diff: `kind` is equal, delete, insert, replace or skip
    (a run of unchanged lines left out; `skipped` says how many)."""

    kind: str
    left_no: int | None = None
    left: str | None = None
    right_no: int | None = None
    right: str | None = None
    skipped: int = 0

    def parts(self) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
        """Return the left and right line as (text, changed) pieces, so a replaced line
        shows which characters changed."""
        left, right = self.left or "", self.right or ""
        if self.kind != "replace":
            return [(left, self.kind == "delete")], [(right, self.kind == "insert")]
        old: list[tuple[str, bool]] = []
        new: list[tuple[str, bool]] = []
        matcher = SequenceMatcher(None, left, right, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if i2 > i1:
                old.append((left[i1:i2], tag != "equal"))
            if j2 > j1:
                new.append((right[j1:j2], tag != "equal"))
        return old, new


@dataclass
class Diff:
    """A side-by-side diff of two texts, with the number of lines added and removed."""

    rows: list[DiffRow] = field(default_factory=list)
    added: int = 0
    removed: int = 0

    @property
    def same(self) -> bool:
        return self.added == 0 and self.removed == 0


def side_by_side(old: str, new: str, context: int | None = 3) -> Diff:
    """Return the line diff of `old` → `new`, unchanged runs longer than `context`
    lines on each side of a change folded into "skip" rows (None: show everything)."""
    a, b = old.splitlines(), new.splitlines()
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    groups = [matcher.get_opcodes()] if context is None else matcher.get_grouped_opcodes(context)
    diff = Diff()
    shown_until = 0  # first line of `a` not yet shown or skipped
    for group in groups:
        first_a = group[0][1]
        if first_a > shown_until:
            diff.rows.append(DiffRow("skip", skipped=first_a - shown_until))
        for tag, i1, i2, j1, j2 in group:
            _rows(diff, tag, a, b, i1, i2, j1, j2)
        shown_until = group[-1][2]
    if a and shown_until < len(a) and diff.rows:
        diff.rows.append(DiffRow("skip", skipped=len(a) - shown_until))
    return diff


def _rows(
    diff: Diff, tag: str, a: list[str], b: list[str], i1: int, i2: int, j1: int, j2: int
) -> None:
    if tag == "equal":
        for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
            diff.rows.append(DiffRow("equal", i + 1, a[i], j + 1, b[j]))
        return
    diff.removed += i2 - i1
    diff.added += j2 - j1
    for i, j in zip_longest(range(i1, i2), range(j1, j2)):
        kind = (
            "replace" if i is not None and j is not None else ("delete" if j is None else "insert")
        )
        diff.rows.append(
            DiffRow(
                kind,
                i + 1 if i is not None else None,
                a[i] if i is not None else None,
                j + 1 if j is not None else None,
                b[j] if j is not None else None,
            )
        )
