"""`monitor run`: the production topology as real local processes (gunicorn, a Celery
worker per queue, beat) on PostgreSQL and Redis; posts go in through the command line,
alerts come out through the HTTP API, metrics through /metrics, and Ctrl-C stops it all."""

import gc
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
import redis
import torch
from celery import signals

from cli.run import services
from config import load_settings
from monitor.accounts.tokens import issue_token
from monitor.accounts.users import create_user
from monitor.db.models import Role
from monitor.embed.encoder import Encoder
from tests.conftest import REPO, TEST_SECRET_KEY, monitor_command
from tests.faults import free_port
from tests.services import REDIS_URL
from tests.test_pipeline import SAMPLE

RUN_REDIS_DB = 12  # not the one the session's test worker consumes


def wait_for(check, timeout: float, what: str, process: subprocess.Popen):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"monitor run exited while waiting for {what}")
        try:
            if result := check():
                return result
        except httpx.TransportError:
            pass
        time.sleep(1)
    pytest.fail(f"timed out waiting for {what}")


def test_monitor_run_takes_posts_to_alerts_and_stops_cleanly(own_postgres, tmp_path, redis_url):
    broker = f"{REDIS_URL}/{RUN_REDIS_DB}"
    redis.Redis.from_url(broker).flushdb()
    port, metrics_port = free_port(), free_port()
    env = {"DATABASE_URL": own_postgres.url, "CELERY_BROKER_URL": broker, "CELERY_ALWAYS_EAGER": "false",
           "WORKER_METRICS_PORT": str(metrics_port), "LOG_FORMAT": "json", "HF_HUB_OFFLINE": "1",
           "SECRET_KEY": TEST_SECRET_KEY, "METRICS_TOKEN": "scraper-token"}
    log = (tmp_path / "run.log").open("w+")
    run = subprocess.Popen([sys.executable, "-m", "cli", "run", "--port", str(port)], cwd=REPO,
                           env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{base}/readyz", timeout=5).status_code == 200, 120, "readiness", run)
        with own_postgres.session() as session:
            user = create_user(session, "newsdesk", "correct horse battery", Role.viewer, "setup")
            token = issue_token(session, user, "topology test", Role.viewer, "setup").secret
        imported = monitor_command("import", str(SAMPLE), env=env)
        assert imported.returncode == 0 and "26 posts sent" in imported.stdout, imported.stderr

        headers = {"Authorization": f"Bearer {token}"}
        queue = wait_for(lambda: (answer := httpx.get(f"{base}/api/v1/alerts", headers=headers).json())
                         ["total"] and answer, 300, "the alert", run)
        assert queue["alerts"][0]["reasons"][0].startswith("8 posts from 7 sources")

        assert httpx.get(f"{base}/metrics").status_code == 401
        web_metrics = httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer scraper-token"}).text
        assert 'monitor_queue_depth{queue="embed"}' in web_metrics
        worker_metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text  # the ingest worker
        ingested = 'monitor_posts_ingested_total{source="@almaty_inside",source_kind="telegram"}'
        assert ingested in worker_metrics
    finally:
        run.send_signal(signal.SIGINT)
        try:
            code = run.wait(timeout=90)
        except subprocess.TimeoutExpired:
            run.kill()
            raise
        log.seek(0)
        output = log.read()
    assert code == 0, output[-3000:]
    assert "every service stopped" in output
    pids = [int(line.rsplit("pid ", 1)[1].rstrip(")")) for line in output.splitlines()
            if line.startswith("started ")]
    assert len(pids) == 7  # web, five workers (ingest, embed, cluster, media, notify), beat; no Telegram
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    # The import's trace id follows its posts through the workers' JSON logs.
    traces = {}
    for line in output.splitlines():
        if line.startswith("[worker-") and '"trace_id"' in line:
            service, record = line.split("] ", 1)
            traces.setdefault(json.loads(record)["trace_id"], set()).add(service.strip("["))
    wanted = {"worker-ingest", "worker-embed", "worker-cluster"}
    assert any(wanted <= services for services in traces.values()), traces


def test_a_worker_process_freezes_what_it_has_loaded_once_started():
    # The collector then leaves the imported libraries alone (docs/performance.md).
    import workers.celery_app  # noqa: F401  (connects the signal handlers)

    gc.unfreeze()
    try:
        signals.worker_process_init.send(sender=None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_a_cluster_worker_process_loads_its_compiled_comparisons_before_its_first_post():
    program = ("import sys\n"
               "from celery import signals\n"
               "from workers import celery_app\n"
               "celery_app._consumed_queues.add('cluster')\n"
               "signals.worker_process_init.send(sender=None)\n"
               "from monitor import shingle_kernels as loops\n"
               "print([bool(loop.signatures) for loop in\n"
               "       (loops.text_shingles, loops.affine32_minimums, loops.shared_shingles)])")
    started = subprocess.run([sys.executable, "-c", program], check=True, capture_output=True, text=True)
    assert started.stdout.strip().splitlines()[-1] == "[True, True, True]"


def test_on_a_cpu_the_embed_worker_runs_a_one_thread_process_per_core(tmp_path):
    # Processes going on apart beat one process whose threads wait for each other
    # (docs/performance.md).
    cores = len(os.sched_getaffinity(0))
    for settings, processes, threads in ((load_settings(embedding_device="cpu"), cores, 1),
                                         (load_settings(embedding_device="cpu", embed_processes=1), 1, cores),
                                         (load_settings(embedding_device="cpu", encode_threads=3), cores, 3)):
        embed, = [service for service in services(settings, "127.0.0.1", 0, tmp_path)
                  if service.name == "worker-embed"]
        assert embed.argv[embed.argv.index("--concurrency") + 1] == str(processes)
        assert embed.env["ENCODE_THREADS"] == str(threads)
        assert embed.env["EMBED_PROCESSES"] == str(processes)


def test_an_encoder_given_one_thread_runs_the_model_on_it_two_texts_a_pass():
    before = torch.get_num_threads()
    try:
        encoder = Encoder("all-MiniLM-L6-v2", "cpu", threads=1)
        assert torch.get_num_threads() == 1 and encoder.batch_size == 2
    finally:
        torch.set_num_threads(before)
