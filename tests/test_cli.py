"""The `monitor` command line, run as a separate process the way an operator runs it."""

import json
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import REPO, monitor_command

COMMANDS = [[], ["import"], ["demo"], ["stats"], ["serve"], ["db"], ["db", "upgrade"],
            ["alerts"], ["alerts", "decide"], ["sweep"], ["users"], ["users", "create"], ["users", "list"],
            ["users", "set-role"], ["telegram"], ["telegram", "login"], ["telegram", "add"]]


@pytest.fixture
def sqlite_env(tmp_path):
    return {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "CELERY_ALWAYS_EAGER": "true"}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda words: " ".join(words) or "monitor")
def test_every_command_explains_itself(command):
    result = monitor_command(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: monitor" in result.stdout


def test_import_reports_bad_lines_by_number_and_imports_the_rest(tmp_path, sqlite_env):
    posts = tmp_path / "posts.jsonl"
    posts.write_text("\n".join([
        json.dumps({"source": "@a", "id": 1, "text": "Первый пост о марше девятого мая в Алматы"}),
        "{not json",
        json.dumps({"source": "@a", "id": 3, "text": "Үшінші жазба", "views": -5}),
        json.dumps({"source": "@b", "id": 4, "text": "Fourth post about the May 9 march in Almaty"}),
    ]))
    result = monitor_command("import", str(posts), env=sqlite_env)
    assert result.returncode == 1
    assert f"{posts}: line 2: not valid JSON" in result.stderr
    assert f"{posts}: line 3: field 'views'" in result.stderr
    assert "2 posts sent to the pipeline, 2 rejected" in result.stdout

    stats = json.loads(monitor_command("stats", "--json", env=sqlite_env).stdout)
    assert stats["posts"] == 2
    assert stats["posts_by_stage"] == {"clustered": 2}


def test_import_of_a_file_that_is_no_export_fails_with_the_reason(tmp_path, sqlite_env):
    broken = tmp_path / "result.json"
    broken.write_text('{\n "messages": [')
    result = monitor_command("import", str(broken), env=sqlite_env)
    assert result.returncode == 1
    assert "not valid JSON" in result.stderr and "line 2" in result.stderr


def test_demo_imports_the_sample_and_prints_a_summary(sqlite_env):
    result = monitor_command("demo", "--no-serve", env=sqlite_env)
    assert result.returncode == 0, result.stderr
    assert "imported 26 sample posts; the store now holds 26 posts in 15 clusters" in result.stdout
    assert "1 alerts" in result.stdout
    stats = json.loads(monitor_command("stats", "--json", env=sqlite_env).stdout)
    assert {key: stats[key] for key in ("posts", "clusters", "alerts")} == {
        "posts": 26, "clusters": 15, "alerts": 1}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_demo_serves_the_alert_list_to_the_admin_it_creates(sqlite_env):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "cli", "demo", "--port", str(port)], cwd=REPO,
                              env={**__import__("os").environ, **sqlite_env},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        password = None
        for line in server.stdout:  # the demo prints the admin's password once, before serving
            if match := re.search(r"sign in as admin with the password (\S+)", line):
                password = match.group(1)
                break
        assert password, "the demo printed no password"
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=5) as browser:
            deadline = time.monotonic() + 60
            while True:
                try:
                    login = browser.get("/login")
                    break
                except httpx.TransportError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        pytest.fail("demo did not serve")
                    time.sleep(0.5)
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login.text).group(1)
            browser.post("/login", data={"name": "admin", "password": password, "csrf_token": token})
            page = browser.get("/")
        assert page.status_code == 200
        assert "Сапаров" in page.text and "8 posts from 7 sources" in page.text
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_telegram_channels_are_added_and_the_listener_says_what_it_lacks(sqlite_env):
    added = monitor_command("telegram", "add", "https://t.me/Almaty_Inside", env=sqlite_env)
    assert added.returncode == 0 and "@almaty_inside" in added.stdout, added.stderr
    wrong = monitor_command("telegram", "add", "not a channel", env=sqlite_env)
    assert wrong.returncode == 1 and "is not a channel" in wrong.stderr
    listed = json.loads(monitor_command("sources", "list", "--json", env=sqlite_env).stdout)
    assert [(row["kind"], row["key"], row["cursor"]) for row in listed] == [
        ("telegram", "@almaty_inside", None)]

    no_api = monitor_command("telegram", env={**sqlite_env, "TELEGRAM_API_ID": "", "TELEGRAM_API_HASH": ""})
    assert no_api.returncode == 1 and "set TELEGRAM_API_ID and TELEGRAM_API_HASH" in no_api.stderr
    bad = monitor_command("telegram", env={**sqlite_env, "TELEGRAM_API_ID": "not a number"})
    assert bad.returncode == 1 and "bad settings: TELEGRAM_API_ID" in bad.stderr
    assert "Traceback" not in bad.stderr
    no_session = monitor_command("telegram", env={**sqlite_env, "TELEGRAM_API_ID": "12345",
                                                  "TELEGRAM_API_HASH": "0123456789abcdef"})
    assert no_session.returncode == 1 and "run `monitor telegram login`" in no_session.stderr
