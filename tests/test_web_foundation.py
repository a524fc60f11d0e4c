"""The app skeleton: sign-in, the placeholder board, health, CSRF, session expiry."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from models import AuditEvent, TaskStatus
from tests.support.factories import make_site, make_sop_version, make_task, make_user
from tests.support.web import csrf_token, login


def test_board_needs_sign_in_and_keeps_the_url(client):
    response = client.get("/?status=open")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert (
        "status%3Dopen" in response.headers["Location"]
        or "status=open" in response.headers["Location"]
    )


def test_htmx_request_after_expiry_redirects_the_whole_page(client):
    response = client.get("/", headers={"HX-Request": "true", "HX-Current-URL": "http://x/?a=1"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/login?next=/?a%3D1"


def test_wrong_password_is_refused_without_saying_which_part(client, session):
    user = make_user(session, email="va@example.test")
    session.commit()
    response = login(client, user.email, "wrong password")
    assert response.status_code == 401
    assert "do not match an active account" in response.get_data(as_text=True)
    unknown = login(client, "nobody@example.test", "wrong password")
    assert unknown.status_code == 401


def test_sign_in_shows_my_open_tasks_only(client, session):
    site = make_site(session, code="FL-Tampa")
    me = make_user(session, email="me@example.test")
    other = make_user(session, email="other@example.test")
    version = make_sop_version(session)
    make_task(
        session,
        version,
        title="Mine, later",
        assignee_id=me.id,
        site_id=site.id,
        due_on=date(2026, 12, 20),
    )
    make_task(
        session,
        version,
        title="Mine, sooner",
        assignee_id=me.id,
        site_id=site.id,
        due_on=date(2026, 12, 2),
    )
    make_task(session, version, title="Mine, done", assignee_id=me.id, status=TaskStatus.DONE)
    make_task(session, version, title="Someone else's", assignee_id=other.id)
    session.commit()

    response = login(client, "ME@example.test")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    page = client.get("/").get_data(as_text=True)
    assert page.index("Mine, sooner") < page.index("Mine, later")
    assert "Mine, done" not in page and "Someone else" not in page
    assert "FL-Tampa" in page
    logins = session.scalars(select(AuditEvent).where(AuditEvent.action == "login")).all()
    assert [e.actor_label for e in logins] == ["anonymous"] or len(logins) == 1


def test_login_refuses_open_redirects(client, session):
    make_user(session, email="va@example.test")
    session.commit()
    token = csrf_token(client, "/login?next=//evil.example/x")
    response = client.post(
        "/login?next=//evil.example/x",
        data={"email": "va@example.test", "password": "correct horse battery", "csrf_token": token},
    )
    assert response.headers["Location"] == "/"


def test_inactive_user_cannot_sign_in_and_is_signed_out(client, session):
    user = make_user(session, email="va@example.test")
    session.commit()
    assert login(client, user.email).status_code == 302
    assert client.get("/").status_code == 200
    user.active = False
    session.commit()
    assert client.get("/").status_code == 302  # the running session ends too
    assert login(client, user.email).status_code == 401


def test_post_without_csrf_token_is_refused_with_a_message(client, session):
    make_user(session, email="va@example.test")
    session.commit()
    response = client.post("/login", data={"email": "va@example.test", "password": "x"})
    assert response.status_code == 400
    assert "Reload the page and try again" in response.get_data(as_text=True)


def test_session_expires_after_inactivity(app, client, session, monkeypatch):
    import itsdangerous.timed

    make_user(session, email="va@example.test")
    session.commit()
    login(client, "va@example.test")
    assert client.get("/").status_code == 200
    real_time = itsdangerous.timed.time.time
    minutes = app.config["SESSION_MINUTES"]
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real_time() + minutes * 60 + 5)
    assert client.get("/").status_code == 302


def test_health_checks_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "Back to the board" in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
