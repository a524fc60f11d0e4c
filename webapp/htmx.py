"""The one module of HTMX helpers: the rest of the app never reads HX-* headers
or builds HX-* responses itself.

It wraps htmx-flask (which gives `request.htmx` and `make_response(...)`) and
covers what that package lacks or gets wrong: its reswap check rejects
"beforebegin" and "afterbegin" (a missing comma joins them into one string),
and it has no helpers for the redirect of a whole page from an HTMX request.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Flask, Response, render_template, request
from flask import redirect as flask_redirect
from htmx_flask import make_response as _htmx_make_response
from markupsafe import Markup
from werkzeug.datastructures import MultiDict

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


def target() -> str | None:
    """Return the id of the element an htmx request will swap into (HX-Target), or None."""
    return request.htmx.target if is_htmx() else None


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
    existing = response.headers.get("HX-Trigger")
    events: dict[str, Any] = json.loads(existing) if existing and existing.startswith("{") else {}
    if existing and not existing.startswith("{"):
        events.update({name.strip(): None for name in existing.split(",")})
    events[event] = detail
    response.headers["HX-Trigger"] = json.dumps(events)
    return response


# Sent by app.js with every htmx request from a page with a list: the list's URL, which
# the address bar no longer shows once a task's panel has pushed its own.
LIST_HEADER = "X-Board-List"


def _list_url() -> str | None:
    if not is_htmx():
        return None
    listed = request.headers.get(LIST_HEADER, "")
    if listed.startswith("/") and not listed.startswith("//"):
        return listed
    return request.htmx.current_url


def list_path() -> str:
    """Return the path of the list the browser shows beside the task ("" when unknown)."""
    url = _list_url()
    return urlsplit(url).path if url else ""


def current_url_args() -> MultiDict[str, str]:
    """Return the query arguments of the list the browser shows (for an htmx request
    made from a filtered list), or the request's own arguments otherwise."""
    url = _list_url()
    if url:
        query = urlsplit(url).query
        return MultiDict([(k, v) for k, vs in parse_qs(query).items() for v in vs])
    return MultiDict(request.args)


def render(page: str, fragment: str, /, **context: Any) -> str:
    """Render `fragment` for an htmx fragment request, else the whole `page` (which
    includes the fragment: one template, two uses)."""
    return render_template(fragment if wants_fragment() else page, **context)


def oob(template: str, **context: Any) -> Markup:
    """Render `template` as an out-of-band swap (the template honours `oob`)."""
    return Markup(render_template(template, oob=True, **context))


def toast(message: str, tone: str = "ok") -> Markup:
    """Return an out-of-band notice for the page's live region."""
    return oob("_toast.html", message=message, tone=tone)


def delete_row(element_id: str) -> Markup:
    """Return an out-of-band instruction removing the table row `element_id`
    (wrapped in <template>: a bare <tr> does not survive HTML parsing)."""
    return Markup('<template><tr id="{}" hx-swap-oob="delete"></tr></template>').format(element_id)


def fragment_response(*parts: str, status: int = 200, **headers: Any) -> Response:
    """Return the concatenated fragments (main content first, then out-of-band parts)."""
    body = "".join(str(p) for p in parts)
    return make_response(body, status, **headers)


def retarget(response: Response, selector: str, swap: str = "innerHTML") -> Response:
    """Send the response's content to `selector` instead of the requesting element."""
    if swap.split(" ", 1)[0] not in SWAP_STYLES:
        raise ValueError(f"unknown hx-swap style {swap!r}")
    response.headers["HX-Retarget"] = selector
    response.headers["HX-Reswap"] = swap
    return response


def config_json() -> str:
    """Return the htmx configuration for the page's <meta name="htmx-config">.

    422 (a form with its error messages) is swapped like a success; other errors are
    not swapped (app.js shows their message); history snapshots are kept small.
    """
    config = {
        "responseHandling": [
            {"code": "204", "swap": False},
            {"code": "[23]..", "swap": True},
            {"code": "422", "swap": True},
            {"code": "[45]..", "swap": False, "error": True},
            {"code": "...", "swap": False},
        ],
        "historyCacheSize": 10,
        "scrollIntoViewOnBoost": False,
        "allowEval": False,
        "includeIndicatorStyles": False,
    }
    return json.dumps(config, separators=(",", ":"))


def init_app(app: Flask) -> None:
    """Mark every response as varying with HX-Request: a cached fragment must never be
    shown as a page (back button, history restore)."""

    @app.after_request
    def _vary(response: Response) -> Response:
        response.vary.add("HX-Request")
        return response

    app.jinja_env.globals["htmx_config"] = config_json
