"""Attacks on the review UI and the fetchers, each against the real app on a real HTTP server
on 127.0.0.1: forged and replayed sessions, lockouts, open metrics, cached pages, and
every kind of internal address behind a public-looking name (SSRF)."""

from __future__ import annotations

import re
import socket
import stat

import httpx
import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import delete

from config.secret_key import InsecureSecretKey, demo_secret_key
from monitor.accounts.users import set_active, set_password, set_role
from monitor.db.models import LoginFailure, Role
from monitor.news.http import FetchError, HttpPolicy, fetch, make_client
from monitor.notify.subscriptions import Filters, add_subscription
from monitor.ssrf import ForbiddenTarget, TargetPolicy
from tests.conftest import ACCOUNTS, PASSWORD, make_settings
from web import create_app

OLD_DEFAULT_KEY = "change-me-in-production"


def serve(live_server, database, **settings) -> str:
    return live_server(create_app(make_settings(database.url, **settings)))


def client_from(address: str, base: str) -> httpx.Client:
    """A browser on another host: its connections come from ADDRESS (loopback has them all)."""
    return httpx.Client(base_url=base, transport=httpx.HTTPTransport(local_address=address))


def sign_in(client: httpx.Client, name: str, password: str = PASSWORD, **headers) -> httpx.Response:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token},
                       headers=headers)


def signed_in(client: httpx.Client) -> bool:
    answer = client.get("/users")
    return answer.status_code != 302


def sign_out(client: httpx.Client) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302


@pytest.mark.parametrize("key", [None, OLD_DEFAULT_KEY, "changeme", "short-but-random-Xq9", "a" * 64])
def test_the_app_refuses_to_start_with_a_missing_or_guessable_secret_key(database, key):
    with pytest.raises(InsecureSecretKey, match="SECRET_KEY"):
        create_app(make_settings(database.url, secret_key=key))


def test_a_session_forged_with_the_old_default_key_is_refused(live_server, database, accounts):
    base = serve(live_server, database)
    forger = Flask("forger")
    forger.secret_key = OLD_DEFAULT_KEY
    serializer = SecureCookieSessionInterface().get_signing_serializer(forger)
    for user_id in (str(accounts["admin"]), f"{accounts['admin']}:0"):
        cookie = serializer.dumps({"_user_id": user_id, "_fresh": True})
        answer = httpx.get(f"{base}/users", cookies={"session": cookie},
                           headers={"X-Forwarded-For": "203.0.113.7"})
        assert answer.status_code == 302 and "/login" in answer.headers["Location"]


def test_a_cookie_copied_before_sign_out_no_longer_works(live_server, database, accounts):
    base = serve(live_server, database)
    with httpx.Client(base_url=base) as browser, httpx.Client(base_url=base) as thief:
        assert sign_in(browser, ACCOUNTS["admin"]).status_code == 302
        thief.cookies.update(browser.cookies)
        assert signed_in(thief)
        sign_out(browser)
        assert not signed_in(thief) and not signed_in(browser)
        assert sign_in(browser, ACCOUNTS["admin"]).status_code == 302 and signed_in(browser)


@pytest.mark.parametrize("change", [
    lambda session, user_id: set_role(session, user_id, Role.viewer, "security"),
    lambda session, user_id: set_password(session, user_id, "a new long passphrase", "security"),
    lambda session, user_id: set_active(session, user_id, False, "security"),
], ids=["role", "password", "disabled"])
def test_a_change_to_the_account_ends_its_open_sessions(live_server, database, accounts, change):
    base = serve(live_server, database)
    with httpx.Client(base_url=base) as browser:
        assert sign_in(browser, ACCOUNTS["admin"]).status_code == 302 and signed_in(browser)
        with database.session() as session:
            change(session, accounts["admin"])
        assert not signed_in(browser)


def test_failed_sign_ins_from_one_address_never_lock_the_account_for_another(live_server, database, accounts):
    base = serve(live_server, database)
    with client_from("127.0.0.2", base) as attacker, client_from("127.0.0.3", base) as moderator:
        answers = [sign_in(attacker, ACCOUNTS["admin"], "guess number " + str(n)).status_code
                   for n in range(10)]
        assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}
        assert sign_in(attacker, ACCOUNTS["admin"]).status_code == 429  # throttled, right or wrong
        assert sign_in(moderator, ACCOUNTS["admin"]).status_code == 302 and signed_in(moderator)


def test_forwarded_addresses_are_believed_only_behind_a_configured_proxy(live_server, database, accounts):
    def failures_until_throttled(base: str) -> list[int]:
        with httpx.Client(base_url=base) as client:
            return [sign_in(client, ACCOUNTS["viewer"], "wrong password",
                            **{"X-Forwarded-For": f"198.51.100.{n}"}).status_code for n in range(7)]

    # No proxy: every guess comes from 127.0.0.1, whatever the header claims.
    assert failures_until_throttled(serve(live_server, database))[5:] == [429, 429]
    with database.session() as session:
        session.execute(delete(LoginFailure))
    # One proxy: its X-Forwarded-For names the client, here a different one each time.
    assert set(failures_until_throttled(serve(live_server, database, web_proxy_hops=1))) == {401}


def test_metrics_are_served_only_for_their_token(live_server, database):
    closed = serve(live_server, database)
    assert httpx.get(f"{closed}/metrics").status_code == 401
    base = serve(live_server, database, metrics_token="prometheus-scrape-token")
    assert httpx.get(f"{base}/metrics").status_code == 401
    assert httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    answer = httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer prometheus-scrape-token"})
    assert answer.status_code == 200 and "monitor_http_request" in answer.text


def test_signed_in_pages_and_api_answers_are_never_cached(live_server, database, accounts):
    base = serve(live_server, database)
    with httpx.Client(base_url=base) as browser:
        sign_in(browser, ACCOUNTS["admin"])
        for path in ("/", "/users", "/audit"):
            assert browser.get(path).headers["Cache-Control"] == "no-store", path
    assert httpx.get(f"{base}/api/v1/alerts").headers["Cache-Control"] == "no-store"


def test_the_demo_makes_a_random_secret_key_once_and_keeps_it_private(tmp_path):
    key = demo_secret_key(tmp_path)
    assert demo_secret_key(tmp_path) == key and len(key) >= 48
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


INTERNAL_ADDRESSES = [
    ("127.0.0.1", "loopback"), ("10.0.0.5", "private"), ("172.16.3.4", "private"),
    ("192.168.1.1", "private"), ("169.254.169.254", "link-local, cloud metadata"),
    ("100.64.0.1", "carrier-grade NAT"), ("100.127.255.254", "carrier-grade NAT"),
    ("0.0.0.0", "unspecified"), ("224.0.0.251", "multicast"), ("240.0.0.1", "reserved"),
    ("198.18.0.1", "benchmarking"), ("192.0.2.10", "documentation"), ("192.88.99.1", "6to4 relay"),
    ("::1", "loopback"), ("::", "unspecified"), ("fc00::1", "unique local"), ("fe80::1", "link-local"),
    ("ff02::1", "multicast"), ("2001:db8::1", "documentation"), ("100::1", "discard"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"), ("::ffff:10.0.0.5", "IPv4-mapped private"),
    ("::ffff:169.254.169.254", "IPv4-mapped metadata"), ("::127.0.0.1", "IPv4-compatible"),
    ("64:ff9b::a9fe:a9fe", "NAT64 of the metadata address"),
    ("2002:7f00:1::1", "6to4 of loopback"), ("2002:808:808::1", "6to4 of a public address"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
]


@pytest.fixture
def resolving_to(monkeypatch):
    """A hostile name server: internal.example.org resolves to whatever the test says."""
    resolve = socket.getaddrinfo
    answer = {}

    def hostile_dns(host, port, *args, **kwargs):
        if host == "internal.example.org":
            family = socket.AF_INET6 if ":" in answer["address"] else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (answer["address"], port))]
        return resolve(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", hostile_dns)
    return lambda address: answer.update(address=address)


@pytest.mark.parametrize("address, kind", INTERNAL_ADDRESSES, ids=[kind for _, kind in INTERNAL_ADDRESSES])
def test_every_fetcher_refuses_an_internal_address(database, resolving_to, address, kind):
    resolving_to(address)
    url = "http://internal.example.org/hook"
    settings = make_settings(database.url)
    with pytest.raises(ForbiddenTarget, match="an internal address"), database.session() as session:
        add_subscription(session, url, [], Filters(), TargetPolicy.from_settings(settings), actor="attacker")
    policy = HttpPolicy.from_settings(settings)
    with make_client(policy, TargetPolicy.for_fetching(settings)) as client:
        with pytest.raises(FetchError, match="an internal address"):
            fetch(client, url, policy)


def test_public_addresses_pass_the_guard_and_allowed_internal_ones_too(resolving_to):
    from monitor.ssrf import check_target

    for address in ("93.184.215.14", "2606:4700:4700::1111", "::ffff:93.184.215.14"):
        resolving_to(address)
        check_target("https://internal.example.org/feed", TargetPolicy())
    resolving_to("127.0.0.1")
    allowed = TargetPolicy.parse("127.0.0.1", "FETCH_ALLOWED_ADDRESSES")
    check_target("http://internal.example.org/feed", allowed)
