"""The SOP pages over HTTP: permissions, the editor as a plain form (JS off), htmx
fragments, the save conflict, size limits, history and restore, run now, enable."""

from __future__ import annotations

import re

from sqlalchemy import select

from models import AuditEvent, Sop, SopVersion
from services.sops.lint import MAX_SOP_CHARS
from tests.support.sop_editing import RENEWAL_TEXT, renewal_with_fl, renewal_world
from tests.support.web import login

EDIT = "/sops/patient-renewal/"
HX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/sops/patient-renewal/"}
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _token(client, path=EDIT) -> str:
    return _TOKEN.search(client.get(path).get_data(as_text=True)).group(1)


def _form(client, text, **extra) -> dict[str, str]:
    return {"csrf_token": _token(client), "text": text, "base_version": "1", **extra}


def test_a_va_cannot_reach_the_editor_but_can_read_the_steps(client, session):
    w = renewal_world(session)
    login(client, w.world.vas[0].email)
    for path in ("/sops/", EDIT, "/sops/patient-renewal/history", "/sops/patient-renewal/run"):
        assert client.get(path).status_code == 403, path
    token = _token(client, "/")
    response = client.post(
        "/sops/patient-renewal/save", data={"csrf_token": token, "text": "x", "note": "n"}
    )
    assert response.status_code == 403
    steps = client.get("/sops/patient-renewal/steps?version=1")
    page = steps.get_data(as_text=True)
    assert steps.status_code == 200
    assert 'id="step-remind"' in page and "Confirm the contact preference" in page
    assert "Edit</a>" not in page  # no editor links for a VA


def test_the_list_shows_version_owner_next_runs_open_work_last_run_and_errors(client, session):
    w = renewal_world(session)
    session.add(Sop(slug="broken", title="broken.yaml", load_error="broken.yaml:2:1: bad key"))
    session.commit()
    login(client, w.world.manager.email)
    page = client.get("/sops/").get_data(as_text=True)
    row = page[page.index('id="sop-patient-renewal"') :]
    row = row[: row.index("</tr>")]
    assert "v1" in row and "patient-services" in row and "schedule 0 7 * * 1-5" in row
    assert "America/Chicago" in row and "next:" in row
    assert re.search(r'class="num">5<', row)
    assert "5 created" in row and "completed" in row
    assert "broken.yaml:2:1: bad key" in page


def test_the_editor_works_as_a_plain_form(client, session):
    w = renewal_world(session)
    login(client, w.world.manager.email)
    page = client.get(EDIT).get_data(as_text=True)
    assert "<textarea" in page and 'name="base_version" value="1"' in page
    assert "id: patient-renewal" in page
    # A typo: refused with its line and key path.
    typo = client.post("/sops/patient-renewal/check", data=_form(client, renewal_with_fl("-60dd")))
    body = typo.get_data(as_text=True)
    assert typo.status_code == 422 and "<html" in body
    assert "steps[0].due.by_state.FL" in body and 'data-line="66"' in body
    # Fixed, previewed against the live data: three Florida reminders re-dated.
    fixed = renewal_with_fl("-60d")
    preview = client.post("/sops/patient-renewal/preview", data=_form(client, fixed))
    assert preview.status_code == 200
    assert "3 tasks re-dated" in preview.get_data(as_text=True)
    # Saving needs a note.
    missing = client.post("/sops/patient-renewal/save", data=_form(client, fixed, note=""))
    assert missing.status_code == 422 and "change note is required" in missing.get_data(True)
    saved = client.post(
        "/sops/patient-renewal/save", data=_form(client, fixed, note="FL 60 days", apply="1")
    )
    assert saved.status_code == 302 and "/sops/patient-renewal/history" in saved.location
    history = client.get(saved.location).get_data(as_text=True)
    assert "Saved version 2" in history and "3 re-dated" in history
    assert "FL 60 days" in history and 'class="replace"' in history
    version = session.scalar(select(SopVersion).where(SopVersion.number == 2))
    assert version.author_id == w.world.manager.id and version.note == "FL 60 days"
    # Restore version 1: a third version equal to the first.
    restored = client.post(
        "/sops/patient-renewal/versions/1/restore",
        data={"csrf_token": _token(client), "base_version": "2", "note": "back to 45"},
    )
    assert restored.status_code == 302
    assert "Restored version 1 as version 3" in client.get(restored.location).get_data(True)
    session.expire_all()
    third = session.scalar(select(SopVersion).where(SopVersion.number == 3))
    assert third.yaml_text == RENEWAL_TEXT and third.source.value == "restore"


def test_check_and_preview_answer_htmx_with_fragments(client, session):
    w = renewal_world(session)
    login(client, w.world.manager.email)
    check = client.post(
        "/sops/patient-renewal/check", data=_form(client, renewal_with_fl("-60dd")), headers=HX
    )
    body = check.get_data(as_text=True)
    assert check.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith('<section id="sop-issues"') and 'data-col="13"' in body
    ok = client.post("/sops/patient-renewal/check", data=_form(client, RENEWAL_TEXT), headers=HX)
    assert "No problems" in ok.get_data(as_text=True)
    preview = client.post(
        "/sops/patient-renewal/preview", data=_form(client, renewal_with_fl("-60d")), headers=HX
    )
    assert preview.get_data(as_text=True).lstrip().startswith('<section id="sop-preview"')


def test_a_racing_save_is_refused_and_shown_the_diff(app, session):
    w = renewal_world(session)
    alice, bob = app.test_client(), app.test_client()
    login(alice, w.world.manager.email)
    login(bob, w.world.admin.email)
    alice_form = _form(alice, renewal_with_fl("-60d"), note="Alice: 60 days")
    bob_form = _form(bob, renewal_with_fl("-50d"), note="Bob: 50 days")  # both from v1
    assert alice.post("/sops/patient-renewal/save", data=alice_form).status_code == 302
    refused = bob.post("/sops/patient-renewal/save", data=bob_form)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 409 and "someone else saved first" in page
    assert "Alice: 60 days" in page and "-50d" in page  # their note; my text is kept
    assert 'name="base_version" value="2"' in page and 'value="Bob: 50 days"' in page
    assert 'class="replace"' in page
    assert [v.number for v in session.scalars(select(SopVersion))] == [1, 2]
    # Having seen the diff, Bob saves on top of version 2: nothing was lost.
    bob_form = _form(bob, renewal_with_fl("-50d"), note="Bob: 50 days", base_version="2")
    assert bob.post("/sops/patient-renewal/save", data=bob_form).status_code == 302
    session.expire_all()
    assert [v.number for v in session.scalars(select(SopVersion))] == [1, 2, 3]


def test_a_huge_paste_is_refused_with_a_message(client, session):
    w = renewal_world(session)
    login(client, w.world.manager.email)
    token = _token(client)
    one_mb = "a: b\n" * (1024 * 1024 // 5 + 1)
    for headers in ({}, HX):
        response = client.post(
            "/sops/patient-renewal/check",
            data={"csrf_token": token, "text": one_mb, "base_version": "1"},
            headers=headers,
        )
        assert response.status_code == 413
        assert "an SOP may have at most 256 KB" in response.get_data(as_text=True)
    assert response.headers["HX-Retarget"] == "#sop-issues"
    # Under the request limit but over the text limit: refused by the check itself.
    big = "#" * (MAX_SOP_CHARS + 10)
    check = client.post("/sops/patient-renewal/check", data=_form(client, big), headers=HX)
    assert "Nothing was checked or saved" in check.get_data(as_text=True)


def test_run_now_form_is_generated_and_types_are_checked(client, session, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    w = renewal_world(session)
    text = RENEWAL_TEXT.replace(
        '        - {id: note, type: string, label: "Why run now", required: false}\n',
        '        - {id: note, type: string, label: "Why run now", required: false}\n'
        "        - {id: horizon_days, type: integer, default: 60}\n",
    )
    from services.sops.editing import save_edit

    save_edit(session, w.sop, text, 1, w.world.manager.id, "horizon input")
    session.commit()
    login(client, w.world.manager.email)
    form = client.get("/sops/patient-renewal/run").get_data(as_text=True)
    assert 'name="horizon_days" type="number"' in form and "Why run now" in form
    token = _TOKEN.search(form).group(1)
    bad = client.post(
        "/sops/patient-renewal/run", data={"csrf_token": token, "horizon_days": "soon"}
    )
    assert bad.status_code == 422 and "input &#39;horizon_days&#39;" in bad.get_data(True)
    good = client.post(
        "/sops/patient-renewal/run", data={"csrf_token": token, "horizon_days": "30"}
    )
    assert good.status_code == 302
    result = client.get(good.location).get_data(as_text=True)
    assert "Ran Patient card renewal" in result and "completed" in result
    started = session.scalar(select(AuditEvent).where(AuditEvent.action == "run_started"))
    assert started.actor_id == w.world.manager.id and started.after["inputs"]["horizon_days"] == 30


def test_enable_and_disable_are_audited_and_swap_the_row(client, session):
    w = renewal_world(session)
    login(client, w.world.manager.email)
    token = _token(client, "/sops/")
    response = client.post(
        "/sops/patient-renewal/enabled", data={"csrf_token": token, "enabled": "0"}, headers=HX
    )
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<tr id="sop-patient-renewal" class="disabled')
    assert "schedules paused" in body and "next:" not in body
    session.expire_all()
    assert session.scalar(select(Sop.enabled).where(Sop.slug == "patient-renewal")) is False
    change = session.scalar(
        select(AuditEvent).where(AuditEvent.entity_type == "sop", AuditEvent.action == "update")
    )
    assert change.after == {"enabled": False} and change.actor_id == w.world.manager.id
    plain = client.post("/sops/patient-renewal/enabled", data={"csrf_token": token, "enabled": "1"})
    assert plain.status_code == 302


def test_the_schema_for_completion_is_served(client, session):
    w = renewal_world(session)
    login(client, w.world.manager.email)
    response = client.get("/sops/schema.json")
    assert response.status_code == 200 and response.json["title"] == "sopflow SOP definition"


def test_a_version_can_be_read_and_downloaded_as_an_export(client, session):
    w = renewal_world(session)
    login(client, w.world.manager.email)
    page = client.get("/sops/patient-renewal/versions/1").get_data(as_text=True)
    assert "id: patient-renewal" in page and "Download YAML" in page
    assert "Restore as version" not in page  # it is the current version
    download = client.get("/sops/patient-renewal/versions/1.yaml")
    assert download.status_code == 200 and download.get_data(as_text=True) == RENEWAL_TEXT
    assert "patient-renewal.v1.yaml" in download.headers["Content-Disposition"]
    exported = session.scalar(select(AuditEvent).where(AuditEvent.action == "export"))
    assert exported.after == {"version": 1, "to": "download"}
    assert client.get("/sops/patient-renewal/versions/9").status_code == 404
    assert client.get("/sops/no-such-sop/").status_code == 404


def test_without_the_editor_bundle_the_page_is_a_textarea_with_the_same_check(
    app, client, session, monkeypatch
):
    w = renewal_world(session)
    login(client, w.world.manager.email)
    monkeypatch.setitem(app.config, "SOP_EDITOR_JS", True)
    assert "vendor/editor.js" in client.get(EDIT).get_data(as_text=True)
    monkeypatch.setitem(app.config, "SOP_EDITOR_JS", False)
    page = client.get(EDIT).get_data(as_text=True)
    assert "vendor/editor.js" not in page
    # The textarea itself asks for the live check (htmx), as the bundle would.
    assert 'hx-post="/sops/patient-renewal/check"' in page and "data-sop-editor" in page
