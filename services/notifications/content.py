"""What staff mail says: a subject, a plain-text part and an HTML part per notification.

Minimum necessary: a task appears as its label (task type, site code, opaque
reference), its due date and a link into the signed-in app; never its
description, a patient's or physician's name, or a condition. The HTML part
is rendered with autoescaping; both parts come from the same values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from jinja2 import Environment, StrictUndefined

from models import OPEN_STATUSES, NotificationKind, Task
from services import deadlines
from services.calendar.events import DEFAULT_ZONE, task_label

PREFIX = "[sopflow]"
DIGEST_LIST_LIMIT = 25  # lines per digest section; the rest is "and N more"

_text_env = Environment(
    autoescape=False, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
)
_html_env = Environment(
    autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
)


@dataclass(frozen=True)
class TaskLine:
    """One task as mail shows it."""

    id: int
    label: str
    due: str
    site: str
    url: str
    overdue: bool


@dataclass(frozen=True)
class MailContent:
    """A rendered message: its subject and its two bodies."""

    subject: str
    text: str
    html: str


def due_text(due_on: date, due_at: datetime, zone: str | None) -> str:
    """Return "Mon 02 Nov 2026", with the site's time when the deadline is a time of day."""
    zone = zone or DEFAULT_ZONE
    text = due_on.strftime("%a %d %b %Y")
    if due_at != deadlines.end_of_day(due_on, zone):
        text += due_at.astimezone(ZoneInfo(zone)).strftime(", %H:%M %Z")
    return text


def task_line(task: Task, base_url: str, now: datetime) -> TaskLine:
    """Return the mail line of a task (its site loaded or loadable)."""
    site = task.site
    return TaskLine(
        id=task.id,
        label=task_label(task.title, task.subject_ref, site.code if site else None),
        due=due_text(task.due_on, task.due_at, site.timezone if site else None),
        site=site.code if site else "no site",
        url=f"{base_url}/tasks/{task.id}",
        overdue=task.status in OPEN_STATUSES and task.due_at <= now,
    )


_NOTICE_TEXT = _text_env.from_string(
    """Hello {{ name }},

{{ intro }}

  {{ line.label }}
  Due:     {{ line.due }}
  Site:    {{ line.site }}
  Open it: {{ line.url }}

{{ footer }}
"""
)

_NOTICE_HTML = _html_env.from_string(
    """<!doctype html>
<html lang="en"><body style="font-family: system-ui, sans-serif; color: #1f2328;">
<p>Hello {{ name }},</p>
<p>{{ intro }}</p>
<table role="presentation" style="border-collapse: collapse;">
<tr><th align="left" style="padding: 2px 12px 2px 0;">Task</th><td>{{ line.label }}</td></tr>
<tr><th align="left" style="padding: 2px 12px 2px 0;">Due</th><td>{{ line.due }}</td></tr>
<tr><th align="left" style="padding: 2px 12px 2px 0;">Site</th><td>{{ line.site }}</td></tr>
</table>
<p><a href="{{ line.url }}">Open the task in sopflow</a></p>
<p style="color: #5b616b; font-size: 13px;">{{ footer }}</p>
</body></html>
"""
)


def notice_content(
    kind: NotificationKind,
    line: TaskLine,
    name: str,
    settings_url: str,
    level: int | None = None,
    assigned_to_you: bool = False,
) -> MailContent:
    """Return a warning, overdue reminder or escalation notice about one task."""
    if kind is NotificationKind.WARNING:
        subject = f"Due {line.due}: {line.label}"
        intro = "A deadline is coming up on a task of yours."
    elif kind is NotificationKind.OVERDUE:
        subject = f"Overdue: {line.label}"
        intro = f"This task is past its deadline ({line.due})."
    else:
        subject = f"Escalated (level {level or 1}): {line.label}"
        intro = f"This task is overdue (due {line.due}) and was escalated to level {level or 1}."
        if assigned_to_you:
            intro += " It is now assigned to you."
    footer = (
        "Escalation notices, warnings and overdue reminders are always sent. "
        f"Your e-mail settings: {settings_url}"
    )
    values = {"name": name, "intro": intro, "line": line, "footer": footer}
    return MailContent(
        f"{PREFIX} {subject}", _NOTICE_TEXT.render(values), _NOTICE_HTML.render(values)
    )


_DIGEST_TEXT = _text_env.from_string(
    """Hello {{ name }},

Your tasks for {{ day }}: {{ counts }}.
{% for section in sections %}

{{ section.title }} ({{ section.total }})
{% for line in section.lines %}
- {{ line.label }} · due {{ line.due }}
  {{ line.url }}
{% endfor %}
{% if section.more %}
- and {{ section.more }} more: {{ board_url }}
{% endif %}
{% endfor %}

You get this digest every working morning. Turn it off in your settings: {{ settings_url }}
"""
)

_DIGEST_HTML = _html_env.from_string(
    """<!doctype html>
<html lang="en"><body style="font-family: system-ui, sans-serif; color: #1f2328;">
<p>Hello {{ name }},</p>
<p>Your tasks for {{ day }}: {{ counts }}.</p>
{% for section in sections %}
<h2 style="font-size: 16px; margin: 18px 0 6px;">{{ section.title }} ({{ section.total }})</h2>
<ul style="padding-left: 18px; margin: 0;">
{% for line in section.lines %}
<li style="margin: 3px 0;"><a href="{{ line.url }}">{{ line.label }}</a> · due {{ line.due }}</li>
{% endfor %}
{% if section.more %}
<li><a href="{{ board_url }}">and {{ section.more }} more</a></li>
{% endif %}
</ul>
{% endfor %}
<p style="color: #5b616b; font-size: 13px;">You get this digest every working morning.
<a href="{{ settings_url }}">Turn it off in your settings</a>.</p>
</body></html>
"""
)

SECTION_TITLES = {"due_today": "Due today", "overdue": "Overdue", "new": "Newly assigned"}


def digest_content(
    day: date,
    sections: dict[str, list[TaskLine]],
    totals: dict[str, int],
    name: str,
    base_url: str,
) -> MailContent:
    """Return the morning digest: sections in a fixed order, each cut to a readable length."""
    shown = [
        {
            "title": SECTION_TITLES[key],
            "total": totals.get(key, len(sections[key])),
            "lines": sections[key][:DIGEST_LIST_LIMIT],
            "more": max(0, totals.get(key, len(sections[key])) - DIGEST_LIST_LIMIT),
        }
        for key in SECTION_TITLES
        if sections.get(key)
    ]
    counts = ", ".join(f"{s['total']} {s['title'].lower()}" for s in shown) or "nothing due"
    values = {
        "name": name,
        "day": day.strftime("%A %d %B %Y"),
        "counts": counts,
        "sections": shown,
        "board_url": f"{base_url}/",
        "settings_url": f"{base_url}/settings",
    }
    subject = f"{PREFIX} Your tasks for {day.strftime('%a %d %b')}: {counts}"
    return MailContent(subject, _DIGEST_TEXT.render(values), _DIGEST_HTML.render(values))
