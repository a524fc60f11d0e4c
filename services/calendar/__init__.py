"""Private calendar feeds: tokens that grant one feed, and the iCalendar the feed serves.

`tokens` issues, rotates, revokes and resolves tokens; `events` renders one task as
a VEVENT (or VTODO) and caches it; `feeds` chooses a grant's tasks, computes the
feed's HTTP validators and assembles the body; `ics` writes content lines.
"""

from services.calendar.events import EventRenderer, TaskFacts, renderer_for, summary
from services.calendar.feeds import (
    Feed,
    FeedState,
    build_feed,
    feed_rows,
    feed_state,
    window_for,
)
from services.calendar.tokens import (
    CalendarTokenError,
    FeedChoice,
    FeedGrant,
    IssuedToken,
    active_tokens,
    available_feeds,
    hash_token,
    issue_token,
    parse_choice,
    record_use,
    resolve_token,
    revoke_token,
    rotate_token,
)


def clear_caches() -> None:
    """Forget every cached component and remembered feed state (tests, benchmarks)."""
    from services.calendar import feeds

    renderer_for.cache_clear()
    with feeds._seen_lock:
        feeds._seen.clear()


__all__ = [
    "CalendarTokenError",
    "EventRenderer",
    "Feed",
    "FeedChoice",
    "FeedGrant",
    "FeedState",
    "IssuedToken",
    "TaskFacts",
    "active_tokens",
    "available_feeds",
    "build_feed",
    "clear_caches",
    "feed_rows",
    "feed_state",
    "hash_token",
    "issue_token",
    "parse_choice",
    "record_use",
    "renderer_for",
    "resolve_token",
    "revoke_token",
    "rotate_token",
    "summary",
    "window_for",
]
