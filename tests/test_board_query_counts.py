"""No N+1: each view runs the same number of SQL statements with 3 tasks as with 40."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import event, select

from models import Document, DocumentCategory, Task
from services.tasks import evidence, workflow
from services.tasks.actions import ensure_checklist, tick
from tests.support.board import QUEUE_RENEWAL, hx, page_token, renewal_tasks, scope
from tests.support.web import login
from tests.support.world import build_world

NOW = datetime.now(UTC)


@contextmanager
def counting(engine) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _make(session, world, n: int, tmp_path) -> Task:  # type: ignore[no-untyped-def]
    """`n` tasks, the first VA holding all of them, the first one worked on a lot."""
    tasks = renewal_tasks(session, world, n, NOW, first_patient=1)
    va = world.vas[0]
    me = scope(session, va)
    for task in tasks:
        workflow.claim(session, me, task.id, NOW)
    first = tasks[0]
    for item in ensure_checklist(session, first):
        tick(session, item, va, True, NOW)
    for i in range(n // 3 + 1):
        workflow.comment(session, me, first, f"note {i}", NOW)
        evidence.attach_link(session, me, first, f"https://example.test/{i}")
        doc = Document(
            site_id=world.fl.id, category=DocumentCategory.PATIENT_RECORDS, title=f"D{i}"
        )
        session.add(doc)
        session.flush()
        evidence.attach_document(session, me, first, doc.id)
    evidence.attach_file(session, me, first, tmp_path, io.BytesIO(b"x"), "a.pdf")
    session.commit()
    return first


def _counts(app, engine, session, world, n, tmp_path) -> dict[str, int]:  # type: ignore[no-untyped-def]
    first = _make(session, world, n, tmp_path)
    client = app.test_client()
    login(client, world.vas[0].email)
    manager = app.test_client()
    login(manager, world.manager.email)
    patient_id = first.subject_id
    client.get(f"/tasks/{first.id}")  # creates checklist rows on first view
    views = {
        "my queue": (client, "/"),
        "my queue fragment": (client, "/?q=reminder"),
        "team queue": (client, "/team"),
        "task detail": (client, f"/tasks/{first.id}"),
        "manager board": (manager, "/manager"),
        "manager task detail": (manager, f"/tasks/{first.id}"),
        "patients": (client, "/subjects/patients"),
        "patient": (client, f"/subjects/patients/{patient_id}"),
        "documents": (client, "/subjects/documents"),
        "practices": (client, "/subjects/practices"),
        "audit": (manager, "/audit/"),
    }
    counts = {}
    for name, (who, path) in views.items():
        with counting(engine) as statements:
            response = who.get(path)
        assert response.status_code == 200, (name, response.status_code)
        counts[name] = len(statements)
    return counts


def test_views_run_a_constant_number_of_queries(app, engine, session, tmp_path):
    from tests.support.databases import clear_database

    small = _counts(app, engine, session, build_world(session), 3, tmp_path)
    session.close()
    clear_database(engine)
    large = _counts(app, engine, session, build_world(session), 40, tmp_path)
    assert large == small
    # And few of them: a page is a handful of statements, not one per row.
    assert max(small.values()) <= 30, small
    assert session.scalar(select(Task.id).limit(1)) is not None


# The bench's case: the next step goes round-robin to the team's VAs.
ROUND_ROBIN_NEXT = QUEUE_RENEWAL.replace(
    "assign: {strategy: least_loaded, team: patient-services, role: va}",
    "assign: {strategy: round_robin, team: patient-services, role: va}",
)


def _completion_statements(app, engine, session, world, n) -> list[str]:  # type: ignore[no-untyped-def]
    """Complete the second of `n` tasks in the panel (the first one set the round-robin
    turn going) and return the statements that completion ran."""
    tasks = renewal_tasks(session, world, n, NOW, ROUND_ROBIN_NEXT)
    va = world.vas[0]
    me = scope(session, va)
    for task in tasks[:2]:
        workflow.claim(session, me, task.id, NOW)
        for item in ensure_checklist(session, task):
            tick(session, item, va, True, NOW)
    session.commit()
    client = app.test_client()
    login(client, va.email)
    token = page_token(client)
    first, second = tasks[0].id, tasks[1].id
    assert (
        client.post(f"/tasks/{first}/complete", headers=hx(token, "task-detail")).status_code == 200
    )
    with counting(engine) as statements:
        response = client.post(f"/tasks/{second}/complete", headers=hx(token, "task-detail"))
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Done. Next: Package" in body, body[:300]
    return statements


def test_a_completion_runs_a_constant_number_of_queries(app, engine, session):
    from tests.support.databases import clear_database

    small = _completion_statements(app, engine, session, build_world(session), 3)
    session.close()
    clear_database(engine)
    large = _completion_statements(app, engine, session, build_world(session), 40)
    assert len(large) == len(small), (small, large)
    # Sign-in and scope, the locked task with its SOP and checklist, the UPDATE with its
    # audit and task events, the subject, the existing keys, the team and its people,
    # the round-robin turn (read and saved), the new task and its audit event, the
    # assignee's name, the sites' zones and my counts. No staging table for one row.
    assert len(small) <= 16, "\n".join(small)
    assert not any("task_staging" in s or s.startswith("TRUNCATE") for s in small)
