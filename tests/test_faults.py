"""Faults injected into the real topology (Celery workers, Redis, PostgreSQL on 127.0.0.1):
a worker killed in the middle of a batch, Redis restarted with its queues lost,
PostgreSQL gone for a minute. Every post must end up clustered exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import datetime

import pytest
import redis
from sqlalchemy import func, select

from config.queues import QUEUES
from monitor.db.models import ClusterMembership, Post, PostStage, Stage
from tests.conftest import CeleryWorker, monitor_command, poll_until, real_channel_posts
from tests.faults import RedisServer, TcpProxy

POSTS = 300


@pytest.fixture
def broker(tmp_path):
    server = RedisServer(tmp_path).start()
    yield server
    server.kill()


@pytest.fixture
def channel_posts(tmp_path):
    posts = real_channel_posts(since="2024-12-01")[:POSTS]
    path = tmp_path / "posts.jsonl"
    path.write_text("\n".join(json.dumps({"source": str(post["sender_id"]), "id": post["message_id"],
                                          "date": post["date"], "text": post["text"]}, ensure_ascii=False)
                              for post in posts))
    return path


def stage_counts(database) -> dict[Stage, int]:
    with database.session() as session:
        return dict(session.execute(select(PostStage.stage, func.count()).group_by(PostStage.stage)).all())


def wait_for(condition, timeout: float, what: str, database=None, worker: CeleryWorker | None = None) -> None:
    """conftest's poll_until, which on time-out also says where the posts are and what the worker logged."""
    def explain() -> str:
        stages = f"; posts by stage: {stage_counts(database)}" if database else ""
        log = worker.log_tail(6000) if worker else ""
        return stages + log
    poll_until(condition, timeout, what, explain)


def settled(database, expected: int) -> bool:
    counts = stage_counts(database)
    return counts.get(Stage.clustered, 0) + counts.get(Stage.skipped, 0) == expected


def mid_way(database) -> bool:
    """Every post stored (what the import sent is done with) and the work on them begun."""
    counts = stage_counts(database)
    return sum(counts.values()) == POSTS and counts.get(Stage.stored, 0) < POSTS


def assert_clustered_exactly_once(database, expected: int) -> None:
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Post)) == expected
        clustered = session.scalar(select(func.count()).select_from(PostStage)
                                   .where(PostStage.stage == Stage.clustered))
        memberships = session.scalar(select(func.count()).select_from(ClusterMembership))
        assert memberships == clustered  # one place per post: none lost, none twice
        assert session.scalar(select(func.count(func.distinct(ClusterMembership.post_id)))) == memberships


def queued(database_url: str, broker_url: str, *args: str) -> None:
    """Run a `monitor` command that sends its work to the broker."""
    result = monitor_command(*args, env={"DATABASE_URL": database_url, "CELERY_BROKER_URL": broker_url,
                                         "CELERY_ALWAYS_EAGER": "false"})
    assert result.returncode == 0, result.stderr


def import_posts(database_url: str, broker_url: str, path) -> None:
    queued(database_url, broker_url, "import", str(path))


def sweep(database_url: str, broker_url: str) -> None:
    queued(database_url, broker_url, "sweep", "--older-than", "0")


def pool_children(worker: CeleryWorker) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(worker.process.pid)], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def test_a_worker_process_killed_mid_batch_loses_and_duplicates_nothing(own_postgres, broker, channel_posts,
                                                                         tmp_path):
    worker = CeleryWorker(own_postgres.url, broker.url, tmp_path / "worker.log")
    worker.start()
    try:
        import_posts(own_postgres.url, broker.url, channel_posts)
        # Kill the pool's processes with SIGKILL while they embed and cluster, twice.
        for moment in (Stage.embedded, Stage.clustered):
            wait_for(lambda moment=moment: stage_counts(own_postgres).get(moment, 0) > 0, 300,
                     f"{moment.value} posts")
            for pid in pool_children(worker):
                os.kill(pid, signal.SIGKILL)
        wait_for(lambda: settled(own_postgres, POSTS), 600, "every post to settle after the kills",
                 own_postgres, worker)
    finally:
        worker.stop()
    assert_clustered_exactly_once(own_postgres, POSTS)
    assert "WorkerLostError" in (tmp_path / "worker.log").read_text()  # the kills did land


def test_redis_restarted_with_its_queues_lost_is_caught_up_by_the_sweep(own_postgres, broker, channel_posts,
                                                                         tmp_path):
    import_posts(own_postgres.url, broker.url, channel_posts)  # queued; no worker yet
    broker.kill()  # every queued task is gone with it
    broker.start()
    worker = CeleryWorker(own_postgres.url, broker.url, tmp_path / "worker.log")
    worker.start()
    try:
        assert stage_counts(own_postgres) == {}  # the posts were only in the lost messages...
        import_posts(own_postgres.url, broker.url, channel_posts)  # ...so the import is run again
        wait_for(lambda: mid_way(own_postgres), 300, "every post stored and work on some begun")
        broker.kill()  # lost again, now mid-way: stored and embedded posts wait in the database
        broker.start()
        sweep(own_postgres.url, broker.url)
        wait_for(lambda: settled(own_postgres, POSTS), 600, "the sweep to finish the work",
                 own_postgres, worker)
    finally:
        worker.stop()
    assert_clustered_exactly_once(own_postgres, POSTS)


def test_postgresql_gone_for_a_minute_is_waited_out(own_postgres, broker, channel_posts, tmp_path):
    proxy = TcpProxy(5432).start()
    through_proxy = own_postgres.url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    assert through_proxy != own_postgres.url
    worker = CeleryWorker(through_proxy, broker.url, tmp_path / "worker.log")
    worker.start()
    try:
        import_posts(own_postgres.url, broker.url, channel_posts)
        wait_for(lambda: stage_counts(own_postgres).get(Stage.clustered, 0) > 0, 300, "clustering to start",
                 own_postgres, worker)
        proxy.cut()
        time.sleep(60)
        proxy.restore()
        wait_for(lambda: settled(own_postgres, POSTS), 600, "every post to settle after the outage",
                 own_postgres, worker)
    finally:
        worker.stop()
    assert_clustered_exactly_once(own_postgres, POSTS)
    assert "Retry in" in (tmp_path / "worker.log").read_text()  # the outage was felt, and retried


def test_a_transaction_a_lost_worker_left_open_is_ended_by_postgresql(own_postgres):
    # What frees the cluster-assignment lock when a worker vanishes without closing its
    # connection (a network cut no FIN crosses): its backend ends the idle transaction.
    from sqlalchemy import text

    from monitor.db.session import make_engine

    engine = make_engine(own_postgres.url)
    try:
        with engine.connect() as connection:
            assert connection.scalar(text("SHOW idle_in_transaction_session_timeout")) == "1min"
            assert connection.scalar(text("SHOW tcp_keepalives_idle")) == "30"
    finally:
        engine.dispose()


SOAK_SECONDS, SOAK_RATE = 120, 5  # posts offered per second, on loopback only


def test_a_steady_load_for_minutes_reconciles_offered_stored_and_clustered(own_postgres, broker, tmp_path):
    from celery import Celery

    from monitor.ingest.records import PostRecord

    posts = real_channel_posts(since="2024-06-01")[: SOAK_SECONDS * SOAK_RATE]
    assert len(posts) == SOAK_SECONDS * SOAK_RATE
    worker = CeleryWorker(own_postgres.url, broker.url, tmp_path / "worker.log")
    worker.start()
    # A producer of its own, as an outside ingester would be: the test process's Celery app
    # may already hold connections to another broker.
    producer = Celery(broker=broker.url, set_as_current=False)
    try:
        started = time.monotonic()
        for second in range(SOAK_SECONDS):
            batch = posts[second * SOAK_RATE:(second + 1) * SOAK_RATE]
            producer.send_task("monitor.ingest.store_posts", queue="ingest", args=[[PostRecord(
                source_kind="telegram", source_key=str(post["sender_id"]),
                external_id=str(post["message_id"]), text=post["text"],
                published_at=datetime.fromisoformat(post["date"])).to_message() for post in batch]])
            time.sleep(max(0.0, started + second + 1 - time.monotonic()))
        wait_for(lambda: settled(own_postgres, len(posts)), 600, "the offered posts to settle",
                 own_postgres, worker)
        client = redis.Redis.from_url(broker.url)
        wait_for(lambda: sum(client.llen(queue) for queue in QUEUES) == 0, 60, "empty queues")
    finally:
        producer.close()
        worker.stop()
    assert_clustered_exactly_once(own_postgres, len(posts))  # offered = stored = clustered (or skipped)


def test_a_cluster_worker_killed_mid_batch_restarts_from_its_index_snapshot(own_postgres, broker,
                                                                            channel_posts, tmp_path):
    snapshots = tmp_path / "snapshots"
    others = CeleryWorker(own_postgres.url, broker.url, tmp_path / "others.log",
                          queues=",".join(queue for queue in QUEUES if queue != "cluster"))
    cluster = CeleryWorker(own_postgres.url, broker.url, tmp_path / "cluster.log", queues="cluster",
                           concurrency=1, settings={"CLUSTER_SNAPSHOT_DIR": str(snapshots),
                                                    "CLUSTER_SNAPSHOT_MINUTES": "0"})
    others.start()
    cluster.start()
    try:
        import_posts(own_postgres.url, broker.url, channel_posts)
        wait_for(lambda: any(snapshots.glob("index-*")), 300, "a first index snapshot", own_postgres, cluster)
        for pid in pool_children(cluster):  # in the middle of a batch, or of saving the next snapshot
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: settled(own_postgres, POSTS), 600, "every post to settle after the kill",
                 own_postgres, cluster)
    finally:
        cluster.stop()  # a process that stops saves its index
        others.stop()
    assert_clustered_exactly_once(own_postgres, POSTS)
    log = (tmp_path / "cluster.log").read_text()
    assert "WorkerLostError" in log or "SIGKILL" in log  # the kill did land
    assert "loaded from snapshot" in log  # the process that replaced it did not rebuild the index
    newest = sorted(snapshots.glob("index-*"))[-1]
    with own_postgres.session() as session:
        placed = session.scalar(select(func.count()).select_from(ClusterMembership))
    assert json.loads((newest / "manifest.json").read_text())["posts"] == placed  # each post once
