"""The JSON Schema of the SOP language, generated from `SopSpec` and committed as
`sop_definitions/sop.schema.json` so editors validate and autocomplete SOP files
(`# yaml-language-server: $schema=./sop.schema.json`)."""

from __future__ import annotations

import json
from pathlib import Path

from models.sop_spec import SCHEMA_TITLE, SopSpec

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "sop_definitions" / "sop.schema.json"
REGENERATE_HINT = "sopflow schema  (or: python -m services.sop_validation schema)"


def schema_json() -> str:
    """The schema as pretty JSON: sorted keys, two-space indent, trailing newline."""
    schema = SopSpec.model_json_schema(by_alias=True)
    schema["$schema"] = SCHEMA_DIALECT
    schema["title"] = SCHEMA_TITLE
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schema(path: Path | str = SCHEMA_PATH) -> Path:
    """Write the schema to `path` (default: the committed file) and return the path."""
    target = Path(path)
    target.write_text(schema_json(), encoding="utf-8", newline="\n")
    return target


def schema_is_current(path: Path | str = SCHEMA_PATH) -> bool:
    """Whether the committed schema is byte-identical to the generated one."""
    target = Path(path)
    return target.exists() and target.read_bytes() == schema_json().encode("utf-8")
