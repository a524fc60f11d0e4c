"""SOP templates and expressions as SQL, for the set-based sweep.

The common shapes of a step — literal text with `{{ subject.field }}`, `{% if %}`
blocks, `| length` of a relationship, comparisons with constants, and/or/not —
become SQL expressions over the subject's row and its site's row, so that a
sweep computes every task of a batch inside the database. Each construct keeps
Python's meaning exactly (how `str()` prints a value, what is truthy, how None
compares); anything else raises `NotSetBased` and that SOP keeps the Python
planner, which stays the reference implementation (tests compare the two).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from jinja2 import nodes
from sqlalchemy import inspect
from sqlalchemy.orm import RelationshipProperty

from models import Site
from models.subject_kinds import SITE_REF_PREFIX, SubjectKindInfo
from services.sop_validation import sandbox_environment

TEXT = sa.Text()


class NotSetBased(Exception):
    """This template or expression has no exact SQL form; the Python planner runs it."""


@dataclass(frozen=True)
class Scope:
    """The SQL names a compiled template reads: the subject's table and its site's."""

    info: SubjectKindInfo
    subject: Any  # the subject's table (or an alias of it)
    site: Any  # the site table joined to it (the subject itself for kind `site`)


@dataclass(frozen=True)
class Term:
    """A compiled value: its SQL, the Python type its values have, and, for a
    relationship of the subject, the relationship itself."""

    sql: Any
    py_type: type | None = None
    relationship: RelationshipProperty[Any] | None = None
    owner: Any = None  # the table the relationship starts from


def _relationships(model: Any) -> dict[str, RelationshipProperty[Any]]:
    return {rel.key: rel for rel in inspect(model).relationships}


def _kind_of(py_type: type) -> type:
    """The plain type whose printing and truth rules a column's values follow."""
    # bool before int, datetime before date (subclasses first).
    for plain in (bool, str, int, Decimal, dt.datetime, dt.date):
        if issubclass(py_type, plain):
            return plain
    return py_type


def _column_term(column: Any) -> Term:
    try:
        py_type = _kind_of(column.type.python_type)
    except NotImplementedError as exc:
        raise NotSetBased(f"column {column.key} has no plain Python type") from exc
    # Text columns (and string enums) compare as text, not through their Python type.
    return Term(sa.cast(column, TEXT) if py_type is str else column, py_type)


def _record_term(scope: Scope, name: str, attr: str) -> Term:
    """`subject.attr` or `site.attr` (a column, `ref`, or a relationship of the subject)."""
    if name == "site" and scope.info.site_column is not None:
        table, prefix, model = scope.site, SITE_REF_PREFIX, Site
    else:
        table, prefix, model = scope.subject, scope.info.ref_prefix, scope.info.model
    if attr == "ref":
        return Term(sa.literal(prefix, TEXT) + sa.cast(table.c.id, TEXT), str)
    if attr in table.c:
        return _column_term(table.c[attr])
    relationship = _relationships(model).get(attr)
    if relationship is not None and name == "subject":
        return Term(None, None, relationship, table)
    raise NotSetBased(f"{name}.{attr} is not a column")


def _to_one_attr(term: Term, attr: str) -> Term:
    """`subject.practice.name`: the column of a many-to-one target, when the link is
    required (a missing one would be a render error in Python, never a value)."""
    rel = term.relationship
    assert rel is not None
    if rel.uselist or rel.secondary is not None:
        raise NotSetBased(f"{rel.key} is a list")
    ((local, remote),) = rel.local_remote_pairs
    if term.owner.c[local.key].nullable:
        raise NotSetBased(f"{rel.key} may be missing")
    target = rel.mapper.local_table.alias()
    if attr not in target.c or target.name == "user_account":
        raise NotSetBased(f"{rel.key}.{attr} is not a readable column")
    inner = _column_term(target.c[attr])
    query = sa.select(inner.sql).where(target.c[remote.key] == term.owner.c[local.key])
    return Term(query.scalar_subquery(), inner.py_type)


def _related_rows(term: Term, what: Any = None) -> Any:
    """Return a SELECT of `what` (default 1) over the relationship's target rows of the
    current subject (correlated: it runs per subject row)."""
    what = sa.literal(1) if what is None else what
    rel = term.relationship
    assert rel is not None
    owner, target = term.owner, rel.mapper.local_table
    if rel.secondary is not None:
        # The link rows alone: their foreign key (ON DELETE CASCADE) guarantees each
        # names an existing target, and joining the target would only cost a lookup.
        ((owner_col, link_owner),) = rel.synchronize_pairs
        link = rel.secondary
        if not all(column.foreign_keys for column in link.primary_key.columns):
            raise NotSetBased(f"{rel.key}: link rows without foreign keys")
        return (
            sa.select(what)
            .select_from(link)
            .where(link.c[link_owner.key] == owner.c[owner_col.key])
        )
    ((local, remote),) = rel.local_remote_pairs
    return sa.select(what).select_from(target).where(target.c[remote.key] == owner.c[local.key])


def text_of(term: Term) -> Any:
    """SQL text equal to Python's `str(value)` (what Jinja prints), never NULL."""
    if term.relationship is not None:
        raise NotSetBased("printing a relationship")
    t, sql = term.py_type, term.sql
    if t is bool:
        return sa.case((sql.is_(True), "True"), (sql.is_(False), "False"), else_="None")
    if t is str:
        return sa.func.coalesce(sql, "None")
    if t is int or t is Decimal:
        # A numeric column's text keeps its scale ("12.50"), as the driver's Decimal does.
        return sa.func.coalesce(sa.cast(sql, TEXT), "None")
    if t is dt.date:
        return sa.func.coalesce(sa.func.to_char(sql, "YYYY-MM-DD"), "None")
    raise NotSetBased(f"printing a {getattr(t, '__name__', t)} value")


def truth_of(term: Term) -> Any:
    """SQL boolean equal to Python's `bool(value)`, never NULL."""
    if term.relationship is not None:
        return sa.exists(_related_rows(term))
    t, sql = term.py_type, term.sql
    if t is bool:
        return sa.func.coalesce(sql, sa.false())
    if t is str:
        return sa.func.coalesce(sql != "", sa.false())
    if t is int or t is Decimal:
        return sa.func.coalesce(sql != 0, sa.false())
    if t in (dt.date, dt.datetime):
        return sql.is_not(None)
    raise NotSetBased(f"truth of a {getattr(t, '__name__', t)} value")


def _const(node: nodes.Node) -> Any:
    if isinstance(node, nodes.Const) and isinstance(node.value, str | int | bool):
        return node.value
    raise NotSetBased("comparison with something other than a constant")


def _compatible(term: Term, value: Any) -> None:
    # Only like with like: Python says 1 == True and date == "x" is merely False.
    if term.py_type is None or _kind_of(type(value)) is not term.py_type:
        raise NotSetBased("comparison between different kinds of value")


def _compare(scope: Scope, node: nodes.Compare) -> Any:
    if len(node.ops) != 1:
        raise NotSetBased("chained comparison")
    term = value_of(scope, node.expr)
    (operand,) = node.ops
    if operand.op in ("eq", "ne"):
        value = _const(operand.expr)
        _compatible(term, value)
        same = term.sql.is_not_distinct_from(sa.literal(value))
        return same if operand.op == "eq" else sa.not_(same)
    if operand.op in ("in", "notin") and isinstance(operand.expr, nodes.List | nodes.Tuple):
        values = [_const(item) for item in operand.expr.items]
        for value in values:
            _compatible(term, value)
        found = (
            sa.func.coalesce(term.sql.in_([sa.literal(v) for v in values]), sa.false())
            if values
            else sa.false()
        )
        return found if operand.op == "in" else sa.not_(found)
    # <, > on a missing value raise in Python; SQL would quietly say false.
    raise NotSetBased(f"comparison {operand.op}")


def value_of(scope: Scope, node: nodes.Node) -> Term:
    """Compile a value: `subject.x`, `site.x`, `subject.rel.x`, `x | length`, a constant."""
    if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
        if node.node.name not in ("subject", "site") or node.attr.startswith("_"):
            raise NotSetBased(f"name {node.node.name}")
        return _record_term(scope, node.node.name, node.attr)
    if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Getattr):
        outer = value_of(scope, node.node)
        if outer.relationship is None or node.attr.startswith("_"):
            raise NotSetBased("attribute of a value")
        return _to_one_attr(outer, node.attr)
    if isinstance(node, nodes.Filter) and node.name == "length" and not node.args:
        inner = value_of(scope, node.node)  # type: ignore[arg-type]
        if inner.relationship is None or not inner.relationship.uselist:
            raise NotSetBased("length of something other than a list")
        return Term(_related_rows(inner, sa.func.count()).scalar_subquery(), int)
    if isinstance(node, nodes.Const) and isinstance(node.value, str | int | bool):
        return Term(sa.literal(node.value), type(node.value))
    raise NotSetBased(f"{type(node).__name__} expression")


def condition_of(scope: Scope, node: nodes.Node) -> Any:
    """Compile an expression used as a condition to a never-NULL SQL boolean."""
    if isinstance(node, nodes.And):
        return sa.and_(condition_of(scope, node.left), condition_of(scope, node.right))
    if isinstance(node, nodes.Or):
        return sa.or_(condition_of(scope, node.left), condition_of(scope, node.right))
    if isinstance(node, nodes.Not):
        return sa.not_(condition_of(scope, node.node))
    if isinstance(node, nodes.Compare):
        return _compare(scope, node)
    return truth_of(value_of(scope, node))


def _printed(scope: Scope, node: nodes.Node) -> Any:
    """SQL text of `{{ node }}`; `a or b` prints the first truthy one, like Python."""
    if isinstance(node, nodes.TemplateData):
        return sa.literal(node.data, TEXT)
    if isinstance(node, nodes.Or):
        left = value_of(scope, node.left)
        return sa.case((truth_of(left), text_of(left)), else_=_printed(scope, node.right))
    if isinstance(node, nodes.And):
        left = value_of(scope, node.left)
        return sa.case((sa.not_(truth_of(left)), text_of(left)), else_=_printed(scope, node.right))
    if isinstance(node, nodes.Compare | nodes.Not):
        condition = condition_of(scope, node)
        return sa.case((condition, "True"), else_="False")
    return text_of(value_of(scope, node))


def _joined(parts: list[Any]) -> Any:
    if not parts:
        return sa.literal("", TEXT)
    result = parts[0]
    for part in parts[1:]:
        result = sa.type_coerce(result, TEXT) + sa.type_coerce(part, TEXT)
    return result


def _body(scope: Scope, body: list[nodes.Node]) -> Any:
    parts: list[Any] = []
    for node in body:
        if isinstance(node, nodes.Output):
            parts.extend(_printed(scope, child) for child in node.nodes)
        elif isinstance(node, nodes.If):
            branches = [(node.test, node.body), *((e.test, e.body) for e in node.elif_)]
            whens = [(condition_of(scope, t), _body(scope, b)) for t, b in branches]
            parts.append(sa.case(*whens, else_=_body(scope, node.else_)))
        else:
            raise NotSetBased(f"{type(node).__name__} block")
    return _joined(parts)


def template_sql(scope: Scope, source: str) -> Any:
    """Return SQL text equal to rendering `source` for the row; raise NotSetBased."""
    return _body(scope, sandbox_environment().parse(source).body)


def expression_sql(scope: Scope, source: str) -> Any:
    """Return a never-NULL SQL boolean equal to `bool(expression)`; raise NotSetBased."""
    return condition_of(scope, sandbox_environment().parse("{{ " + source + " }}").body[0].nodes[0])
