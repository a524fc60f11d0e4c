"""In a real browser: sign in, see my open tasks on the board, sign out."""

from __future__ import annotations

import pytest

from tests.support.browser import screenshot
from tests.support.factories import PASSWORD, make_site, make_sop_version, make_task, make_user

pytestmark = pytest.mark.browser


def test_sign_in_and_see_my_tasks(page, live_url, session, backend):
    site = make_site(session, code="OK-Tulsa", timezone="America/Chicago")
    user = make_user(session, email="va.browser@example.test", name="Vera Browser")
    version = make_sop_version(session)
    make_task(
        session,
        version,
        title="Renewal reminder · P-1",
        assignee_id=user.id,
        site_id=site.id,
        subject_ref="P-1",
    )
    session.commit()

    page.goto(f"{live_url}/")
    assert "/login" in page.url
    page.get_by_label("E-mail").fill(user.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text().startswith("That e-mail and password")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="My queue").wait_for()
    row = page.get_by_role("row", name="Renewal reminder · P-1")
    assert "OK-Tulsa" in row.inner_text()
    screenshot(page, f"foundation-board-{backend}")

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    page.goto(f"{live_url}/")
    assert "/login" in page.url
