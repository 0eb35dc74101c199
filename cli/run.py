"""`monitor run`: the production topology as local processes, one per compose service
(web on gunicorn, one Celery worker per queue, beat, the Telegram listener), against
the configured PostgreSQL and Redis. Ctrl-C (or SIGTERM) stops them all cleanly; if one
dies, the others are stopped and the command fails, naming it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from config import Settings
from monitor.embed.encoder import embed_process_settings, embed_processes

STOP_TIMEOUT = 30


@dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None


def embed_environment(settings: Settings, processes: int) -> dict[str, str]:
    """Each of an embed worker's PROCESSES' settings (`embed_process_settings`), as the
    environment variables it reads them from."""
    return {name.upper(): str(value) for name, value in embed_process_settings(settings, processes).items()}


def services(settings: Settings, host: str, port: int, state_dir: Path) -> list[Service]:
    celery = [sys.executable, "-m", "celery", "-A", "workers.celery_app"]
    web = Service("web", [sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers", "2",
                          "--graceful-timeout", "20", "web.wsgi:app"])
    embedders = embed_processes(settings, _embed_device(settings))
    embed_env = embed_environment(settings, embedders)
    workers = [
        Service(f"worker-{queue}", [*celery, "worker", "--queues", queue, "--concurrency", str(concurrency),
                                    "--hostname", f"{queue}@%h", "--without-gossip", "--without-mingle"],
                env=embed_env if queue == "embed" else {})
        for queue, concurrency in (("ingest", 2), ("embed", embedders), ("cluster", 1), ("media", 1),
                                   ("notify", 2))
    ]
    beat = Service("beat", [*celery, "beat", "--schedule", str(state_dir / "celerybeat-schedule")])
    every = [web, *workers, beat]
    if settings.telegram_api_id and (settings.telegram_session or settings.telegram_session_file):
        every.append(Service("telegram", [sys.executable, "-m", "cli", "telegram"]))
    for number, service in enumerate(every):
        # Each process group shares its figures through its own multiprocess directory.
        metrics_dir = state_dir / "metrics" / service.name
        metrics_dir.mkdir(parents=True, exist_ok=True)
        service.env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        if settings.worker_metrics_port and service.name.startswith(("worker-", "telegram")):
            service.env["WORKER_METRICS_PORT"] = str(settings.worker_metrics_port + number - 1)
    return every


def _embed_device(settings: Settings) -> str:
    """The device the embed worker will run on. "auto" is asked of torch in a short-lived
    child: this supervisor lives as long as the services, and importing torch here would
    keep some 180 MB for nothing."""
    if settings.embedding_device != "auto":
        return settings.embedding_device
    probe = subprocess.run([sys.executable, "-c", "from monitor.embed.encoder import resolve_device; "
                            "print(resolve_device('auto'))"], capture_output=True, text=True, check=True)
    return probe.stdout.strip()


def run(settings: Settings, host: str, port: int, echo) -> int:
    """Start every service, relay their output with its name, stop them all on a signal."""
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    with tempfile.TemporaryDirectory(prefix="monitor-run-") as state:
        started = services(settings, host, port, Path(state))
        for service in started:
            service.process = subprocess.Popen(
                service.argv, env={**os.environ, **service.env}, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, start_new_session=True)
            threading.Thread(target=_relay, args=(service, echo), daemon=True).start()
            echo(f"started {service.name} (pid {service.process.pid})")
        failed = None
        while not stopping.is_set() and failed is None:
            failed = next((s for s in started if s.process.poll() is not None), None)
            stopping.wait(0.5)
        _stop(started, echo)
    if failed is not None:
        echo(f"{failed.name} exited with status {failed.process.returncode}: stopped the others")
        return 1
    echo("every service stopped")
    return 0


def _relay(service: Service, echo) -> None:
    for line in service.process.stdout:
        echo(f"[{service.name}] {line.rstrip()}")


def _stop(started: list[Service], echo) -> None:
    running = [s for s in started if s.process.poll() is None]
    for service in running:
        service.process.send_signal(signal.SIGTERM)  # warm shutdown: tasks in hand are finished
    deadline = time.monotonic() + STOP_TIMEOUT
    for service in running:
        try:
            service.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            echo(f"{service.name} did not stop in {STOP_TIMEOUT} s: killed")
            os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait()
