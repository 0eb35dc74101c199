"""The `monitor` command line, run as a separate process the way an operator runs it."""

import json
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import CHANNELS, REPO, monitor_command

LABELLED = REPO / "tests" / "data" / "alerts"

COMMANDS = [[], ["import"], ["demo"], ["stats"], ["serve"], ["db"], ["db", "upgrade"],
            ["alerts"], ["alerts", "decide"], ["sweep"], ["users"], ["users", "create"], ["users", "list"],
            ["users", "set-role"], ["users", "set-password"], ["telegram"], ["telegram", "login"],
            ["telegram", "add"], ["telegram", "health"], ["alerts", "list"], ["watchlist"],
            ["watchlist", "add"], ["watchlist", "list"], ["watchlist", "import"], ["eval", "alerts"],
            ["clusters", "show"]]


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
    assert "2 posts sent to the pipeline, 2 rejected; 2 new posts stored, 0 already there; " in result.stdout

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
    assert "imported 26 sample posts (26 new); the store now holds 26 posts in 15 clusters" in result.stdout
    assert "(3 with reposts), 1 alert\n" in result.stdout
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
    health = monitor_command("telegram", "health", env=sqlite_env)  # a channel never fetched: stalled
    assert health.returncode == 1 and json.loads(health.stdout)["stale_channels"] == ["@almaty_inside"]


def test_a_channel_dump_json_array_imports_with_bad_items_reported_by_index(tmp_path, sqlite_env):
    dump = json.loads((CHANNELS / "1001003313758_messages.json").read_text(encoding="utf-8"))[:20]
    dump[3] = "not a post"
    del dump[7]["message_id"]
    path = tmp_path / "channel.json"
    path.write_text(json.dumps(dump, ensure_ascii=False), encoding="utf-8")
    result = monitor_command("import", str(path), env=sqlite_env)
    assert result.returncode == 1
    assert f"{path}: item 3: expected a JSON object, got str" in result.stderr
    assert f"{path}: item 7: field 'source'" in result.stderr
    assert "18 posts sent to the pipeline, 2 rejected" in result.stdout
    sources = json.loads(monitor_command("sources", "list", "--json", env=sqlite_env).stdout)
    assert [source["key"] for source in sources] == ["-1001003313758"]
    again = monitor_command("import", str(path), str(path), env=sqlite_env)
    assert "18 posts sent to the pipeline, 2 rejected; 0 new posts stored, 18 already there" in again.stdout
    assert again.stdout.splitlines()[-1].startswith("all 2 files: 36 posts sent to the pipeline, 4 rejected; "
                                                    "0 new posts stored, 36 already there; 0 clusters")


def test_the_watchlist_is_added_to_listed_and_imported_without_duplicates(tmp_path, sqlite_env):
    added = monitor_command("watchlist", "add", "person", "Ерлан Сапаров", "--spelling", "Сапаров",
                            "--spelling", "Saparov", env=sqlite_env)
    assert added.returncode == 0 and "person Ерлан Сапаров: added" in added.stdout, added.stderr
    bad = tmp_path / "watch.csv"
    bad.write_text("kind,name,spellings\nperson,Ерлан Сапаров,Yerlan Saparov\nplace,Алматы,\n"
                   "topic,Бессмертный полк,Өлмес полк|Immortal Regiment\n", encoding="utf-8")
    imported = monitor_command("watchlist", "import", str(bad), env=sqlite_env)
    assert imported.returncode == 1 and f"{bad}: line 3: kind 'place'" in imported.stderr
    assert "1 entries added, 1 updated, 1 rejected" in imported.stdout
    again = monitor_command("watchlist", "import", str(LABELLED / "watchlist.json"), env=sqlite_env)
    assert again.returncode == 0, again.stderr
    listed = json.loads(monitor_command("watchlist", "list", "--json", env=sqlite_env).stdout)
    saparov, = [entry for entry in listed if entry["name"] == "Ерлан Сапаров"]
    assert saparov["spellings"] == ["Сапаров", "Saparov", "Yerlan Saparov"]
    assert len(listed) == len({(entry["kind"], entry["name"]) for entry in listed}) == 9


def test_eval_alerts_finds_each_labelled_wave_as_one_alert_in_a_real_stream(sqlite_env):
    stream = CHANNELS / "1001003313758_messages.json"
    result = monitor_command("eval", "alerts", str(stream), "--watchlist", str(LABELLED / "watchlist.json"),
                             "--waves", str(LABELLED / "waves.jsonl"), env=sqlite_env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["stream_posts"] == 672 and report["hard_negative_alerts"] == 0
    assert len(report["waves"]) == 4
    for name, wave in report["waves"].items():
        assert wave["one_alert"] and wave["posts_in_alert"] >= wave["posts"] - 2, name
        assert wave["opened_after_posts"] <= 3 and wave["above_every_stream_alert"], name


def test_commands_print_no_log_line_below_warning_unless_asked(tmp_path, sqlite_env):
    posts = tmp_path / "posts.jsonl"
    posts.write_text(json.dumps({"source": "@a", "id": 1, "text": "Пост о марше девятого мая в Алматы"}))
    for command in (["stats"], ["import", str(posts)], ["alerts", "list"], ["sources", "list"]):
        result = monitor_command(*command, env=sqlite_env)
        assert result.returncode == 0 and " INFO " not in result.stderr, (command, result.stderr)
    assert result.stderr == ""
    verbose = monitor_command("-v", "stats", env=sqlite_env)
    assert verbose.returncode == 0 and " INFO " in verbose.stderr


def test_a_wrong_file_never_floods_the_terminal_and_an_empty_one_says_so(tmp_path, sqlite_env):
    wrong = tmp_path / "notes.jsonl"
    wrong.write_text("\n".join(f"note number {n}" for n in range(500)))
    result = monitor_command("import", str(wrong), env=sqlite_env)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 21 and lines[0] == f"{wrong}: line 1: not valid JSON: Expecting value at column 1"
    assert lines[-1] == f"{wrong}: ... and 480 more like it: not valid JSON: Expecting value at column …"
    assert "0 posts sent to the pipeline, 500 rejected" in result.stdout
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    said = monitor_command("import", str(empty), env=sqlite_env)
    assert said.returncode == 0 and said.stdout.strip() == f"{empty}: no posts in it"
