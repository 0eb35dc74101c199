"""Who may do what: every route of the UI and the API against every role and against
no sign-in, plus CSRF, cookie flags, sign-in throttling and secrets shown only once."""

import re

import pytest
from sqlalchemy import select

from monitor.accounts.tokens import issue_token
from monitor.db.models import AuditEntry, Role, User, WebhookSubscription
from tests.conftest import ACCOUNTS, PASSWORD, make_settings
from web import create_app

ROLES = ["viewer", "moderator", "admin"]
# The least role each endpoint needs; None: public. A new endpoint must be added here.
NEEDS = {
    "static": None, "health.healthz": None, "health.readyz": None, "auth.login": None, "api.openapi": None,
    "observability.exposition": None,
    "auth.logout": "viewer",
    "alerts.index": "viewer", "alerts.assign_to": "moderator", "alerts.decision": "moderator",
    "alerts.bulk": "moderator",
    "clusters.show": "viewer", "clusters.note": "moderator", "clusters.merge": "moderator",
    "clusters.split": "moderator", "clusters.promote": "moderator",
    "search.posts": "viewer", "search.similar": "viewer",
    "sources.index": "viewer", "sources.add": "admin", "sources.add_telegram_channel": "admin",
    "sources.pause": "admin", "sources.resume": "admin",
    "watchlists.index": "viewer", "watchlists.add": "admin", "watchlists.toggle": "admin",
    "known_claims.index": "viewer", "known_claims.add": "moderator",
    "users.index": "admin", "users.add": "admin", "users.change_role": "admin", "users.toggle": "admin",
    "users.tokens": "viewer", "users.issue": "viewer", "users.revoke": "viewer",
    "webhooks.index": "admin", "webhooks.add": "admin", "webhooks.show": "admin", "webhooks.toggle": "admin",
    "webhooks.rotate": "admin", "webhooks.test": "admin", "webhooks.redeliver_one": "admin",
    "audit.index": "admin",
    "media.original": "viewer", "media.thumbnail": "viewer",
    "api.alerts": "viewer", "api.alert": "viewer", "api.claimreview": "viewer", "api.cluster": "viewer",
    "api.search": "viewer",
    "api.similar": "viewer", "api.sources": "viewer", "api.watchlist": "viewer", "api.known_claims": "viewer",
    "api.decision": "moderator", "api.assignee": "moderator", "api.note": "moderator",
    "api.merge": "moderator", "api.split": "moderator", "api.promote": "moderator",
    "api.add_claim": "moderator",
    "api.add_source": "admin", "api.add_channel_source": "admin", "api.add_watchlist_entry": "admin",
    "api.webhooks": "admin",
    "api.add_webhook": "admin", "api.deliveries": "admin", "api.test_webhook": "admin",
    "api.redeliver_one": "admin",
}
MISSING_ID = 999_999  # the matrix must not change anything it reaches


def routes(app):
    """(endpoint, method, url) for every route, with ids that name nothing."""
    for rule in app.url_map.iter_rules():
        values = {name: "disable" if name == "change" else "x.css" if name == "filename" else MISSING_ID
                  for name in rule.arguments}
        url = rule.build(values)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, url


def changes(database) -> list[str]:
    """Audit entries beyond the accounts the fixtures made."""
    with database.session() as session:
        return list(session.scalars(select(AuditEntry.action).where(AuditEntry.actor != "setup")))


def allows(role: str | None, needed: str | None) -> bool:
    return needed is None or (role is not None and Role(role).allows(Role(needed)))


@pytest.fixture
def app(database, accounts):
    app = create_app(make_settings(database.url))
    app.config.update(WTF_CSRF_ENABLED=False)  # CSRF has its own test below
    return app


def signed_in(app, role: str | None):
    client = app.test_client()
    if role is not None:
        answer = client.post("/login", data={"name": ACCOUNTS[role], "password": PASSWORD})
        assert answer.status_code == 302, answer.text
    return client


def test_every_endpoint_is_in_the_authorization_matrix(app):
    assert {endpoint for endpoint, _, _ in routes(app)} == set(NEEDS)


@pytest.mark.parametrize("role", [None, *ROLES])
def test_every_ui_route_against_every_role(app, database, role):
    client = signed_in(app, role)
    checked = 0
    for endpoint, method, url in routes(app):
        if endpoint.startswith("api.") or endpoint == "auth.logout":
            continue
        answer = client.open(url, method=method)
        denied_by_sign_in = answer.status_code == 302 and "/login" in answer.headers["Location"]
        if allows(role, NEEDS[endpoint]):
            assert answer.status_code != 403 and not denied_by_sign_in, (endpoint, method, answer.status_code)
        elif role is None:
            assert denied_by_sign_in, (endpoint, method, answer.status_code)
        else:
            assert answer.status_code == 403, (endpoint, method, answer.status_code)
        checked += 1
    assert checked > 30
    assert changes(database) == []  # nothing the matrix reached changed anything


@pytest.mark.parametrize("role", [None, *ROLES])
def test_every_api_endpoint_against_every_token_scope(app, database, accounts, role):
    headers = {}
    if role is not None:
        with database.session() as session:
            user = session.get(User, accounts[role])
            token = issue_token(session, user, "matrix", Role(role), "setup")
            headers["Authorization"] = f"Bearer {token.secret}"
    client = app.test_client()
    for endpoint, method, url in routes(app):
        if not endpoint.startswith("api."):
            continue
        answer = client.open(url, method=method, headers=headers, json={} if method == "POST" else None)
        if allows(role, NEEDS[endpoint]):
            assert answer.status_code not in (401, 403), (endpoint, method, answer.status_code, answer.json)
        elif role is None:
            assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer")
        else:
            assert answer.status_code == 403, (endpoint, method, answer.status_code)
        assert answer.is_json, (endpoint, answer.text[:200])


def test_the_api_ignores_the_session_cookie(app):
    client = signed_in(app, "admin")
    assert client.get("/api/v1/alerts").status_code == 401


def test_a_form_without_its_csrf_token_is_refused(database, accounts):
    app = create_app(make_settings(database.url))
    client = app.test_client()
    page = client.get("/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    assert client.post("/login", data={"name": "erlan", "password": PASSWORD}).status_code == 400
    assert client.post("/login", data={"name": "erlan", "password": PASSWORD,
                                       "csrf_token": token}).status_code == 302
    refused = client.post("/watchlists", data={"kind": "topic", "name": "Бессмертный полк"})
    assert refused.status_code == 400 and "CSRF" in refused.text
    assert changes(database) == []


def test_session_cookies_are_http_only_same_site_and_secure_when_configured(database, accounts):
    for secure in (False, True):
        app = create_app(make_settings(database.url, session_cookie_secure=secure))
        app.config.update(WTF_CSRF_ENABLED=False)
        answer = app.test_client().post("/login", data={"name": "dana", "password": PASSWORD})
        cookie = answer.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert ("Secure" in cookie) is secure


def test_pages_run_only_the_apps_own_script_files_and_forbid_framing(app):
    answer = signed_in(app, "moderator").get("/")
    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe" not in policy  # no inline script, no eval
    assert "frame-ancestors 'none'" in policy
    assert "<script>" not in answer.text and "triage.js" in answer.text
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_sign_in_is_throttled_after_repeated_failures(app):
    client = app.test_client()
    for _ in range(5):
        assert client.post("/login", data={"name": "dana", "password": "not the password"}).status_code == 401
    throttled = client.post("/login", data={"name": "dana", "password": PASSWORD})
    assert throttled.status_code == 429 and "too many failed sign-ins" in throttled.text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example"])
def test_signing_in_never_redirects_off_site(app, target):
    answer = app.test_client().post("/login", data={"name": "dana", "password": PASSWORD, "next": target})
    assert answer.headers["Location"] == "/"


def test_a_webhook_secret_is_shown_once_and_never_again(app, database):
    client = signed_in(app, "admin")
    app.config["MONITOR_SETTINGS"] = make_settings(database.url, webhook_allowed_addresses="127.0.0.1")
    created = client.post("/webhooks", data={"url": "http://127.0.0.1:9/hook"})
    assert created.status_code == 201, created.text
    with database.session() as session:
        subscription = session.scalars(select(WebhookSubscription)).one()
        secret = subscription.secret
    assert secret in created.text
    for page in ("/webhooks", f"/webhooks/{subscription.id}", "/audit"):
        assert secret not in client.get(page).text
    assert secret not in client.get("/api/v1/webhooks").text


@pytest.mark.parametrize("role, offered", [("viewer", ["viewer"]), ("moderator", ["viewer", "moderator"]),
                                           ("admin", ["viewer", "moderator", "admin"])])
def test_the_token_page_offers_only_the_scopes_the_user_may_give(app, role, offered):
    page = signed_in(app, role).get("/tokens").text
    assert re.findall(r'<option value="(\w+)"', page) == offered


def test_an_api_token_is_shown_once_and_works_as_a_bearer_token(app):
    client = signed_in(app, "moderator")
    issued = client.post("/tokens", data={"name": "newsroom script", "scope": "viewer"})
    assert issued.status_code == 201
    secret = re.search(r"(mon_[A-Za-z0-9_-]+)", issued.text).group(1)
    assert secret not in client.get("/tokens").text
    answer = app.test_client().get("/api/v1/alerts", headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 200 and answer.json["total"] == 0


def test_every_template_compiles(app):
    names = app.jinja_env.list_templates()
    assert "cluster.html" in names
    for name in names:
        app.jinja_env.get_template(name)


def test_passwords_tokens_and_webhook_secrets_never_reach_the_logs(app, database, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    app.config["MONITOR_SETTINGS"] = make_settings(database.url, webhook_allowed_addresses="127.0.0.1")
    client = signed_in(app, "admin")
    token = re.search(r"(mon_[A-Za-z0-9_-]+)", client.post("/tokens", data={"name": "x", "scope": "viewer"})
                      .text).group(1)
    client.post("/webhooks", data={"url": "http://127.0.0.1:9/hook"})
    with database.session() as session:
        secret = session.scalars(select(WebhookSubscription.secret)).one()
    app.test_client().get("/api/v1/alerts", headers={"Authorization": f"Bearer {token}"})
    logged = caplog.text
    assert caplog.records  # something was logged, and none of it is a secret
    for value in (PASSWORD, token, secret):
        assert value not in logged


def test_nul_characters_are_refused_at_the_door(app, database, accounts):
    with database.session() as session:
        user = session.get(User, accounts["admin"])
        headers = {"Authorization": f"Bearer {issue_token(session, user, 'nul', Role.admin, 'setup').secret}"}
    client = app.test_client()
    answer = client.post("/api/v1/sources/feeds", json={"url": "http://\x00"}, headers=headers)
    assert answer.status_code == 400 and "NUL" in answer.json["error"]
    assert client.get("/api/v1/posts/search?q=a%00b", headers=headers).status_code == 400
    page = signed_in(app, "admin").post("/watchlists", data={"kind": "topic", "name": "a\x00b"})
    assert page.status_code == 400 and "NUL" in page.text
    assert changes(database) == []
