"""`python -m services.sop_validation check [PATH ...]` and `... schema [--check]`.

The same entry points a `sopflow check` / `sopflow schema` command can call.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from services.sop_validation.issues import format_issues
from services.sop_validation.loader import check_paths
from services.sop_validation.schema import (
    REGENERATE_HINT,
    SCHEMA_PATH,
    schema_is_current,
    write_schema,
)


def run_check(paths: Sequence[Path | str] = (SCHEMA_PATH.parent,)) -> int:
    """Print every issue (or one line per valid file); return the exit status."""
    results = check_paths(paths)
    for result in results:
        if result.issues:
            print(format_issues(result.issues))
        else:
            print(f"{result.source}: ok")
    return 1 if any(r.issues for r in results) else 0


def run_schema(check: bool = False) -> int:
    """Write the committed schema, or with `check` report whether it is current."""
    if check:
        if schema_is_current():
            return 0
        print(f"{SCHEMA_PATH} is out of date; run: {REGENERATE_HINT}", file=sys.stderr)
        return 1
    print(write_schema())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["schema"]:
        return run_schema(check="--check" in args[1:])
    if args[:1] == ["check"]:
        return run_check(args[1:] or [SCHEMA_PATH.parent])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
