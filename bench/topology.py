"""The pipeline as production runs it: the Celery workers of `monitor run` (one per queue)
on a fresh PostgreSQL database and a Redis broker, fed through the ingest queue.

Two runs on the same workers:
- throughput: every post sent at once, as a backfill sends them; the figure is posts over
  the time from the first post stored to the last one clustered;
- latency: posts sent one by one at a steady rate, as the Telegram listener sends them,
  dated now so that the alert rules see a live wave; the figures are from each post's
  storing to its cluster assignment, and to the alert event it caused.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import redis
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from config import load_settings
from monitor.db.migrate import upgrade
from monitor.db.models import Alert, AlertEvent, ClusterMembership, Post, PostStage, Stage
from monitor.db.session import make_engine, make_session_factory, unit_of_work
from monitor.ingest.records import PostRecord

REPO = Path(__file__).resolve().parents[1]
SEND_CHUNK = 64  # records per ingest message in the throughput run


@contextmanager
def fresh_database(admin_url: str):
    """A new PostgreSQL database, migrated, dropped afterwards."""
    name = f"monitor_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(drivername="postgresql+psycopg", database=name).render_as_string(
        hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def running_workers(env: dict[str, str], log_dir: Path):
    """The worker services of `monitor run`, started with ENV (also in this process's
    environment); stopped (SIGTERM) afterwards."""
    from cli.run import services

    workers = [service for service in services(load_settings(), "127.0.0.1", 0, log_dir)
               if service.name.startswith("worker-")]
    for service in workers:
        log = (log_dir / f"{service.name}.log").open("w")
        service.process = subprocess.Popen(service.argv, cwd=REPO, env={**os.environ, **env, **service.env},
                                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield workers
    finally:
        for service in workers:
            service.process.terminate()
        for service in workers:
            try:
                service.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                service.process.kill()


def _process_tree(pid: int) -> list[int]:
    """PID and every process under it (Linux)."""
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        try:
            pending += [int(child) for child in
                        Path(f"/proc/{current}/task/{current}/children").read_text().split()]
        except OSError:
            continue
        tree.append(current)
    return tree


def _proc(pid: int, name: str) -> str:
    try:
        return Path(f"/proc/{pid}/{name}").read_text()
    except OSError:  # ended since
        return ""


def _megabytes(pid: int, name: str, field: str) -> list[float]:
    """FIELD (given in kB) of /proc/<pid>/NAME of each process in the tree under PID, in MB."""
    return [int(line.split()[1]) / 1024 for current in _process_tree(pid)
            for line in _proc(current, name).splitlines() if line.startswith(field)]


def peak_memory_mb(pid: int) -> float:
    """The largest peak resident size (VmHWM) in the process tree under PID."""
    return round(max(_megabytes(pid, "status", "VmHWM:"), default=0.0), 1)


def total_pss_mb(pid: int) -> float:
    """What the process tree under PID holds in memory now: the sum of its processes'
    proportional set sizes (pages shared between them counted once in all)."""
    return round(sum(_megabytes(pid, "smaps_rollup", "Pss:")), 1)


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system) the process tree under PID has used so far."""
    ticks = 0
    for current in _process_tree(pid):
        # The fields after the command's name, which is in parentheses and may hold spaces:
        # utime and stime are the 14th and 15th fields of the line.
        fields = _proc(current, "stat").rpartition(")")[2].split()
        if len(fields) > 12:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _worker_cpu_seconds(workers, since: dict[str, float] | None = None) -> dict[str, float]:
    """The CPU seconds each worker's processes have used, or used SINCE (an earlier answer)."""
    used = {service.name: cpu_seconds(service.process.pid) for service in workers}
    if since is None:
        return used
    return {name: round(seconds - since[name], 1) for name, seconds in used.items()}


def wait_until_clustered(sessions, expected: int, timeout: float, workers) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with unit_of_work(sessions) as session:
            settled = session.scalar(select(func.count()).select_from(PostStage)
                                     .where(PostStage.stage.in_([Stage.clustered, Stage.skipped])))
        if settled >= expected:
            return
        if failed := [service.name for service in workers if service.process.poll() is not None]:
            raise RuntimeError(f"worker stopped: {', '.join(failed)}")
        time.sleep(0.2)
    raise TimeoutError(f"{expected - settled} posts not clustered in {timeout:.0f} s")


def _last_post_id(sessions) -> int:
    with unit_of_work(sessions) as session:
        return session.scalar(select(func.max(Post.id)))


def _quantiles(seconds: list[float]) -> dict:
    if len(seconds) < 2:
        return {"n": len(seconds), "p50_s": None, "p95_s": None}
    return {"n": len(seconds), "p50_s": round(statistics.median(seconds), 3),
            "p95_s": round(statistics.quantiles(seconds, n=20)[18], 3)}


def measure_topology(warm_up: list[PostRecord], backfill: list[PostRecord], live: list[PostRecord],
                     rate: float, admin_url: str, broker_url: str) -> dict:
    with fresh_database(admin_url) as database_url, tempfile.TemporaryDirectory() as folder:
        redis.Redis.from_url(broker_url).flushdb()
        env = {"DATABASE_URL": database_url, "CELERY_BROKER_URL": broker_url, "CELERY_ALWAYS_EAGER": "false",
               "HF_HUB_OFFLINE": "1", "LOG_LEVEL": "WARNING"}
        os.environ.update(env)  # the app this process sends through reads them when first imported
        from workers.celery_app import app, configure
        from workers.tasks import store_posts_task

        configure(app, load_settings())
        sessions = make_session_factory(make_engine(database_url))
        with running_workers(env, Path(folder)) as workers:
            # Warm-up: every worker up, the model loaded, before anything is timed.
            store_posts_task.delay([record.to_message() for record in warm_up])
            wait_until_clustered(sessions, len(warm_up), 300, workers)

            before_backfill = _last_post_id(sessions)
            cpu_before = _worker_cpu_seconds(workers)
            for start in range(0, len(backfill), SEND_CHUNK):
                chunk = backfill[start : start + SEND_CHUNK]
                store_posts_task.delay([record.to_message() for record in chunk])
            wait_until_clustered(sessions, len(warm_up) + len(backfill), 3600, workers)
            cpu = _worker_cpu_seconds(workers, since=cpu_before)
            with unit_of_work(sessions) as session:
                first_stored, last_clustered = session.execute(
                    select(func.min(Post.fetched_at), func.max(ClusterMembership.created_at))
                    .join(ClusterMembership, ClusterMembership.post_id == Post.id, isouter=True)
                    .where(Post.id > before_backfill)).one()
            throughput = len(backfill) / (last_clustered - first_stored).total_seconds()

            first_live_id = _last_post_id(sessions) + 1
            cpu_before = _worker_cpu_seconds(workers)
            started = time.monotonic()
            for number, record in enumerate(live):
                time.sleep(max(0.0, started + number / rate - time.monotonic()))
                now = datetime.now(timezone.utc)
                store_posts_task.delay([replace(record, published_at=now).to_message()])
            offered_seconds = time.monotonic() - started
            wait_until_clustered(sessions, len(warm_up) + len(backfill) + len(live), 3600, workers)
            live_cpu = _worker_cpu_seconds(workers, since=cpu_before)
            memory = {service.name: peak_memory_mb(service.process.pid) for service in workers}
            held = {service.name: total_pss_mb(service.process.pid) for service in workers}
        with unit_of_work(sessions) as session:
            to_cluster = [(placed - stored).total_seconds() for stored, placed in session.execute(
                select(Post.fetched_at, ClusterMembership.created_at)
                .join(ClusterMembership, ClusterMembership.post_id == Post.id)
                .where(Post.id >= first_live_id))]
            to_alert = _alert_latencies(session, first_live_id)
    return {"throughput_posts_per_s": round(throughput, 1),
            "latency": {"offered_posts_per_s": round(len(live) / offered_seconds, 1),
                        "stored_to_cluster": _quantiles(to_cluster),
                        "stored_to_alert": _quantiles(to_alert)},
            "worker_peak_rss_mb": memory, "worker_pss_mb": held, "backfill_worker_cpu_s": cpu,
            "live_worker_cpu_s": live_cpu}


def _alert_latencies(session, first_live_id: int) -> list[float]:
    """For each alert event on live posts: from the storing of the newest post its cluster had
    when the event was written (the post that tipped it) to the event."""
    latencies = []
    for cluster_id, created_at in session.execute(
            select(Alert.cluster_id, AlertEvent.created_at).join(Alert, Alert.id == AlertEvent.alert_id)):
        tipping = session.scalar(
            select(func.max(Post.fetched_at))
            .join(ClusterMembership, ClusterMembership.post_id == Post.id)
            .where(ClusterMembership.cluster_id == cluster_id, Post.id >= first_live_id,
                   ClusterMembership.created_at <= created_at))
        if tipping is not None:
            latencies.append((created_at - tipping).total_seconds())
    return latencies
