"""The board in a real browser: claim, work and complete a task, the next step for the
right person, bulk reassignment, session expiry mid-request, and a race to claim."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from models import Task, TaskEvent
from tests.support.board import plain_tasks, renewal_tasks
from tests.support.browser import screenshot
from tests.support.factories import PASSWORD
from tests.support.world import build_world

pytestmark = pytest.mark.browser

NOW = datetime.now(UTC)


def sign_in(page, base: str, email: str, path: str = "/") -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}{path}")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def new_page(browser, width: int = 1280, height: int = 800, **options):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": width, "height": height}, **options)
    context.set_default_timeout(10_000)
    return context, context.new_page()


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, name)


def notice(page, text: str = "") -> str:  # type: ignore[no-untyped-def]
    """Wait for a notice (containing `text`) in the live region and return it."""
    region = (
        page.locator("#toast .toast-note", has_text=text)
        if text
        else page.locator("#toast .toast-note")
    )
    region.wait_for()
    return region.inner_text()


def test_a_va_claims_works_and_completes_and_the_next_step_appears_for_the_right_person(
    page, browser, live_url, session, backend, tmp_path
):
    world = build_world(session)
    va, busy, free = world.vas
    # The next step goes to the least-loaded VA: keep the first two busy elsewhere.
    plain_tasks(session, 2, date.today(), assignee_id=va.id, site_id=world.fl.id)
    plain_tasks(session, 3, date.today(), assignee_id=busy.id, site_id=world.fl.id)
    (task,) = renewal_tasks(session, world, 1, NOW)
    assert task.assignee_id is None

    sign_in(page, live_url, va.email)
    page.get_by_role("link", name="Team queue").click()
    page.get_by_role("heading", name="Team queue").wait_for()
    row = page.locator(f"#task-{task.id}")
    shot(page, f"board-team-queue-{backend}")
    row.get_by_role("button", name="Claim").click()
    assert "it is in your queue now" in notice(page, "Claimed")
    row.wait_for(state="detached")
    assert "0 waiting" in page.locator("#team-count").inner_text()

    page.get_by_role("link", name="My queue").click()
    page.get_by_role("heading", name="My queue").wait_for()
    shot(page, f"board-my-queue-{backend}")
    page.get_by_role("link", name=task.title).click()
    detail = page.locator("#task-detail")
    detail.wait_for()
    assert page.url.endswith(f"/tasks/{task.id}")  # the panel's URL is shareable
    assert "Why am I doing this?" in detail.inner_text()

    boxes = detail.get_by_role("checkbox")
    for index in range(boxes.count()):
        box = detail.get_by_role("checkbox").nth(index)
        box.click()
        page.wait_for_function(
            f"document.querySelectorAll('#task-detail [role=checkbox]')[{index}]"
            ".getAttribute('aria-checked') === 'true'"
        )
    detail.get_by_text("Attach evidence").click()
    proof = tmp_path / "reminder-sent.pdf"
    proof.write_bytes(b"%PDF-1.4 synthetic reminder")
    detail.get_by_label("Upload a file").set_input_files(str(proof))
    detail.get_by_role("button", name="Upload", exact=True).click()
    page.locator("#task-detail .evidence a", has_text="reminder-sent.pdf").wait_for()
    shot(page, f"board-task-panel-{backend}")

    page.locator("#task-detail").get_by_role("button", name="Complete").click()
    message = notice(page, "Done.")
    assert f"Done. Next: Package · {task.subject_ref} → {free.name}" in message
    page.locator("#task-detail", has_text="Done:").wait_for()
    page.locator(f"#task-{task.id}").wait_for(state="detached")
    shot(page, f"board-completed-{backend}")

    # The next step is in the right person's queue.
    context, other = new_page(browser)
    try:
        sign_in(other, live_url, free.email)
        other.get_by_role("link", name=f"Package · {task.subject_ref}").wait_for()
    finally:
        context.close()
    package = session.scalar(select(Task).where(Task.step_id == "package"))
    assert package.assignee_id == free.id


def test_a_manager_reassigns_in_bulk(page, browser, live_url, session, backend):
    world = build_world(session)
    tasks = renewal_tasks(session, world, 3, NOW)
    sign_in(page, live_url, world.manager.email, "/manager?assignee=none")
    page.get_by_role("heading", name="Manager board").wait_for()
    for task in tasks[:2]:
        page.get_by_label(f"Select {task.title}").check()
    page.get_by_label("Reassign selected to").select_option(label=f"{world.vas[1].name} (va)")
    page.get_by_role("button", name="Reassign", exact=True).click()
    assert "Reassigned 2 tasks." in notice(page, "Reassigned")
    # The list (unassigned only) no longer shows them; the workload table counts them.
    page.locator(f"#task-{tasks[0].id}").wait_for(state="detached")
    assert page.locator(f"#task-{tasks[2].id}").is_visible()
    shot(page, f"board-manager-{backend}")

    context, va_page = new_page(browser)
    try:
        sign_in(va_page, live_url, world.vas[1].email)
        for task in tasks[:2]:
            va_page.get_by_role("link", name=task.title).wait_for()
        assert va_page.get_by_role("link", name=tasks[2].title).count() == 0
    finally:
        context.close()


def test_session_expiry_mid_htmx_request_lands_on_sign_in_and_back(
    page, live_url, session, backend
):
    world = build_world(session)
    (task,) = renewal_tasks(session, world, 1, NOW)
    task.assignee_id = world.vas[0].id
    session.commit()
    sign_in(page, live_url, world.vas[0].email)
    page.get_by_role("link", name=task.title).click()
    page.locator("#task-detail").wait_for()

    page.context.clear_cookies()  # the session cookie expired
    page.locator("#task-detail").get_by_role("button", name="Start").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    assert re.search(r"/login\?next=/tasks/\d+", page.url), page.url
    page.get_by_label("E-mail").fill(world.vas[0].email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.locator("#task-detail").wait_for()
    assert page.url.endswith(f"/tasks/{task.id}")
    assert session.scalars(select(TaskEvent.kind).where(TaskEvent.task_id == task.id)).all() == []

    # A filter change (an htmx GET) after expiry does the same, keeping the filter.
    page.goto(f"{live_url}/?q=Reminder")
    page.context.clear_cookies()
    page.get_by_label("Site").select_option(label="FL-Tampa")
    page.get_by_role("heading", name="Sign in").wait_for()
    assert "next=" in page.url and "q%3DReminder" in page.url


def test_two_browsers_race_to_claim_one_task_and_exactly_one_wins(
    browser, live_url, session, backend
):
    world = build_world(session)
    (task,) = renewal_tasks(session, world, 1, NOW)
    first, second = world.vas[0], world.vas[1]
    contexts = []
    pages = []
    try:
        for who in (first, second):
            context, page = new_page(browser)
            contexts.append(context)
            sign_in(page, live_url, who.email, "/team")
            page.locator(f"#task-{task.id}").wait_for()
            pages.append(page)
        buttons = [p.locator(f"#task-{task.id}").get_by_role("button", name="Claim") for p in pages]
        for button in buttons:  # both requests in flight at once
            button.dispatch_event("click")
        messages = [notice(p) for p in pages]
        for p in pages:
            p.locator(f"#task-{task.id}").wait_for(state="detached")  # the row disappears
    finally:
        for context in contexts:
            context.close()
    won = [m for m in messages if "it is in your queue now" in m]
    lost = [m for m in messages if m.startswith("Already claimed by")]
    assert len(won) == 1 and len(lost) == 1, messages
    session.expire_all()
    winner = session.get(Task, task.id).assignee_id
    assert winner in (first.id, second.id)
    assert f"Already claimed by {(first if winner == first.id else second).name}." in lost[0]
    claims = session.scalars(
        select(TaskEvent).where(TaskEvent.task_id == task.id, TaskEvent.kind == "claimed")
    ).all()
    assert len(claims) == 1


def test_reading_works_without_javascript_and_on_a_tablet(browser, live_url, session, backend):
    world = build_world(session)
    (task,) = renewal_tasks(session, world, 1, NOW)
    task.assignee_id = world.vas[0].id
    session.commit()
    context, page = new_page(browser, java_script_enabled=False)
    try:
        sign_in(page, live_url, world.vas[0].email)
        page.get_by_role("link", name=task.title).click()
        page.get_by_role("heading", name=task.title).wait_for()
        assert page.url.endswith(f"/tasks/{task.id}")
        page.get_by_role("button", name="Start").click()  # a plain form post
        page.get_by_text("Started.").wait_for()
    finally:
        context.close()
    context, page = new_page(browser, width=820, height=1180, has_touch=True)
    try:
        sign_in(page, live_url, world.vas[0].email)
        page.get_by_role("link", name=task.title).click()
        page.locator("#task-detail").wait_for()
        box = page.locator("#panel").bounding_box()
        assert box is not None and box["width"] <= 820
        shot(page, f"board-tablet-{backend}")
    finally:
        context.close()


def test_subjects_audit_and_users_pages(page, live_url, session, backend):
    world = build_world(session)
    (task,) = renewal_tasks(session, world, 1, NOW)
    from models import Patient

    patient = session.get(Patient, task.subject_id)
    patient.first_name = "Avery"
    session.commit()
    sign_in(page, live_url, world.admin.email, "/subjects/patients")
    page.get_by_role("heading", name="Patients").wait_for()
    page.get_by_label("Search").fill("avery")
    page.get_by_role("button", name="Search").click()
    page.locator("#subject-list").get_by_role("link", name=patient.ref).wait_for()
    assert "avery" not in page.url.lower()  # a name never lands in the URL or history
    shot(page, f"board-patients-{backend}")
    page.get_by_role("link", name=patient.ref).click()
    page.get_by_role("heading", name=re.compile("Avery")).wait_for()
    shot(page, f"board-patient-{backend}")

    page.get_by_role("link", name="Audit trail").click()
    page.locator("select[name=entity_type]").select_option("task")
    page.wait_for_url(re.compile(r"entity_type=task"))
    page.locator("#audit-events").get_by_text("bulk create").first.wait_for()
    shot(page, f"board-audit-{backend}")

    page.get_by_role("link", name="Users").click()
    page.get_by_label("E-mail").fill("new.va@example.test")
    page.get_by_label("Name").fill("Nia New")
    page.get_by_label(world.compliance.name, exact=True).check()
    page.get_by_label("First password").fill("a long first password")
    page.get_by_role("button", name="Create account").click()
    page.get_by_text("Created new.va@example.test").wait_for()
    shot(page, f"board-users-{backend}")
