"""In Chromium: a manager edits the renewal SOP's Florida reminder offset from 45 to 60
days in the CodeMirror editor, sees the live error of a typo, fixes it, previews the
re-dated tasks, saves, sees the new version and its diff, and restores the old one.
A VA cannot reach the editor. With JavaScript off the editor is a plain form."""

from __future__ import annotations

import os

import pytest

from tests.support.browser import screenshot
from tests.support.factories import PASSWORD
from tests.support.sop_editing import renewal_world
from webapp import STATIC_VENDOR

pytestmark = pytest.mark.browser


def _sign_in(page, live_url, email):
    page.goto(f"{live_url}/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_url}/")


def _editor_bundle_or_skip():
    if (STATIC_VENDOR / "editor.js").exists():
        return
    message = "the editor bundle is not built (make assets needs npm)"
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _select_in_editor(page, needle: str, start: int, length: int) -> None:
    """Put the editor's selection on `length` characters of the first `needle`."""
    page.evaluate(
        """([needle, start, length]) => {
            const view = window.sopEditor;
            const at = view.state.doc.toString().indexOf(needle) + start;
            view.dispatch({selection: {anchor: at, head: at + length}});
            view.focus();
        }""",
        [needle, start, length],
    )


def test_a_manager_edits_previews_saves_diffs_and_restores(page, live_url, session, backend):
    _editor_bundle_or_skip()
    w = renewal_world(session)
    _sign_in(page, live_url, w.world.manager.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="SOPs").click()
    page.get_by_role("heading", name="SOPs").wait_for()
    row = page.locator("#sop-patient-renewal")
    assert "v1" in row.inner_text() and "America/Chicago" in row.inner_text()
    # Disable and enable again, in place: the row is swapped by htmx.
    row.get_by_role("button", name="Disable Patient card renewal").click()
    row.get_by_text("schedules paused").wait_for()
    assert "Disabled" in row.inner_text() and "next:" not in row.inner_text()
    row.get_by_role("button", name="Enable Patient card renewal").click()
    row.get_by_text("next:").first.wait_for()
    screenshot(page, f"sop-list-{backend}")
    row.get_by_role("link", name="Patient card renewal").click()

    editor = page.locator(".sop-codemirror .cm-content")
    editor.wait_for()
    assert page.locator("textarea#sop-text").is_hidden()
    # A typo while changing Florida's 45 days to 60: the live check flags it.
    _select_in_editor(page, "FL: -45d", 5, 3)
    page.keyboard.type("60dd")
    issues = page.locator("#sop-issues")
    issues.get_by_text("steps[0].due.by_state.FL").wait_for()
    assert "expected a duration like -45d" in issues.inner_text()
    page.locator(".cm-lint-marker-error").first.wait_for()
    # Fixed: no problems, no gutter mark.
    page.keyboard.press("Backspace")
    issues.get_by_text("No problems").wait_for()
    assert page.locator(".cm-lint-marker-error").count() == 0
    # Key completion comes from the schema: inside `due:`, "by_" offers by_state.
    page.get_by_role("button", name="Preview changes").click()
    preview = page.locator("#sop-preview")
    preview.get_by_text("3 tasks re-dated").wait_for()
    assert "re-date or cancel 3 of 5 open tasks" in preview.inner_text()
    screenshot(page, f"sop-editor-preview-{backend}")

    page.get_by_label("Change note").fill("FL: remind 60 days before expiry")
    page.get_by_label("Apply to open tasks").check()
    page.get_by_role("button", name="Save version").click()
    page.get_by_text("Saved version 2 of Patient card renewal").wait_for()
    versions = page.locator("table.versions")
    assert "FL: remind 60 days before expiry" in versions.inner_text()
    diff = page.locator("table.diff")
    assert "FL: -45d" in diff.locator("tr.replace td.left").inner_text()
    assert "FL: -60d" in diff.locator("tr.replace td.right").inner_text()
    screenshot(page, f"sop-editor-history-{backend}")

    page.get_by_role("button", name="Restore v1").click()
    page.get_by_text("Restored version 1 as version 3.").wait_for()
    assert page.locator("#version-3").get_by_role("cell", name="restore", exact=True).is_visible()
    assert "FL: -45d" in page.locator("table.diff tr.replace td.right").inner_text()


def test_completion_offers_the_schema_keys(page, live_url, session):
    _editor_bundle_or_skip()
    w = renewal_world(session)
    _sign_in(page, live_url, w.world.manager.email)
    page.goto(f"{live_url}/sops/patient-renewal/")
    page.locator(".sop-codemirror .cm-content").wait_for()
    # At the end of the confirm step's `due:` block (from and offset), start a new key.
    _select_in_editor(page, "      offset: -3bd", 18, 0)
    page.keyboard.press("Enter")
    page.keyboard.type("by")
    option = page.locator(".cm-tooltip-autocomplete li", has_text="by_state")
    option.wait_for()
    assert page.locator(".cm-tooltip-autocomplete li", has_text="offset").count() == 0


def test_a_va_cannot_reach_the_editor(page, live_url, session):
    w = renewal_world(session)
    _sign_in(page, live_url, w.world.vas[0].email)
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="SOPs").count() == 0
    response = page.goto(f"{live_url}/sops/patient-renewal/")
    assert response.status == 403
    page.goto(f"{live_url}/sops/patient-renewal/steps")
    page.get_by_role("heading", name="remind").wait_for()


def test_with_javascript_off_the_editor_is_a_plain_form(browser, live_url, session):
    w = renewal_world(session)
    context = browser.new_context(java_script_enabled=False)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        _sign_in(page, live_url, w.world.manager.email)
        page.goto(f"{live_url}/sops/patient-renewal/")
        textarea = page.get_by_label("SOP definition (YAML)")
        text = textarea.input_value()
        textarea.fill(text.replace("FL: -45d", "FL: -60dd", 1))
        page.get_by_role("button", name="Check").click()
        page.locator("#sop-issues").get_by_text("steps[0].due.by_state.FL").wait_for()
        textarea = page.get_by_label("SOP definition (YAML)")
        textarea.fill(textarea.input_value().replace("FL: -60dd", "FL: -60d", 1))
        page.get_by_role("button", name="Preview changes").click()
        page.locator("#sop-preview").get_by_text("3 tasks re-dated").wait_for()
        page.get_by_label("Change note").fill("FL 60 days, no JS")
        page.get_by_role("button", name="Save version").click()
        page.get_by_text("Saved version 2 of Patient card renewal").wait_for()
    finally:
        context.close()
