"""What operators run: the compose file, readiness checks, models kept for offline use."""

import json
import shutil
import subprocess

import pytest
import yaml

from monitor.embed.encoder import Encoder, resolve_model
from tests.conftest import REPO, monitor_command

SERVICES = {"postgres", "redis", "migrate", "web", "worker-ingest", "worker-embed", "worker-cluster",
            "worker-media", "worker-notify", "beat", "telegram"}


@pytest.fixture
def compose_project(tmp_path):
    """The compose file as the README's first step leaves it: config/.env from the example,
    no Telegram session yet."""
    shutil.copy(REPO / "docker-compose.yml", tmp_path)
    (tmp_path / "config").mkdir()
    shutil.copy(REPO / "config" / ".env.example", tmp_path / "config" / ".env")
    return tmp_path


def compose_config(project) -> subprocess.CompletedProcess:
    # The compose v2 plugin is not on these machines; Debian's docker-compose 1.29 reads
    # the same Compose Specification and validates it without an engine.
    return subprocess.run(["docker-compose", "config"], cwd=project, capture_output=True, text=True,
                          timeout=60)


def test_the_compose_file_is_valid_and_runs_every_service_with_health_checks(compose_project):
    result = compose_config(compose_project)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert set(config["services"]) == SERVICES
    for name, service in config["services"].items():
        assert "healthcheck" in service, name
        assert service.get("restart") in ("unless-stopped", "no"), name
    cluster = config["services"]["worker-cluster"]["command"]
    assert cluster[cluster.index("--concurrency") + 1] == "1"  # one process places posts
    # Docker's default 10 s would kill it while it saves its index as it stops.
    assert config["services"]["worker-cluster"]["stop_grace_period"] == "2m"
    embed = config["services"]["worker-embed"]
    # Unless the shell says otherwise: two processes, each running the model on one thread.
    assert embed["command"][embed["command"].index("--concurrency") + 1] == "2"
    assert embed["environment"]["ENCODE_THREADS"] == "1"
    assert embed["environment"]["EMBED_PROCESSES"] == "2"  # what each process's encoder shares cores with
    web = config["services"]["web"]
    assert web["command"][0] == "gunicorn"
    assert web["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    telegram = config["services"]["telegram"]
    assert telegram["environment"]["TELEGRAM_SESSION_FILE"] == "/run/secrets/telegram_session"
    assert telegram["profiles"] == ["telegram"]  # opt-in: without credentials it would restart forever
    always = [service for name, service in config["services"].items() if name != "telegram"]
    assert all("profiles" not in service for service in always)
    assert "postgres-data" in config["volumes"]
    # The listener and the media worker write media files that the web app serves.
    for name in ("web", "worker-media", "telegram"):
        service = config["services"][name]
        assert service["environment"]["MEDIA_DIR"] == "/var/lib/monitor/media"
        sources = [volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
                   for volume in service["volumes"]]
        assert "media" in sources, name


def test_a_broken_compose_file_is_refused(compose_project):
    text = (compose_project / "docker-compose.yml").read_text()
    (compose_project / "docker-compose.yml").write_text(text.replace("restart: unless-stopped",
                                                                     "restart: [sometimes]", 1))
    assert compose_config(compose_project).returncode != 0


def test_monitor_check_says_what_is_not_ready(database, redis_url):
    ready = monitor_command("check", env={"DATABASE_URL": database.url, "CELERY_ALWAYS_EAGER": "false",
                                          "CELERY_BROKER_URL": redis_url})
    assert ready.returncode == 0, ready.stderr
    assert json.loads(ready.stdout) == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}
    no_broker = monitor_command("check", env={"DATABASE_URL": database.url, "CELERY_ALWAYS_EAGER": "false",
                                              "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"})
    assert no_broker.returncode == 1
    assert json.loads(no_broker.stdout)["checks"]["broker"].startswith("unreachable")


def test_a_model_kept_in_the_model_folder_loads_from_there_under_its_name(tmp_path):
    packaged, _ = resolve_model("all-MiniLM-L6-v2")
    shutil.copytree(packaged, tmp_path / "newsroom__minilm")
    assert resolve_model("newsroom/minilm", str(tmp_path)) == (str(tmp_path / "newsroom__minilm"),
                                                              "newsroom/minilm")
    encoder = Encoder("newsroom/minilm", model_dir=str(tmp_path))
    assert encoder.model_id == "newsroom/minilm" and encoder.encode(["Бессмертный полк"]).shape == (1, 384)


def test_downloading_a_model_offline_fails_with_the_reason(tmp_path):
    result = monitor_command("models", "download", "nobody/no-such-model", "--to", str(tmp_path),
                             env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 1 and "could not download nobody/no-such-model" in result.stderr
