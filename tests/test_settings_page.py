"""The settings page: calendar links (created, shown once, rotated, revoked), feeds per
role, the digest opt-out; and a browser run of create → copy → rotate."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from sqlalchemy import select

from models import AuditEvent, CalendarScope, CalendarToken, Role, User
from services.calendar import clear_caches, issue_token
from tests.support.browser import screenshot
from tests.support.factories import PASSWORD, make_site, make_team, make_user
from tests.support.web import csrf_token, login

LINK = re.compile(r'value="(https?://[^"]+/calendar/([A-Za-z0-9_-]+)\.ics)"')


@pytest.fixture(autouse=True)
def _fresh_caches():
    clear_caches()
    yield
    clear_caches()


def post(client, path: str, **data):  # type: ignore[no-untyped-def]
    data["csrf_token"] = csrf_token(client, "/settings")
    return client.post(path, data=data)


def secret_in(page: str) -> str:
    match = LINK.search(page)
    assert match, "no calendar link on the page"
    return match.group(2)


def test_settings_needs_sign_in_and_is_in_the_navigation(client, session):
    assert client.get("/settings").status_code == 302
    make_user(session, email="va@example.test")
    session.commit()
    login(client, "va@example.test")
    board = client.get("/").get_data(as_text=True)
    assert 'href="/settings"' in board and ">Settings<" in board


def test_link_is_shown_once_then_rotated_and_revoked(client, session):
    team = make_team(session, name="Patient services")
    make_user(session, email="va@example.test", teams=[team])
    make_site(session, code="FL-Tampa")
    session.commit()
    login(client, "va@example.test")
    page = client.get("/settings").get_data(as_text=True)
    assert "My deadlines" in page and "Patient services queue" in page
    assert "FL-Tampa" not in page  # site feeds are for managers
    assert not LINK.search(page)

    created = post(client, "/settings/calendar", feed="user")
    assert created.status_code == 200
    body = created.get_data(as_text=True)
    secret = secret_in(body)
    assert f"webcal://127.0.0.1:5000/calendar/{secret}.ics" in body
    assert "shown only once" in body and 'data-copy="link-user"' in body
    assert created.headers["Cache-Control"] == "no-store"
    assert client.get(f"/calendar/{secret}.ics").status_code == 200

    later = client.get("/settings").get_data(as_text=True)
    assert secret not in later and "Link created" in later and not LINK.search(later)
    token = session.scalar(select(CalendarToken).where(CalendarToken.revoked_at.is_(None)))
    assert token is not None and secret not in token.token_hash

    rotated = post(client, f"/settings/calendar/{token.id}/rotate")
    new_secret = secret_in(rotated.get_data(as_text=True))
    assert new_secret != secret
    assert client.get(f"/calendar/{secret}.ics").status_code == 404
    assert client.get(f"/calendar/{new_secret}.ics").status_code == 200

    new_token = session.scalar(select(CalendarToken).where(CalendarToken.revoked_at.is_(None)))
    revoked = post(client, f"/settings/calendar/{new_token.id}/revoke")
    assert revoked.status_code == 302
    after = client.get("/settings").get_data(as_text=True)
    assert "No link yet" in after and "The calendar link was revoked." in after
    assert client.get(f"/calendar/{new_secret}.ics").status_code == 404


def test_only_permitted_feeds_and_only_own_links(client, session):
    other_team = make_team(session, name="Compliance")
    site = make_site(session, code="FL-Tampa")
    owner = make_user(session, email="owner@example.test")
    make_user(session, email="va@example.test")
    session.commit()
    theirs = issue_token(session, owner, CalendarScope.USER)
    session.commit()
    login(client, "va@example.test")
    assert post(client, "/settings/calendar", feed=f"site:{site.id}").status_code == 400
    assert post(client, "/settings/calendar", feed=f"team:{other_team.id}").status_code == 400
    assert post(client, "/settings/calendar", feed="nonsense").status_code == 400
    assert post(client, f"/settings/calendar/{theirs.token.id}/rotate").status_code == 404
    assert post(client, f"/settings/calendar/{theirs.token.id}/revoke").status_code == 404
    assert session.get(CalendarToken, theirs.token.id).revoked_at is None
    # Without the CSRF token nothing is created.
    assert client.post("/settings/calendar", data={"feed": "user"}).status_code == 400


def test_managers_get_every_team_and_site(client, session):
    make_team(session, name="Compliance")
    make_site(session, code="OK-Tulsa")
    make_user(session, role=Role.MANAGER, email="boss@example.test")
    session.commit()
    login(client, "boss@example.test")
    page = client.get("/settings").get_data(as_text=True)
    assert "Compliance queue" in page and "OK-Tulsa: inspections, documents, disposal" in page
    site_feed = re.search(r'name="feed" value="(site:\d+)"', page).group(1)
    created = post(client, "/settings/calendar", feed=site_feed)
    secret = secret_in(created.get_data(as_text=True))
    feed = client.get(f"/calendar/{secret}.ics").get_data(as_text=True)
    assert "X-WR-CALNAME:sopflow · OK-Tulsa compliance" in feed


def test_htmx_actions_answer_with_the_fragment(client, session):
    make_user(session, email="va@example.test")
    session.commit()
    login(client, "va@example.test")
    token = csrf_token(client, "/settings")
    response = client.post(
        "/settings/calendar",
        data={"feed": "user", "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert 'id="calendar-feeds"' in body
    secret_in(body)


def test_digest_opt_out_is_saved_and_audited(client, session):
    user = make_user(session, email="va@example.test")
    session.commit()
    login(client, "va@example.test")
    assert "checked" in client.get("/settings").get_data(as_text=True)
    post(client, "/settings/digest")  # checkbox left unticked
    session.refresh(user)
    assert user.digest_opt_out is True
    assert "Warnings before a deadline" in client.get("/settings").get_data(as_text=True)
    post(client, "/settings/digest", digest="on")
    session.refresh(user)
    assert user.digest_opt_out is False
    changes = session.scalars(
        select(AuditEvent).where(
            AuditEvent.entity_type == "user_account", AuditEvent.action == "update"
        )
    ).all()
    assert [c.after.get("digest_opt_out") for c in changes if c.after] == [True, False]


@pytest.mark.browser
@pytest.mark.one_backend  # one backend is enough for the browser run
def test_browser_create_copy_and_rotate(page, live_url, session, app, monkeypatch):
    monkeypatch.setitem(
        app.config,
        "SOPFLOW_SETTINGS",
        replace(app.config["SOPFLOW_SETTINGS"], base_url=live_url),
    )
    make_user(session, email="va@example.test", name="Val Assistant")
    session.commit()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_url)
    page.goto(f"{live_url}/login")
    page.fill("#email", "va@example.test")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.click("nav >> text=Settings")
    page.wait_for_url(f"{live_url}/settings")

    feed = page.locator("#feed-user")
    feed.get_by_role("button", name="Create link").click()
    url_box = page.locator("#link-user")
    url_box.wait_for()
    first = url_box.input_value()
    assert first.startswith(f"{live_url}/calendar/") and first.endswith(".ics")
    feed.get_by_role("button", name="Copy link").click()
    page.get_by_role("button", name="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == first
    screenshot(page, "settings-calendar-link")
    assert page.request.get(first).status == 200

    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("#feed-user").get_by_role("button", name="Rotate link").click()
    page.wait_for_function(
        "old => { const box = document.querySelector('#link-user');"
        " return box && box.value !== old; }",
        arg=first,
    )
    second = page.locator("#link-user").input_value()
    assert second != first
    assert page.request.get(first).status == 404
    assert page.request.get(second).status == 200
    page.reload()
    assert page.locator("#link-user").count() == 0  # shown once
    assert "Link created" in page.locator("#feed-user").inner_text()
    assert session.scalar(select(User).where(User.email == "va@example.test")) is not None
