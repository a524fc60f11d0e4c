"""Every registered route, crawled as anonymous, VA, manager and admin.

Expectations come from each view's `allowed_roles` (set by `webapp.policy.allow`)
and an explicit allowlist of public endpoints, so a route added anywhere, by
anyone, is checked without touching this file, and a route that forgot its
decorator fails here.
"""

from __future__ import annotations

import pytest
from werkzeug.routing import AnyConverter, IntegerConverter, Rule

from models import Role
from tests.support.factories import make_user
from tests.support.web import csrf_token, login

# Reachable without signing in, on purpose.
PUBLIC = {
    "auth.login",  # the sign-in page itself
    "auth.logout",  # signing out when already signed out does nothing
    "health.healthz",  # the load balancer's probe
    "static",  # CSS, JS, htmx
    "calendar.feed",  # a private feed: the token in the URL is the credential
}
ROLES = (Role.VA, Role.MANAGER, Role.ADMIN)
MISSING_ID = 987654


def _url(rule: Rule) -> str:
    """Build a URL for `rule` with harmless sample arguments (ids that do not exist)."""
    values = {}
    for name in rule.arguments:
        converter = rule._converters[name]
        if isinstance(converter, IntegerConverter):
            values[name] = MISSING_ID
        elif isinstance(converter, AnyConverter):
            values[name] = sorted(converter.items)[0]  # type: ignore[attr-defined]
        else:
            values[name] = "no-such-thing"
    return rule.build(values, append_unknown=False)[1]


def _routes(app) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    routes = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((rule.endpoint, method, _url(rule)))
    return sorted(routes)


def _is_login_redirect(response) -> bool:  # type: ignore[no-untyped-def]
    if response.status_code == 204:
        return response.headers.get("HX-Redirect", "").startswith("/login")
    return response.status_code == 302 and response.headers["Location"].startswith("/login")


def _call(client, method: str, url: str, token: str):  # type: ignore[no-untyped-def]
    if method == "GET":
        response = client.get(url)
    else:
        response = client.open(url, method=method, data={"csrf_token": token})
    response.get_data()  # a streamed body holds its request context open until read
    response.close()
    return response


def test_every_route_is_guarded_or_explicitly_public(app):
    forgotten = [
        endpoint
        for endpoint, view in app.view_functions.items()
        if endpoint not in PUBLIC and not getattr(view, "allowed_roles", None)
    ]
    assert forgotten == [], f"routes without @allow(...) and not in PUBLIC: {forgotten}"
    unknown_public = PUBLIC - set(app.view_functions) - {"calendar.feed"}
    assert unknown_public == set()


def test_crawl_every_route_as_each_role(app, session):
    people = {
        role: make_user(session, role=role, email=f"{role.value}@crawl.test") for role in ROLES
    }
    session.commit()
    routes = _routes(app)
    assert len(routes) > 40  # the board, subjects, audit, admin and the others' areas

    problems: list[str] = []
    anonymous = app.test_client()
    token = csrf_token(anonymous)
    for endpoint, method, url in routes:
        response = _call(anonymous, method, url, token)
        if endpoint in PUBLIC:
            sent_away = _is_login_redirect(response) and endpoint != "auth.logout"
            if sent_away or response.status_code >= 500:
                problems.append(f"anonymous {method} {url}: {response.status_code}")
        elif not _is_login_redirect(response):
            problems.append(
                f"anonymous {method} {url}: {response.status_code}, not sent to sign in"
            )

    for role, user in people.items():
        client = app.test_client()
        assert login(client, user.email).status_code == 302
        token = csrf_token(client, "/")
        for endpoint, method, url in routes:
            if endpoint == "auth.logout":
                continue  # would end this crawl's session
            view = app.view_functions[endpoint]
            allowed = getattr(view, "allowed_roles", None)
            response = _call(client, method, url, token)
            status = response.status_code
            if status >= 500:
                problems.append(f"{role.value} {method} {url}: {status}")
            elif allowed is not None and role not in allowed and status != 403:
                problems.append(f"{role.value} {method} {url}: {status}, expected 403")
            elif (allowed is None or role in allowed) and (
                status in (401, 403) or _is_login_redirect(response)
            ):
                problems.append(f"{role.value} {method} {url}: {status}, expected to be let in")
    assert problems == []


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
def test_navigation_shows_only_what_the_role_may_open(app, session, role):
    user = make_user(session, role=role, email=f"nav-{role.value}@crawl.test")
    session.commit()
    client = app.test_client()
    login(client, user.email)
    page = client.get("/").get_data(as_text=True)
    for rule in app.url_map.iter_rules():
        allowed = getattr(app.view_functions[rule.endpoint], "allowed_roles", None)
        if allowed is None or rule.arguments or "GET" not in rule.methods:
            continue
        link = f'<a href="{rule.rule}"'
        if role not in allowed:
            assert link not in page, f"{role.value} sees a link to {rule.rule}"
