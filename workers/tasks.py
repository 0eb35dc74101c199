"""Thin tasks: load, call monitor/, commit, then enqueue the next stage.

The next stage is sent only after the unit of work has committed, so a fast
worker never looks for rows that are not visible yet.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from monitor.alerts.rules import SpreadRule, evaluate_alerts
from monitor.cluster.assign import assign_posts
from monitor.db.session import unit_of_work
from monitor.embed.stage import embed_posts
from monitor.ingest.records import PostRecord
from monitor.ingest.store import store_posts
from monitor.notify.outbox import dispatch_events
from monitor.similarity import MatchRules
from monitor.sweep import find_stalled
from workers import runtime
from workers.celery_app import app

log = logging.getLogger(__name__)


def _settings():
    return app.conf.monitor_settings


def _batches(ids: list[int], size: int) -> list[list[int]]:
    return [ids[start : start + size] for start in range(0, len(ids), size)]


@app.task(name="monitor.ingest.store_posts")
def store_posts_task(records: list[dict]) -> int:
    settings = _settings()
    with unit_of_work(runtime.session_factory(settings)) as session:
        result = store_posts(session, [PostRecord.from_message(record) for record in records])
    for batch in _batches(result.new_post_ids, settings.embed_batch_size):
        embed_posts_task.delay(batch)
    return len(result.new_post_ids)


@app.task(name="monitor.embed.embed_posts")
def embed_posts_task(post_ids: list[int]) -> int:
    settings = _settings()
    with unit_of_work(runtime.session_factory(settings)) as session:
        ready = embed_posts(session, runtime.encoder(settings), post_ids)
    if ready:
        cluster_posts_task.delay(ready)
    return len(ready)


@app.task(name="monitor.cluster.cluster_posts")
def cluster_posts_task(post_ids: list[int]) -> int:
    settings = _settings()
    index = runtime.cluster_index(settings)
    try:
        with unit_of_work(runtime.session_factory(settings)) as session:
            clusters = assign_posts(session, index, post_ids, MatchRules.from_settings(settings))
            events = evaluate_alerts(session, clusters, SpreadRule.from_settings(settings))
    except BaseException:
        index.reset()  # it holds vectors of the rolled-back batch
        raise
    if events:
        notify_task.delay(events)
    return len(clusters)


@app.task(name="monitor.ingest.sweep_stalled")
def sweep_stalled_task(older_than_seconds: float = 600) -> dict:
    """Send again the work the database says has stalled (runs on a schedule, or by hand)."""
    settings = _settings()
    with unit_of_work(runtime.session_factory(settings)) as session:
        stalled = find_stalled(session, timedelta(seconds=older_than_seconds))
    for batch in _batches(stalled.to_embed, settings.embed_batch_size):
        embed_posts_task.delay(batch)
    for batch in _batches(stalled.to_cluster, settings.embed_batch_size):
        cluster_posts_task.delay(batch)
    if stalled.to_notify:
        notify_task.delay(stalled.to_notify)
    return {"embed": len(stalled.to_embed), "cluster": len(stalled.to_cluster),
            "notify": len(stalled.to_notify)}


@app.task(name="monitor.notify.dispatch_events")
def notify_task(event_ids: list[int]) -> int:
    with unit_of_work(runtime.session_factory(_settings())) as session:
        return len(dispatch_events(session, event_ids))
