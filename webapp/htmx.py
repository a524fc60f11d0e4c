"""The one module of HTMX helpers: the rest of the app never reads HX-* headers
or builds HX-* responses itself.

It wraps htmx-flask (which gives `request.htmx` and `make_response(...)`) and
covers what that package lacks or gets wrong: its reswap check rejects
"beforebegin" and "afterbegin" (a missing comma joins them into one string),
and it has no helpers for the redirect of a whole page from an HTMX request.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Response, request
from flask import redirect as flask_redirect
from htmx_flask import make_response as _htmx_make_response

# htmx 2's swap styles (https://htmx.org/attributes/hx-swap/).
SWAP_STYLES = frozenset(
    {
        "innerHTML",
        "outerHTML",
        "textContent",
        "beforebegin",
        "afterbegin",
        "beforeend",
        "afterend",
        "delete",
        "none",
    }
)


def is_htmx() -> bool:
    """Return True when the current request was sent by htmx (HX-Request: true)."""
    return bool(getattr(request, "htmx", False))


def is_boosted() -> bool:
    """Return True for an hx-boost navigation (wants a whole page)."""
    return is_htmx() and request.htmx.boosted


def wants_fragment() -> bool:
    """Return True when the response should be a fragment rather than a full page:
    an htmx request that is neither boosted nor a history-restore."""
    return is_htmx() and not request.htmx.boosted and not request.htmx.history_restore_request


def current_url_path() -> str | None:
    """Return the path and query of the page the browser shows (HX-Current-URL), or None."""
    if not is_htmx() or not request.htmx.current_url:
        return None
    parts = urlsplit(request.htmx.current_url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def make_response(*args: Any, reswap: str | None = None, **headers: Any) -> Response:
    """Return a response with HX-* headers (see htmx-flask's make_response).

    `reswap` is checked against htmx 2's swap styles here, not htmx-flask's broken list.
    """
    if reswap is not None and reswap.split(" ", 1)[0] not in SWAP_STYLES:
        raise ValueError(f"unknown hx-swap style {reswap!r}")
    response = _htmx_make_response(*args, **headers)
    if reswap is not None:
        response.headers["HX-Reswap"] = reswap
    return response


def full_page_redirect(target: str) -> Response:
    """Return a response that makes htmx load `target` as a whole page (HX-Redirect).

    Used when a fragment request cannot be answered in place, e.g. the session expired.
    """
    return _htmx_make_response("", 204, redirect=target)


def redirect(target: str) -> Response:
    """Return a redirect that works for both plain and htmx requests."""
    if wants_fragment():
        return full_page_redirect(target)
    return flask_redirect(target)


def trigger(response: Response, event: str, detail: Any = None) -> Response:
    """Add a client-side event to `response`'s HX-Trigger header and return it."""
    import json

    existing = response.headers.get("HX-Trigger")
    events: dict[str, Any] = json.loads(existing) if existing and existing.startswith("{") else {}
    if existing and not existing.startswith("{"):
        events.update({name.strip(): None for name in existing.split(",")})
    events[event] = detail
    response.headers["HX-Trigger"] = json.dumps(events)
    return response
