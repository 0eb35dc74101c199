"""Thin tasks: load, call monitor/, commit, then enqueue the next stage.

The next stage is sent only after the unit of work has committed, so a fast
worker never looks for rows that are not visible yet.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from monitor import metrics, runtime
from monitor.alerts.known_claims import embed_new_claims
from monitor.alerts.rules import AlertPolicy, evaluate_alerts
from monitor.cluster.assign import WAITING_TAKEN, assign_posts
from monitor.db.alert_events import count_event_kinds
from monitor.db.models import utcnow
from monitor.embed.stage import claim_pending, embedded_among, new_claim, store_embeddings
from monitor.ingest.records import PostRecord
from monitor.ingest.store import store_posts
from monitor.media.hashing import HashLimits
from monitor.media.stage import (
    MediaRules,
    obtain,
    pending_media,
    place_by_media,
    posts_with_media,
    record_media,
)
from monitor.news.feeds import FeedEntry
from monitor.news.http import HttpPolicy
from monitor.news.poll import (
    article_slot,
    begin_feed_fetch,
    fetch_article,
    fetch_feed,
    finish_feed_fetch,
)
from monitor.news.sources import HealthRules, claim_due_feeds
from monitor.notify.delivery import (
    RetryRules,
    claim,
    due_deliveries,
    plan_deliveries,
    record,
    send,
)
from monitor.similarity import MatchRules
from monitor.ssrf import TargetPolicy
from monitor.sweep import find_stalled
from workers.base import MonitorTask, StageTask
from workers.celery_app import app

log = logging.getLogger(__name__)


def _batches(ids: list[int], size: int) -> list[list[int]]:
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def _store_and_forward(task: MonitorTask, records: list[PostRecord]) -> int:
    with task.unit_of_work() as session:
        result = store_posts(session, records)
    for (kind, key), count in result.new_by_source.items():
        metrics.POSTS_INGESTED.labels(kind, key).inc(count)
    log.info("stored %d new posts of %d", len(result.new_post_ids), len(records))
    for batch in _batches(result.new_post_ids, task.settings.embed_batch_size):
        embed_posts_task.delay(batch)
    for post_id in result.with_media:
        hash_media_task.delay(post_id)
    return len(result.new_post_ids)


@app.task(name="monitor.ingest.store_posts", base=StageTask, bind=True)  # the posts live only in this message
def store_posts_task(task: StageTask, records: list[dict]) -> int:
    return _store_and_forward(task, [PostRecord.from_message(record) for record in records])


@app.task(name="monitor.ingest.poll_due_feeds", base=MonitorTask, bind=True)
def poll_due_feeds_task(task: MonitorTask) -> int:
    """Run by beat every FEED_POLL_SECONDS: queue a fetch for each feed whose time has come."""
    with task.unit_of_work() as session:
        due = claim_due_feeds(session, utcnow())
    for source_id in due:
        fetch_feed_task.delay(source_id)
    return len(due)


@app.task(name="monitor.ingest.fetch_feed", base=MonitorTask, bind=True)
def fetch_feed_task(task: MonitorTask, source_id: int) -> dict:
    settings = task.settings
    with task.unit_of_work() as session:
        request = begin_feed_fetch(session, source_id, settings.domain_min_interval_seconds, utcnow())
    time.sleep(request.wait_seconds)
    outcome = fetch_feed(runtime.http_client(settings), request, HttpPolicy.from_settings(settings),
                         runtime.robots_rules(settings))
    with task.unit_of_work() as session:
        new_entries = finish_feed_fetch(session, source_id, outcome,
                                        HealthRules.from_settings(settings), utcnow())
    for entry in new_entries:
        fetch_article_task.delay(source_id, request.url, entry.to_message())
    if outcome.reviews is None:
        return {"status": outcome.status, "new_entries": len(new_entries), "error": outcome.error,
                "warning": outcome.warning}
    if outcome.reviews.claims:
        embed_claims_task.delay()  # the new and changed ones
    return {"status": outcome.status, "reviews": len(outcome.reviews.claims), "error": outcome.error,
            "warning": outcome.warning}


@app.task(name="monitor.ingest.fetch_article", base=MonitorTask, bind=True)
def fetch_article_task(task: MonitorTask, source_id: int, source_key: str, entry: dict) -> int:
    settings = task.settings
    feed_entry = FeedEntry.from_message(entry)
    with task.unit_of_work() as session:
        wait = article_slot(session, feed_entry, settings.domain_min_interval_seconds, utcnow())
    if wait is None:
        return 0
    time.sleep(wait)
    record = fetch_article(runtime.http_client(settings), source_key, feed_entry,
                           HttpPolicy.from_settings(settings), runtime.robots_rules(settings))
    return _store_and_forward(task, [record])


@app.task(name="monitor.embed.embed_posts", base=StageTask, bind=True)
def embed_posts_task(task: StageTask, post_ids: list[int]) -> int:
    settings, encoder = task.settings, runtime.encoder(task.settings)
    with task.unit_of_work() as session:
        # Claimed under the task's id: delivered again after a crash, it takes its posts back.
        pending = claim_pending(session, post_ids, task.request.id or new_claim(),
                                max(0, settings.embed_batch_size - len(post_ids)))
        # Under a stream of one-post tasks most find their post taken by an earlier task:
        # nothing to encode or store. One delivered again after storing its vectors finds
        # its posts embedded, and sends them on as its first delivery did not.
        ready = [] if pending.post_ids else embedded_among(session, post_ids)
        # Posts with no words are placed by their media, if they have any.
        wordless_media = posts_with_media(session, pending.skipped) if pending.skipped else []
    metrics.EMBED_BATCH_SIZE.observe(len(pending.texts))
    if pending.post_ids:
        with metrics.EMBED_SECONDS.time():
            vectors = encoder.encode(pending.texts)  # no transaction open while the model works
        with task.unit_of_work() as session:
            ready = store_embeddings(session, post_ids, pending, vectors, encoder.model_id)
        log.info("embedded %d posts with %s", len(pending.texts), encoder.model_id)
        embed_new_claims(task.sessions, encoder)
    if ready:
        cluster_posts_task.delay(ready)
    if wordless_media:
        place_media_task.delay(wordless_media)
    return len(ready)


@app.task(name="monitor.embed.embed_claims", base=StageTask, bind=True)
def embed_claims_task(task: StageTask) -> int:
    """Embed the known claims that have no vector of the model (after an import)."""
    return embed_new_claims(task.sessions, runtime.encoder(task.settings))


@app.task(name="monitor.cluster.cluster_posts", base=StageTask, bind=True)
def cluster_posts_task(task: StageTask, post_ids: list[int]) -> int:
    settings = task.settings
    index = runtime.cluster_index(settings)
    try:
        with task.unit_of_work() as session:
            with metrics.CLUSTER_SECONDS.time():
                placed = assign_posts(session, index, post_ids, MatchRules.from_settings(settings),
                                      WAITING_TAKEN)
            clusters = placed.cluster_ids
            events = placed.event_ids + evaluate_alerts(session, clusters,
                                                        AlertPolicy.from_settings(settings))
            kinds = count_event_kinds(session, events)
            with_media = posts_with_media(session, post_ids)
    except BaseException:
        # It holds vectors of the rolled-back batch: the next task starts again from the
        # newest snapshot, or else from the database.
        index.reset()
        runtime.cluster_index.cache_clear()
        raise
    metrics.POSTS_CLUSTERED.inc(placed.posts)
    log.info("placed %d posts in %d clusters; %d alert events", placed.posts, len(clusters), len(events))
    if (snapshots := runtime.snapshot_schedule(settings)) is not None:
        snapshots.after_task(index)
    _announce(events, kinds)
    if with_media:
        place_media_task.delay(with_media)
    return len(clusters)


@app.task(name="monitor.media.hash_media", base=StageTask, bind=True)
def hash_media_task(task: StageTask, post_id: int) -> int:
    """Fetch and fingerprint the post's media, then place the post by them."""
    settings = task.settings
    with task.unit_of_work() as session:
        pending = pending_media(session, post_id)
    store, limits = runtime.media_store(settings), HashLimits.from_settings(settings)
    client = runtime.http_client(settings)
    obtained = [obtain(store, row_id, origin, client, limits) for row_id, origin in pending]
    with task.unit_of_work() as session:
        record_media(session, obtained)
    for result in obtained:
        metrics.MEDIA_HASHED.labels("failed" if result.error else result.fingerprint.kind).inc()
    place_media_task.delay([post_id])
    return len(obtained)


@app.task(name="monitor.media.place_by_media", base=StageTask, bind=True)
def place_media_task(task: StageTask, post_ids: list[int]) -> int:
    settings, index = task.settings, runtime.media_index(task.settings)
    try:
        with task.unit_of_work() as session:
            clusters = place_by_media(session, index, post_ids, MediaRules.from_settings(settings))
            events = evaluate_alerts(session, clusters, AlertPolicy.from_settings(settings))
            kinds = count_event_kinds(session, events)
    except BaseException:
        index.reset()  # it may hold hashes of the rolled-back transaction
        raise
    _announce(events, kinds)
    return len(clusters)


def _announce(event_ids: list[int], kinds: dict[str, int]) -> None:
    """Count committed alert events by kind, and send them to the notify stage."""
    for kind, count in kinds.items():
        metrics.ALERT_EVENTS.labels(kind).inc(count)
    if event_ids:
        notify_task.delay(event_ids)


@app.task(name="monitor.ingest.sweep_stalled", base=MonitorTask, bind=True)
def sweep_stalled_task(task: MonitorTask, older_than_seconds: float = 600) -> dict:
    """Send again the work the database says has stalled (runs on a schedule, or by hand)."""
    with task.unit_of_work() as session:
        stalled = find_stalled(session, timedelta(seconds=older_than_seconds))
    for batch in _batches(stalled.to_embed, task.settings.embed_batch_size):
        embed_posts_task.delay(batch)
    for batch in _batches(stalled.to_cluster, task.settings.embed_batch_size):
        cluster_posts_task.delay(batch)
    if stalled.to_notify:
        notify_task.delay(stalled.to_notify)
    for post_id in stalled.to_hash_media:
        hash_media_task.delay(post_id)
    for batch in _batches(stalled.to_place_media, task.settings.embed_batch_size):
        place_media_task.delay(batch)
    return {"embed": len(stalled.to_embed), "cluster": len(stalled.to_cluster),
            "notify": len(stalled.to_notify), "media_hash": len(stalled.to_hash_media),
            "media_place": len(stalled.to_place_media)}


@app.task(name="monitor.media.remove_expired_files", base=MonitorTask, bind=True)
def remove_expired_media_task(task: MonitorTask) -> int:
    """Run by beat hourly: files kept longer than MEDIA_RETENTION_DAYS go; their hashes stay."""
    settings = task.settings
    with task.unit_of_work() as session:
        return runtime.media_store(settings).remove_expired(
            session, utcnow() - timedelta(days=settings.media_retention_days))


@app.task(name="monitor.notify.plan_deliveries", base=MonitorTask, bind=True)
def notify_task(task: MonitorTask, event_ids: list[int]) -> int:
    with task.unit_of_work() as session:
        deliveries = plan_deliveries(session, event_ids, task.settings.public_base_url)
    for delivery_id in deliveries:
        deliver_webhook_task.delay(delivery_id)
    return len(deliveries)


@app.task(name="monitor.notify.deliver_webhook", base=MonitorTask, bind=True)
def deliver_webhook_task(task: MonitorTask, delivery_id: int) -> str | None:
    """One attempt; a failed one is retried later by the beat sweep, from the database."""
    settings = task.settings
    rules = RetryRules.from_settings(settings)
    with task.unit_of_work() as session:
        outgoing = claim(session, delivery_id, rules, utcnow())
    if outgoing is None:
        return None
    outcome = send(runtime.webhook_client(settings), outgoing, TargetPolicy.from_settings(settings))
    with task.unit_of_work() as session:
        status = record(session, outgoing, outcome, rules, utcnow())
    metrics.WEBHOOK_DELIVERIES.labels(status).inc()
    return status


@app.task(name="monitor.notify.retry_due_webhooks", base=MonitorTask, bind=True)
def retry_due_webhooks_task(task: MonitorTask) -> int:
    """Run by beat every WEBHOOK_RETRY_POLL_SECONDS."""
    with task.unit_of_work() as session:
        due = due_deliveries(session, utcnow())
    for delivery_id in due:
        deliver_webhook_task.delay(delivery_id)
    return len(due)
