"""What validation reports: one issue per problem, located to the line and column."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ROOT_PATH = "(root)"
SYNTAX_PATH = "(yaml)"
FILE_PATH = "(file)"


@dataclass(frozen=True, order=True)
class SopIssue:
    """A problem in an SOP file: `source:line:col: path: message` (line and col 1-based)."""

    source: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.col}: {self.path}: {self.message}"


class SopValidationError(ValueError):
    """An SOP text failed validation; `issues` holds every problem found, in file order."""

    def __init__(self, issues: Sequence[SopIssue]) -> None:
        self.issues = list(issues)
        super().__init__(format_issues(self.issues))


def format_issues(issues: Iterable[SopIssue]) -> str:
    """One issue per line, in the `file:line:col: path: message` form editors understand."""
    return "\n".join(str(issue) for issue in issues)
