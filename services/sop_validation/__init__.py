"""SOP loading and validation: YAML text in, a validated `SopSpec` or precise issues out.

    spec = load_sop_text(text, "sop_definitions/patient-renewal.yaml")
    issues = validate_paths([Path("sop_definitions")])
    print(format_issues(issues))   # file:line:col: path: message

The Jinja environment that validation checks templates with is the one the
engine renders with: `sandbox_environment()` and `template_context(...)`.
"""

from services.sop_validation.issues import SopIssue, SopValidationError, format_issues
from services.sop_validation.loader import (
    SopCheck,
    check_paths,
    check_sop_text,
    expand_paths,
    load_sop_file,
    load_sop_text,
    validate_paths,
)
from services.sop_validation.schema import (
    REGENERATE_HINT,
    SCHEMA_PATH,
    schema_is_current,
    schema_json,
    write_schema,
)
from services.sop_validation.templates import (
    CONTEXT_NAMES,
    RunInfo,
    sandbox_environment,
    template_context,
)

__all__ = [
    "CONTEXT_NAMES",
    "REGENERATE_HINT",
    "SCHEMA_PATH",
    "RunInfo",
    "SopCheck",
    "SopIssue",
    "SopValidationError",
    "check_paths",
    "check_sop_text",
    "expand_paths",
    "format_issues",
    "load_sop_file",
    "load_sop_text",
    "sandbox_environment",
    "schema_is_current",
    "schema_json",
    "template_context",
    "validate_paths",
    "write_schema",
]
