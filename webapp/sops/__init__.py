"""SOPs in the browser: the list, the editor (live validation, preview, save), history
with diffs and restore, enable/disable, run now, and the read-only steps view."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from services.sops.launch import flow_run_url
from services.sops.lint import MAX_SOP_CHARS
from webapp import htmx
from webapp.policy import is_manager

bp = Blueprint("sops", __name__, url_prefix="/sops")

# A request to these pages carries one SOP text and a few fields: four times the
# largest SOP leaves room for form encoding; anything bigger is a stray paste.
MAX_REQUEST_BYTES = 4 * MAX_SOP_CHARS
TOO_LARGE = (
    f"That is too much text: an SOP may have at most {MAX_SOP_CHARS // 1024} KB. "
    "Nothing was checked or saved."
)


@bp.record_once
def _configure(state: object) -> None:
    from webapp import STATIC_VENDOR

    app: Flask = state.app  # type: ignore[attr-defined]
    # Built by `make assets` (CodeMirror via esbuild); without it the editor is a textarea.
    app.config.setdefault("SOP_EDITOR_JS", (STATIC_VENDOR / "editor.js").exists())


@bp.context_processor
def _template_helpers() -> dict[str, object]:
    return {"flow_run_url": flow_run_url, "is_manager": is_manager()}


@bp.url_value_preprocessor
def _limit_request_size(endpoint: str | None, values: dict[str, object] | None) -> None:
    """Cap the body of every request to these pages. A URL value preprocessor because
    it runs before any before_request hook, and CSRF protection (one of those) reads
    the form: the limit must be in place before anything parses the body."""
    request.max_content_length = MAX_REQUEST_BYTES
    request.max_form_memory_size = MAX_REQUEST_BYTES


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge) -> ResponseReturnValue:
    if htmx.wants_fragment():
        # Whichever panel asked (check or preview), the refusal belongs with the problems.
        body = render_template("sops/_issues.html", checked=True, issues=[], refused=TOO_LARGE)
        return htmx.make_response(body, 413, retarget="#sop-issues", reswap="outerHTML")
    return render_template("errors/error.html", code=413, title="Too large", message=TOO_LARGE), 413


from webapp.sops import editor, history, operations  # noqa: E402,F401  (register the routes)
