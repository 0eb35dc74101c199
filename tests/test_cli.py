"""The `monitor` command line, run as a separate process the way an operator runs it."""

import json
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import REPO, monitor_command

COMMANDS = [[], ["import"], ["demo"], ["stats"], ["serve"], ["db"], ["db", "upgrade"],
            ["alerts"], ["alerts", "decide"], ["sweep"]]


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


def test_demo_serves_the_alert_list_on_the_given_port(sqlite_env):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "cli", "demo", "--port", str(port)], cwd=REPO,
                              env={**__import__("os").environ, **sqlite_env},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"demo did not serve: {server.stdout.read()}")
                time.sleep(0.5)
        assert page.status_code == 200
        assert "Сапаров" in page.text and "8 posts from 7 sources" in page.text
    finally:
        server.terminate()
        server.wait(timeout=30)
