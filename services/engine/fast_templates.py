"""A fast path for the most common SOP templates: literal text and `{{ subject.field }}`.

Rendering a Jinja template in the sandbox costs tens of microseconds; a sweep
renders one title per task. A template that is only text and plain attribute
reads of `subject`/`site` is turned into a tiny function that gives the very
same output (Jinja prints a value with `str`); anything else — filters, tests,
blocks, private names — keeps the real sandboxed template.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment

Render = Callable[[dict[str, Any]], str]
FAST_NAMES = ("subject", "site")


def _part(node: nodes.Node) -> Callable[[dict[str, Any]], str] | str | None:
    if isinstance(node, nodes.TemplateData):
        return node.data
    if (
        isinstance(node, nodes.Getattr)
        and isinstance(node.node, nodes.Name)
        and node.node.name in FAST_NAMES
        and not node.attr.startswith("_")
    ):
        name, attr = node.node.name, node.attr
        return lambda context: str(getattr(context[name], attr))
    return None


def compile_fast(env: SandboxedEnvironment, source: str) -> Render | None:
    """Return a function rendering `source` like Jinja would, or None when the
    template needs the real engine."""
    body = env.parse(source).body
    if len(body) != 1 or not isinstance(body[0], nodes.Output):
        return None
    parts = [_part(node) for node in body[0].nodes]
    if any(part is None for part in parts):
        return None
    if all(isinstance(part, str) for part in parts):
        text = "".join(parts)  # type: ignore[arg-type]
        return lambda context: text
    return lambda context: "".join(p if isinstance(p, str) else p(context) for p in parts)  # type: ignore[misc]


def renderer(env: SandboxedEnvironment, source: str) -> Render:
    """Return the fastest correct renderer for `source` (fast path, else the sandbox)."""
    fast = compile_fast(env, source)
    if fast is not None:
        return fast
    template = env.from_string(source)
    return template.render
