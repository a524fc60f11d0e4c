"""The board over HTTP: fragments and pages, claims, actions, bad input, permissions."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from models import AuditEvent, Task, TaskEvent, TaskStatus
from services.tasks.actions import ensure_checklist
from tests.support.board import hx, page_token, renewal_tasks
from tests.support.web import login
from tests.support.world import build_world
from webapp.formatting import due

NOW = datetime.now(UTC)


@pytest.fixture
def world(session):
    return build_world(session)


def claimed_task(session, world, va=None):
    """One queue task claimed by `va` (default: the first VA)."""
    (task,) = renewal_tasks(session, world, 1, NOW)
    task.assignee_id = (va or world.vas[0]).id
    session.commit()
    return task


def test_my_queue_is_a_page_or_a_fragment(client, session, world):
    claimed_task(session, world)
    login(client, world.vas[0].email)
    page = client.get("/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in html and 'id="queue-counts"' in html
    assert "HX-Request" in page.headers.get("Vary", "")
    fragment = client.get("/?q=reminder", headers=hx(target="queue"))
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith("{#") or body.lstrip().startswith('<section id="queue"')
    assert "Reminder" in body


def test_unknown_status_and_bad_dates_rerender_the_form_with_messages(client, session, world):
    claimed_task(session, world)
    login(client, world.vas[0].email)
    response = client.get("/?status=bogus&due_from=2026-13-40&site=abc")
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Unknown status" in body and "Give a date as YYYY-MM-DD" in body
    assert "Choose a value from the list" in body
    assert "Reminder" in body  # the list is still shown, without the bad filters
    assert "Traceback" not in body


def test_another_users_task_is_a_404_and_nothing_leaks(client, session, world):
    task = claimed_task(session, world, world.vas[1])
    login(client, world.vas[0].email)
    token = page_token(client)
    assert client.get(f"/tasks/{task.id}").status_code == 404
    for action in ("start", "complete", "snooze", "hand-back", "block", "notes", "evidence"):
        response = client.post(f"/tasks/{task.id}/{action}", data={"csrf_token": token})
        assert response.status_code == 404, action
        assert task.title not in response.get_data(as_text=True)
    assert client.post(f"/tasks/{task.id}/reassign", data={"csrf_token": token}).status_code == 403


def test_claim_race_over_http(app, session, world):
    (task,) = renewal_tasks(session, world, 1, NOW)
    first, second = app.test_client(), app.test_client()
    login(first, world.vas[0].email)
    login(second, world.vas[1].email)
    tokens = [page_token(first, "/team"), page_token(second, "/team")]
    won = first.post(f"/tasks/{task.id}/claim", headers=hx(tokens[0], f"task-{task.id}", "/team"))
    lost = second.post(f"/tasks/{task.id}/claim", headers=hx(tokens[1], f"task-{task.id}", "/team"))
    won_body, lost_body = won.get_data(as_text=True), lost.get_data(as_text=True)
    assert "it is in your queue now" in won_body
    assert f"Already claimed by {world.vas[0].name}." in lost_body
    for body in (won_body, lost_body):
        assert f'<tr id="task-{task.id}" hx-swap-oob="delete">' in body  # the row disappears
        assert 'id="team-count" hx-swap-oob="true">0 waiting' in body
    session.expire_all()
    assert session.get(Task, task.id).assignee_id == world.vas[0].id


def test_claim_without_javascript_redirects_back_to_the_queue(client, session, world):
    (task,) = renewal_tasks(session, world, 1, NOW)
    login(client, world.vas[0].email)
    token = page_token(client, "/team")
    response = client.post(f"/tasks/{task.id}/claim", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/team"
    assert "it is in your queue now" in client.get("/team").get_data(as_text=True)


def test_work_a_task_in_the_panel_to_done_with_out_of_band_counts(client, session, world):
    task = claimed_task(session, world)
    items = ensure_checklist(session, task)
    session.commit()
    login(client, world.vas[0].email)
    token = page_token(client)
    panel = client.get(f"/tasks/{task.id}", headers=hx(target="panel"))
    assert 'id="task-detail"' in panel.get_data(as_text=True)
    assert "Why am I doing this?" in panel.get_data(as_text=True)

    refused = client.post(f"/tasks/{task.id}/complete", headers=hx(token, "task-detail"))
    assert refused.status_code == 422
    assert "Tick the required checklist items first" in refused.get_data(as_text=True)

    for item in items:
        ticked = client.post(
            f"/tasks/{task.id}/checklist/{item.id}",
            data={"done": "1"},
            headers=hx(token, "task-detail"),
        )
        assert ticked.status_code == 200
    done = client.post(f"/tasks/{task.id}/complete", headers=hx(token, "task-detail"))
    body = done.get_data(as_text=True)
    assert done.status_code == 200
    assert 'id="task-detail"' in body and "Done. Next: Package" in body
    assert f'<tr id="task-{task.id}" hx-swap-oob="delete">' in body
    assert 'id="queue-counts" class="counts" aria-label="My queue by urgency" hx-swap-oob' in body
    session.expire_all()
    assert session.get(Task, task.id).status is TaskStatus.DONE
    package = session.scalar(select(Task).where(Task.step_id == "package"))
    assert package.assignee_id == world.vas[0].id
    assert f"{package.title} → {world.vas[0].name}" in body
    # The done card lists the next step from the row as written: its link, its assignee
    # and its deadline in its site's zone, as the task's own page would say them.
    assert f'href="/tasks/{package.id}"' in body
    assert f"→ {world.vas[0].name} · {due(package, datetime.now(UTC)).relative}</span>" in body


def test_bad_action_input_rerenders_the_task_with_the_message(client, session, world):
    task = claimed_task(session, world)
    login(client, world.vas[0].email)
    token = page_token(client)
    bad_date = client.post(
        f"/tasks/{task.id}/snooze",
        data={"until": "next tuesday", "reason": "x"},
        headers=hx(token, "task-detail"),
    )
    assert bad_date.status_code == 422
    assert "Give a date as YYYY-MM-DD" in bad_date.get_data(as_text=True)
    no_reason = client.post(
        f"/tasks/{task.id}/block", data={"reason": ""}, headers=hx(token, "task-detail")
    )
    assert no_reason.status_code == 422
    assert "Give a reason for blocking" in no_reason.get_data(as_text=True)
    plain = client.post(
        f"/tasks/{task.id}/snooze", data={"until": "2020-01-01", "reason": "x", "csrf_token": token}
    )
    assert plain.status_code == 422 and "<html" in plain.get_data(as_text=True)


def test_html_in_text_fields_is_shown_inert(client, session, world):
    task = claimed_task(session, world)
    login(client, world.vas[0].email)
    token = page_token(client)
    script = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    client.post(f"/tasks/{task.id}/notes", data={"text": script, "csrf_token": token})
    client.post(f"/tasks/{task.id}/block", data={"reason": script, "csrf_token": token})
    body = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "<script>alert" not in body and "<img src=x" not in body
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in body


def test_forged_or_missing_csrf_on_htmx_is_a_400_with_a_message(client, session, world):
    task = claimed_task(session, world)
    login(client, world.vas[0].email)
    forged = client.post(f"/tasks/{task.id}/start", headers=hx("forged-token", "task-detail"))
    assert forged.status_code == 400
    assert "Reload the page and try again" in forged.get_data(as_text=True)
    missing = client.post(f"/tasks/{task.id}/start", headers=hx(None, "task-detail"))
    assert missing.status_code == 400
    session.expire_all()
    assert session.get(Task, task.id).status is TaskStatus.OPEN


def test_expired_session_mid_htmx_lands_on_sign_in_keeping_the_page(client, session, world):
    task = claimed_task(session, world)
    login(client, world.vas[0].email)
    token = page_token(client)
    client.delete_cookie("session")  # what the browser does when the session cookie expires
    for method in (client.get, client.post):
        response = method(
            f"/tasks/{task.id}/start" if method == client.post else "/?q=x",
            headers=hx(token, "task-detail", "/?site=1"),
        )
        assert response.status_code == 204
        assert response.headers["HX-Redirect"] == "/login?next=/?site%3D1"


def test_oversized_upload_rerenders_the_evidence_form(client, session, world, app):
    task = claimed_task(session, world)
    login(client, world.vas[0].email)
    token = page_token(client)
    big = io.BytesIO(b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1024))
    response = client.post(
        f"/tasks/{task.id}/evidence",
        data={"kind": "file", "file": (big, "scan.pdf"), "csrf_token": token},
        headers=hx(token, "task-detail"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "The file is larger than 10 MB" in response.get_data(as_text=True)
    medium = io.BytesIO(b"x" * (9 * 1024 * 1024))
    response = client.post(
        f"/tasks/{task.id}/evidence",
        data={"kind": "file", "file": (medium, "scan.pdf"), "csrf_token": token},
        headers=hx(token, "task-detail"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 422 and "larger than 8 MB" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(Task, task.id).evidence == []


def test_uploaded_evidence_downloads_as_an_attachment_for_those_who_see_the_task(
    app, client, session, world
):
    task = claimed_task(session, world)
    login(client, world.vas[0].email)
    token = page_token(client)
    client.post(
        f"/tasks/{task.id}/evidence",
        data={
            "kind": "file",
            "file": (io.BytesIO(b"<html>hi</html>"), "a.html"),
            "csrf_token": token,
        },
        content_type="multipart/form-data",
    )
    session.expire_all()
    (proof,) = session.get(Task, task.id).evidence
    download = client.get(f"/evidence/{proof.id}/file")
    assert download.status_code == 200 and download.data == b"<html>hi</html>"
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    other = app.test_client()
    login(other, world.vas[1].email)
    assert other.get(f"/evidence/{proof.id}/file").status_code == 404


def test_manager_bulk_reassigns_with_out_of_band_workload(client, session, world):
    tasks = renewal_tasks(session, world, 3, NOW)
    login(client, world.manager.email)
    token = page_token(client, "/manager")
    response = client.post(
        "/manager/reassign",
        data={"task": [str(tasks[0].id), str(tasks[1].id)], "assignee": str(world.vas[2].id)},
        headers=hx(token, "manager-tasks", "/manager?assignee=none"),
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Reassigned 2 tasks." in body
    assert 'id="workload"' in body and 'hx-swap-oob="true"' in body
    session.expire_all()
    assert [session.get(Task, t.id).assignee_id for t in tasks] == [
        world.vas[2].id,
        world.vas[2].id,
        None,
    ]
    refused = client.post(
        "/manager/reassign", data={"task": [str(tasks[2].id)]}, headers=hx(token, "manager-tasks")
    )
    assert refused.status_code == 422 and "Choose a person" in refused.get_data(as_text=True)


def test_manager_board_lists_runs_escalations_and_links_prefect(
    client, session, world, monkeypatch
):
    tasks = renewal_tasks(session, world, 2, NOW)
    tasks[0].escalation_level = 2
    from models import SopRun

    run = session.scalars(select(SopRun)).first()
    run.flow_run_id = "0b6b1f0e-5b1a-4a38-9d3e-1d9f5a0c1234"
    run.failures = [{"subject": "patient:9", "error": "ValueError: no card date"}]
    run.failed_count = 1
    session.commit()
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    login(client, world.manager.email)
    board = client.get("/manager").get_data(as_text=True)
    assert "level 2" in board and "1 failed" in board
    detail = client.get(f"/manager/runs/{run.id}").get_data(as_text=True)
    assert "http://127.0.0.1:4200/runs/flow-run/0b6b1f0e-5b1a-4a38-9d3e-1d9f5a0c1234" in detail
    assert "ValueError: no card date" in detail


def test_audit_view_filters_and_export_is_recorded(client, session, world):
    task = claimed_task(session, world)
    login(client, world.manager.email)
    token = page_token(client, "/manager")
    client.post(
        f"/tasks/{task.id}/reassign",
        data={"assignee": str(world.vas[1].id), "csrf_token": token},
    )
    view = client.get(f"/audit/?entity_type=task&entity_id={task.id}&actor={world.manager.id}")
    body = view.get_data(as_text=True)
    assert view.status_code == 200 and world.manager.email in body and "assignee_id" in body
    assert client.get("/audit/?entity_type=nonsense").status_code == 422
    export = client.get(f"/audit/export.csv?entity_type=task&entity_id={task.id}")
    csv_text = export.get_data(as_text=True)
    assert export.headers["Content-Type"].startswith("text/csv")
    assert csv_text.splitlines()[0].startswith("id,at,actor_id,actor_label,action")
    assert "assignee_id" in csv_text
    recorded = session.scalar(select(AuditEvent).where(AuditEvent.action == "export"))
    assert recorded.actor_id == world.manager.id
    assert recorded.after["filters"]["entity_id"] == str(task.id)


def test_va_cannot_reach_manager_audit_or_admin_pages(client, session, world):
    login(client, world.vas[0].email)
    for path in ("/manager", "/audit/", "/audit/export.csv", "/admin/users"):
        assert client.get(path).status_code == 403, path
    nav = client.get("/").get_data(as_text=True)
    assert "Manager board" not in nav and "Audit trail" not in nav


def test_events_and_audit_show_on_the_task_history(app, client, session, world):
    task = claimed_task(session, world)
    login(client, world.vas[0].email)
    token = page_token(client)
    client.post(f"/tasks/{task.id}/start", data={"csrf_token": token})
    body = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "started" in body and "Audit trail" in body
    audit = client.get(f"/tasks/{task.id}/audit", headers=hx(target="audit-body"))
    assert "<html" not in audit.get_data(as_text=True)
    assert "status</code>: open → in_progress" in audit.get_data(as_text=True)
    assert "in_progress" in client.get(f"/tasks/{task.id}/audit").get_data(as_text=True)
    other = app.test_client()
    login(other, world.vas[1].email)
    assert other.get(f"/tasks/{task.id}/audit").status_code == 404
    kinds = session.scalars(select(TaskEvent.kind).where(TaskEvent.task_id == task.id)).all()
    assert kinds == ["started"]


def test_snooze_moves_the_task_out_of_the_queue(client, session, world):
    task = claimed_task(session, world)
    login(client, world.vas[0].email)
    token = page_token(client)
    until = (NOW + timedelta(days=3)).date().isoformat()
    response = client.post(
        f"/tasks/{task.id}/snooze",
        data={"until": until, "reason": "Patient asked for Friday"},
        headers=hx(token, "task-detail", "/"),
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and f'<tr id="task-{task.id}" hx-swap-oob="delete">' in body
    assert "<strong>1</strong> snoozed" in body
    assert task.title not in client.get("/").get_data(as_text=True).split('id="panel"')[0]
    assert task.title in client.get("/?status=snoozed").get_data(as_text=True)


def test_a_plain_form_posted_after_expiry_returns_to_its_page_after_sign_in(client, session, world):
    task = claimed_task(session, world)
    login(client, world.vas[0].email)
    token = page_token(client, f"/tasks/{task.id}")
    client.delete_cookie("session")
    response = client.post(
        f"/tasks/{task.id}/start",
        data={"csrf_token": token},
        headers={"Referer": f"http://localhost/tasks/{task.id}"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next=/tasks/{task.id}"
    session.expire_all()
    assert session.get(Task, task.id).status is TaskStatus.OPEN
