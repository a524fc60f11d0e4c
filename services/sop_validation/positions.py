"""From YAML text to plain data and back to positions: parse with ruamel.yaml's
round-trip loader (which keeps the line and column of every key, value and item),
and map a pydantic error location such as ("steps", 2, "due", "offset") to the
line and column of the offending key or value."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from difflib import get_close_matches
from types import NoneType, UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError

from models.sop_spec import SopSpec
from models.sop_spec.base import show
from services.sop_validation.issues import ROOT_PATH, SYNTAX_PATH, SopIssue

Loc = tuple[str | int, ...]
KEY_LOC = "[key]"  # pydantic's marker for an error in a mapping's key


@dataclass(frozen=True)
class Position:
    """0-based line and column, as ruamel.yaml keeps them."""

    line: int
    col: int


class _Constructor(RoundTripConstructor):
    """The round-trip constructor, but an impossible date (2026-02-30) is a located error."""

    def construct_yaml_timestamp(self, node: Any, values: Any = None) -> Any:
        try:
            return super().construct_yaml_timestamp(node, values)
        except ValueError as error:
            raise ConstructorError(
                None, None, f"invalid date {node.value}: {error}", node.start_mark
            ) from None


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_yaml_timestamp)


def parse_yaml(text: str, source: str) -> tuple[Any, list[SopIssue]]:
    """Parse `text` with the round-trip loader; a syntax error becomes an issue."""
    yaml = YAML(typ="rt")
    yaml.Constructor = _Constructor
    try:
        return yaml.load(text), []
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return None, [SopIssue(source, line, col, SYNTAX_PATH, _yaml_message(error))]
    except Exception as error:  # anything else the YAML library raises: report, never crash
        return None, [SopIssue(source, 1, 1, SYNTAX_PATH, f"cannot read the YAML: {error}")]


def _yaml_message(error: MarkedYAMLError) -> str:
    problem = (error.problem or "invalid YAML").strip()
    if "'\\t'" in problem:
        problem += " (YAML indents with spaces; replace the tab)"
    if error.context and error.context_mark and error.problem_mark:
        where = f"{error.context_mark.line + 1}:{error.context_mark.column + 1}"
        problem += f" ({error.context.strip()} at {where})"
    elif error.context:
        problem += f" ({error.context.strip()})"
    return problem


def to_plain(node: Any) -> Any:
    """Turn ruamel's round-trip objects into plain dicts, lists and scalars."""
    if isinstance(node, CommentedMap | dict):
        return {
            str(key) if not isinstance(key, str) else key: to_plain(v) for key, v in node.items()
        }
    if isinstance(node, CommentedSeq | list):
        return [to_plain(item) for item in node]
    if isinstance(node, TaggedScalar):
        return node.value
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, datetime | date):
        return node
    return node


def node_at(tree: Any, loc: Loc) -> Any:
    """The YAML node at `loc` (None when the path does not exist)."""
    node = tree
    for part in loc:
        in_map = isinstance(node, CommentedMap) and not isinstance(part, int) and part in node
        in_seq = isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node)
        if not (in_map or in_seq):
            return None
        node = node[part]
    return node


def _start(node: Any) -> Position:
    lc = getattr(node, "lc", None)
    return Position(lc.line, lc.col) if lc is not None else Position(0, 0)


def locate(tree: Any, loc: Loc, at_key: bool = False) -> tuple[Position, bool]:
    """The position of the value at `loc` (of its key with `at_key`).

    Returns (position, found). When the path stops early (a missing key) the
    position is that of the deepest mapping or list reached, i.e. the parent.
    """
    node = tree
    position = _start(tree)
    key_position = position
    for part in loc:
        if part == KEY_LOC:
            return key_position, True
        if isinstance(node, CommentedMap) and not isinstance(part, int) and part in node:
            key_line, key_col = node.lc.key(part)
            value_line, value_col = node.lc.value(part)
            key_position = Position(key_line, key_col)
            position = Position(value_line, value_col)
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            item_line, item_col = node.lc.item(part)
            position = key_position = Position(item_line, item_col)
            node = node[part]
        else:
            return (_start(node) if hasattr(node, "lc") else position), False
    return (key_position if at_key else position), True


def format_path(loc: Loc) -> str:
    """("steps", 2, "due", "offset") -> "steps[2].due.offset"."""
    text = ""
    for part in loc:
        if part == KEY_LOC:
            continue
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text or ROOT_PATH


# --- pydantic errors as messages --------------------------------------------------


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            arms = [a for a in get_args(annotation) if a is not NoneType]
            annotation = arms[0] if len(arms) == 1 else annotation
            if len(arms) != 1:
                return annotation
        else:
            return annotation


def model_at(loc: Loc, root: type[BaseModel] = SopSpec) -> type[BaseModel] | None:
    """The SOP-language model class found at `loc` (None if it is not a model)."""
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        origin = get_origin(current)
        if isinstance(part, int) and origin is list:
            current = get_args(current)[0]
        elif origin is dict:
            current = get_args(current)[1]
        elif isinstance(current, type) and issubclass(current, BaseModel):
            fields = {(f.alias or name): f for name, f in current.model_fields.items()}
            if part not in fields:
                return None
            current = fields[part].annotation
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def allowed_keys(loc: Loc) -> list[str]:
    model = model_at(loc)
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


_PREFIXES = ("Value error, ", "Assertion failed, ")


def error_message(error: ErrorDetails) -> str:
    """A short message naming what was expected and the offending value."""
    kind = error["type"]
    loc = tuple(error["loc"])
    value = error.get("input")
    ctx = error.get("ctx") or {}
    last = loc[-1] if loc else ""
    if kind == "missing":
        return f'missing required key "{last}"'
    if kind == "extra_forbidden":
        keys = allowed_keys(loc[:-1])
        hint = get_close_matches(str(last), keys, n=1)
        if hint:
            return f'unknown key "{last}"; did you mean "{hint[0]}"?'
        return f'unknown key "{last}"' + (f" (allowed: {', '.join(keys)})" if keys else "")
    if kind in ("literal_error", "enum"):
        expected = re.sub(r"'([^']*)'", r"\1", str(ctx.get("expected", "")))
        return f"expected one of {expected.replace(' or ', ', ')}, got {show(value)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping of keys, got {show(value)}"
    if kind == "list_type":
        return f"expected a list, got {show(value)}"
    if kind == "string_type":
        return f"expected a text, got {show(value)}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {show(value)}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {show(value)}"
    if kind == "too_short":
        minimum = ctx.get("min_length", 1)
        return f"expected at least {minimum} item{'s' if minimum != 1 else ''}, got {show(value)}"
    if kind in ("greater_than_equal", "greater_than"):
        sign = ">=" if kind == "greater_than_equal" else ">"
        bound = ctx.get("ge", ctx.get("gt"))
        return f"expected a number {sign} {bound}, got {show(value)}"
    message = error["msg"]
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    return message


def error_position(tree: Any, error: ErrorDetails) -> Position:
    """Where to point for this error: the key when the key is unknown, the parent
    mapping when a key is missing, else the offending value."""
    loc = tuple(error["loc"])
    position, _found = locate(tree, loc, at_key=error["type"] == "extra_forbidden")
    return position
