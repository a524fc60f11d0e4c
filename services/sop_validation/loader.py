"""Load and validate SOP files: YAML syntax, the schema, cross references, and every
expression and template, with each problem located to its line and column.

A file that fails never stops the others from being checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap

from models.sop_spec import SopSpec
from models.sop_spec.base import show
from services.sop_validation.issues import FILE_PATH, ROOT_PATH, SopIssue, SopValidationError
from services.sop_validation.positions import (
    error_message,
    error_position,
    format_path,
    locate,
    parse_yaml,
    to_plain,
)
from services.sop_validation.templates import check_templates

SOP_SUFFIXES = (".yaml", ".yml")


@dataclass
class SopCheck:
    """The outcome of checking one SOP text: the spec when valid, else its issues."""

    source: str
    spec: SopSpec | None
    issues: list[SopIssue] = field(default_factory=list)
    tree: Any = None

    @property
    def ok(self) -> bool:
        return self.spec is not None and not self.issues


def check_sop_text(text: str, source: str) -> SopCheck:
    """Validate one SOP text and collect every issue (never raises for bad input)."""
    tree, issues = parse_yaml(text, source)
    if issues:
        return SopCheck(source, None, issues)
    if not isinstance(tree, CommentedMap):
        what = "the file is empty" if tree is None else f"the document is {show(to_plain(tree))}"
        message = f"{what}; expected a mapping of SOP keys (id, title, owner_team, ...)"
        return SopCheck(source, None, [SopIssue(source, 1, 1, ROOT_PATH, message)], tree)
    try:
        spec = SopSpec.model_validate(to_plain(tree))
    except ValidationError as error:
        return SopCheck(source, None, _sorted(_schema_issues(error, tree, source)), tree)
    template_issues = check_templates(spec, tree, text, source)
    if template_issues:
        return SopCheck(source, None, _sorted(template_issues), tree)
    return SopCheck(source, spec, [], tree)


def _schema_issues(error: ValidationError, tree: Any, source: str) -> list[SopIssue]:
    issues: list[SopIssue] = []
    for detail in error.errors(include_url=False):
        position = error_position(tree, detail)
        issues.append(
            SopIssue(
                source,
                position.line + 1,
                position.col + 1,
                format_path(tuple(detail["loc"])),
                error_message(detail),
            )
        )
    return issues


def _sorted(issues: list[SopIssue]) -> list[SopIssue]:
    unique = list(dict.fromkeys(issues))
    return sorted(unique, key=lambda i: (i.line, i.col))


def load_sop_text(text: str, source: str) -> SopSpec:
    """Return the validated spec, or raise SopValidationError with every issue."""
    result = check_sop_text(text, source)
    if result.spec is None or result.issues:
        raise SopValidationError(result.issues)
    return result.spec


def load_sop_file(path: Path | str) -> SopSpec:
    """Read and validate one file (issues name the path as given)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SopValidationError([_unreadable(path, error)]) from None
    return load_sop_text(text, str(path))


def _unreadable(path: Path, error: Exception) -> SopIssue:
    return SopIssue(str(path), 1, 1, FILE_PATH, f"cannot read the file: {error}")


def expand_paths(paths: Sequence[Path | str]) -> list[Path]:
    """Files as given, and the *.yaml / *.yml files of directories, sorted."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                sorted(p for p in path.iterdir() if p.suffix in SOP_SUFFIXES and p.is_file())
            )
        else:
            files.append(path)
    return files


def check_paths(paths: Sequence[Path | str]) -> list[SopCheck]:
    """Check every file (directories expanded); also flag two files declaring one id."""
    results: list[SopCheck] = []
    first_by_id: dict[str, str] = {}
    for path in expand_paths(paths):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            results.append(SopCheck(str(path), None, [_unreadable(path, error)]))
            continue
        result = check_sop_text(text, str(path))
        if result.spec is not None:
            sop_id = result.spec.id
            if sop_id in first_by_id:
                position, _found = locate(result.tree, ("id",))
                result.issues.append(
                    SopIssue(
                        str(path),
                        position.line + 1,
                        position.col + 1,
                        "id",
                        f'duplicate SOP id "{sop_id}" (also declared in {first_by_id[sop_id]})',
                    )
                )
                result.spec = None
            else:
                first_by_id[sop_id] = str(path)
        results.append(result)
    return results


def validate_paths(paths: Sequence[Path | str]) -> list[SopIssue]:
    """Every issue of every file under `paths` (empty when all are valid)."""
    return [issue for result in check_paths(paths) for issue in result.issues]
