"""Expressions and templates in SOPs: the one sandbox that renders them, and the
checks that every `when`, title, description and checklist line compiles and
renders against a sample subject of the declared kind.

Names available to every expression and template: subject, site, today, run,
inputs. Unknown names and unknown attributes (`subject.nmae`) are found
statically (so a short-circuited `or` cannot hide them) and then by rendering.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, Undefined, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString

from models.sop_spec import SopSpec
from models.sop_spec.base import suggest
from models.subject_kinds import SampleRecord, sample_subject
from services.sop_validation.issues import SopIssue
from services.sop_validation.positions import Loc, format_path, locate, node_at

CONTEXT_NAMES = ("subject", "site", "today", "run", "inputs")
TITLE_MAX = 300  # Task.title
SAMPLE_TODAY = date(2026, 11, 2)


class RecordView:
    """A read-only view of one database row's values, as templates see a subject.

    The engine reads subjects as light rows and wraps them in this; the sandbox
    below reads their values directly (they are plain data), skipping the
    per-attribute safety checks that otherwise dominate a sweep's cost.
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


class _SopSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with a fast path for reading a RecordView's values."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is RecordView and not attribute.startswith("_"):
            values = obj._values
            if attribute in values:
                return values[attribute]
        return super().getattr(obj, attribute)


@cache
def sandbox_environment() -> SandboxedEnvironment:
    """The Jinja environment every SOP expression and template is compiled and rendered in.

    Sandboxed and immutable (templates cannot call unsafe attributes or mutate
    data), StrictUndefined (an unknown name or attribute is an error, never an
    empty string), no autoescaping (output is plain text; the web layer escapes
    it), and no globals: the only names are those of `template_context`.
    """
    env = _SopSandbox(
        undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True
    )
    env.globals.clear()
    return env


@dataclass(frozen=True)
class RunInfo:
    """The `run` name of templates."""

    date: date
    started_at: datetime
    trigger: str


def template_context(
    subject: Any, site: Any, today: date, run: RunInfo, inputs: dict[str, Any]
) -> dict[str, Any]:
    """The names a template sees, built the same way for validation and for real runs."""
    return {"subject": subject, "site": site, "today": today, "run": run, "inputs": inputs}


def sample_inputs(spec: SopSpec) -> dict[str, Any]:
    samples = {"integer": 30, "boolean": True, "date": SAMPLE_TODAY, "site": "FL-Tampa"}
    values: dict[str, Any] = {}
    for item in spec.manual_inputs:
        if item.default is not None:
            values[item.id] = item.default
        elif item.type == "choice":
            values[item.id] = (item.choices or [""])[0]
        elif item.type == "team":
            values[item.id] = spec.owner_team
        else:
            values[item.id] = samples.get(item.type, "sample")
    return values


def sample_context(spec: SopSpec) -> dict[str, Any]:
    """A context with a synthetic subject of the spec's kind, for validation."""
    subject = sample_subject(spec.subjects.kind)
    run = RunInfo(SAMPLE_TODAY, datetime(2026, 11, 2, 12, 0, tzinfo=UTC), "schedule")
    return template_context(
        subject,
        subject.site if hasattr(subject, "site") else subject,
        SAMPLE_TODAY,
        run,
        sample_inputs(spec),
    )


@dataclass(frozen=True)
class TemplateSite:
    """One expression or template in the file."""

    loc: Loc
    text: str
    expression: bool
    title: bool = False


def template_sites(spec: SopSpec, tree: Any) -> list[TemplateSite]:
    sites: list[TemplateSite] = []
    if spec.subjects.when:
        sites.append(TemplateSite(("subjects", "when"), spec.subjects.when, True))
    for i, step in enumerate(spec.steps):
        base: Loc = ("steps", i)
        sites.append(TemplateSite((*base, "title"), step.title, False, title=True))
        if step.description:
            sites.append(TemplateSite((*base, "description"), step.description, False))
        if step.when:
            sites.append(TemplateSite((*base, "when"), step.when, True))
        for j, item in enumerate(step.checklist):
            loc: Loc = (*base, "checklist", j)
            if isinstance(node_at(tree, loc), CommentedMap):
                loc = (*loc, "text")
            sites.append(TemplateSite(loc, item.text, False))
    return sites


class _Problem(Exception):
    def __init__(self, lineno: int, needle: str | None, message: str) -> None:
        super().__init__(message)
        self.lineno, self.needle, self.message = lineno, needle, message


_UNKNOWN = object()


def _dotted(node: nodes.Node) -> str:
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        return f"{_dotted(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return f"{_dotted(node.node)}[{node.arg.value!r}]"
    return "…"


def _resolve(node: nodes.Node, context: dict[str, Any], title: bool) -> Any:
    """Follow a chain like subject.physician.practice_id through the sample objects."""
    if isinstance(node, nodes.Name):
        return context.get(node.name, _UNKNOWN) if node.ctx == "load" else _UNKNOWN
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        base = _resolve(node.node, context, title)
        try:
            return _UNKNOWN if base is _UNKNOWN else base[node.arg.value]
        except (LookupError, TypeError):
            return _UNKNOWN
    if not isinstance(node, nodes.Getattr):
        return _UNKNOWN
    base = _resolve(node.node, context, title)
    if base is _UNKNOWN:
        return _UNKNOWN
    owner, attr = _dotted(node.node), node.attr
    if attr.startswith("_"):
        raise _Problem(
            node.lineno, f".{attr}", f"{owner}.{attr}: underscore names are not accessible"
        )
    if isinstance(base, SampleRecord):
        names = base.public_names()
        if attr not in names:
            raise _Problem(node.lineno, f".{attr}", _no_attribute(owner, base._kind, attr, names))
        if title and attr in base._phi:
            raise _Problem(
                node.lineno,
                f".{attr}",
                f"titles reach calendar feeds and mail: use {owner}.ref, not {owner}.{attr} "
                "(protected health information)",
            )
        return getattr(base, attr)
    if isinstance(base, dict):
        if attr in base:
            return base[attr]
        if hasattr(base, attr):
            return _UNKNOWN
        declared = ", ".join(sorted(base)) or "none"
        raise _Problem(
            node.lineno, f".{attr}", f"'{attr}' is not a declared input (inputs: {declared})"
        )
    if not hasattr(base, attr):
        raise _Problem(
            node.lineno, f".{attr}", f"'{type(base).__name__}' object has no attribute '{attr}'"
        )
    return getattr(base, attr)


def _no_attribute(owner: str, kind: str, attr: str, names: list[str]) -> str:
    hint = suggest(attr, names)
    suggestion = hint or f" (it has: {', '.join(names)})"
    return f'{owner} (a {kind}) has no attribute "{attr}"{suggestion}'


def _static_problems(ast: nodes.Template, context: dict[str, Any], title: bool) -> list[_Problem]:
    problems: list[_Problem] = []
    env = sandbox_environment()
    for name in sorted(meta.find_undeclared_variables(ast) - set(context) - set(env.globals)):
        lineno = next((n.lineno for n in ast.find_all(nodes.Name) if n.name == name), 1)
        problems.append(
            _Problem(lineno, name, f"'{name}' is undefined (names: {', '.join(CONTEXT_NAMES)})")
        )
    seen: set[str] = set()
    for node in ast.find_all(nodes.Getattr):
        try:
            _resolve(node, context, title)
        except _Problem as problem:
            if problem.message not in seen:
                seen.add(problem.message)
                problems.append(problem)
    return problems


def _render_problem(site: TemplateSite, context: dict[str, Any]) -> _Problem | None:
    env = sandbox_environment()
    try:
        if site.expression:
            result = env.compile_expression(site.text, undefined_to_none=False)(**context)
            if isinstance(result, Undefined):
                result._fail_with_undefined_error()
        else:
            rendered = env.from_string(site.text).render(context)
            if site.title and len(rendered) > TITLE_MAX:
                return _Problem(
                    1,
                    None,
                    f"renders to {len(rendered)} characters with a sample "
                    f"subject; a title holds at most {TITLE_MAX}",
                )
    except TemplateError as error:
        return _Problem(getattr(error, "lineno", None) or 1, None, str(error.message or error))
    except Exception as error:  # a template may fail in any way; report, never crash
        return _Problem(1, None, f"fails with a sample subject: {type(error).__name__}: {error}")
    return None


def check_site(site: TemplateSite, context: dict[str, Any]) -> list[_Problem]:
    """Every problem of one expression or template (syntax, names, attributes, rendering)."""
    env = sandbox_environment()
    try:
        if site.expression:
            env.compile_expression(site.text)
            ast = env.parse("{{ " + site.text + " }}")
        else:
            ast = env.parse(site.text)
            env.from_string(site.text)
    except TemplateSyntaxError as error:
        return [_Problem(error.lineno or 1, None, error.message or str(error))]
    problems = _static_problems(ast, context, site.title)
    if problems:
        return problems
    rendered = _render_problem(site, context)
    return [rendered] if rendered else []


def check_templates(spec: SopSpec, tree: Any, text: str, source: str) -> list[SopIssue]:
    """Issues for every expression and template of a schema-valid spec."""
    context = sample_context(spec)
    lines = text.splitlines()
    issues: list[SopIssue] = []
    for site in template_sites(spec, tree):
        for problem in check_site(site, context):
            line, col = _position(tree, site, lines, problem)
            issues.append(SopIssue(source, line, col, format_path(site.loc), problem.message))
    return issues


def _position(
    tree: Any, site: TemplateSite, lines: list[str], problem: _Problem
) -> tuple[int, int]:
    """1-based line and column of the problem inside the template's YAML scalar."""
    start, _found = locate(tree, site.loc)
    node = node_at(tree, site.loc)
    template_lines = site.text.splitlines() or [""]
    index = min(max(problem.lineno, 1), len(template_lines)) - 1
    offset = _find(template_lines[index], problem.needle)
    if isinstance(node, LiteralScalarString | FoldedScalarString):
        line = start.line + 1 + index
        source_line = lines[line] if line < len(lines) else ""
        indent = len(source_line) - len(source_line.lstrip(" "))
        return line + 1, indent + offset + 1
    source_line = lines[start.line] if start.line < len(lines) else ""
    quoted = start.col < len(source_line) and source_line[start.col] in "\"'"
    if index == 0:
        return start.line + 1, start.col + (1 if quoted else 0) + offset + 1
    return start.line + 1 + index, offset + 1


def _find(line: str, needle: str | None) -> int:
    if not needle:
        return 0
    if needle.startswith("."):
        match = re.search(r"\.\s*" + re.escape(needle[1:]) + r"\b", line)
        return match.start() + match.group(0).index(needle[1:]) if match else 0
    match = re.search(r"\b" + re.escape(needle) + r"\b", line)
    return match.start() if match else 0
