"""Reading feeds back with two parsers that are not the one we generate with:
Mozilla's ical.js (under node) and Python's vobject.

Both return the same shape per component: type, uid, summary, start, end, due
(ISO strings: "2026-11-02" for a date, "2026-11-02T22:00:00+00:00" for an
instant, in UTC), all_day, status, sequence, url and alarm instants.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("icaljs_parse.mjs")
ICALJS = ROOT / "node_modules" / "ical.js"


def icaljs_or_skip() -> str:
    """Return node's path; skip without node or ical.js (`make assets`), fail in CI."""
    node = shutil.which("node")
    if node and ICALJS.is_dir():
        return node
    message = "ical.js tests need node and `npm ci` (make assets)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        assert value.tzinfo is not None, f"floating time {value} in a feed"
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _normal_js(value: str | None) -> str | None:
    """ical.js prints instants as "…T22:00:00.000Z"; make them datetime.isoformat()'s form."""
    if value is None or len(value) == 10:
        return value
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).isoformat()


def parse_icaljs(body: bytes, tmp_path: Path) -> dict[str, Any]:
    """Return {"calendar": {...}, "components": [...]} as ical.js reads `body`."""
    node = icaljs_or_skip()
    path = tmp_path / "feed.ics"
    path.write_bytes(body)
    done = subprocess.run(
        [node, str(SCRIPT), str(path)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, f"ical.js could not parse the feed: {done.stderr[-2000:]}"
    parsed = json.loads(done.stdout)
    for component in parsed["components"]:
        for key in ("start", "end", "due"):
            component[key] = _normal_js(component[key])
        component["all_day"] = component.pop("allDay")
        component["alarms"] = [_normal_js(a) for a in component["alarms"]]
        component["sequence"] = (
            int(component["sequence"]) if component["sequence"] is not None else None
        )
    return parsed


def parse_vobject(body: bytes) -> dict[str, Any]:
    """Return {"calendar": {...}, "components": [...]} as vobject reads `body`."""
    import vobject

    calendar = vobject.readOne(body.decode("utf-8"), validate=True)
    components = []
    for kind in ("vevent", "vtodo"):
        for item in calendar.contents.get(kind, []):
            start = item.dtstart.value if hasattr(item, "dtstart") else None

            def value(name: str, item: Any = item) -> Any:
                return getattr(item, name).value if hasattr(item, name) else None

            components.append(
                {
                    "type": kind,
                    "uid": value("uid"),
                    "summary": value("summary"),
                    "description": value("description"),
                    "start": _iso(start),
                    "end": _iso(value("dtend")),
                    "due": _iso(value("due")),
                    "all_day": None if start is None else not isinstance(start, datetime),
                    "status": value("status"),
                    "sequence": int(value("sequence")) if value("sequence") else None,
                    "url": value("url"),
                    "alarms": [_iso(a.trigger.value) for a in item.contents.get("valarm", [])],
                }
            )
    header = {
        name: calendar.contents[name][0].value if name in calendar.contents else None
        for name in ("version", "prodid", "name", "x-wr-calname", "refresh-interval")
    }
    return {"calendar": header, "components": components}
