"""Prometheus metrics of the pipeline. The stages record into these; the web app serves
them at /metrics and each worker on WORKER_METRICS_PORT.

Processes that fork workers (Celery's prefork pool, gunicorn) share their figures
through prometheus-client's multiprocess mode: PROMETHEUS_MULTIPROC_DIR set in the
environment before the processes start.
"""

from __future__ import annotations

import os
from functools import cache

import redis
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import REGISTRY, GaugeMetricFamily

POSTS_INGESTED = Counter("monitor_posts_ingested_total", "Posts stored for the first time",
                         ["source_kind", "source"])
EMBED_BATCH_SIZE = Histogram("monitor_embed_batch_size", "Posts encoded per embed batch",
                             buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
EMBED_SECONDS = Histogram("monitor_embed_seconds", "Seconds to encode one embed batch")
CLUSTER_SECONDS = Histogram("monitor_cluster_assignment_seconds", "Seconds to place one batch of posts",
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
POSTS_CLUSTERED = Counter("monitor_posts_clustered_total", "Posts placed in clusters")
MEDIA_HASHED = Counter("monitor_media_hashed_total", "Media files fetched and hashed, by kind (or failed)",
                       ["kind"])
ALERT_EVENTS = Counter("monitor_alert_events_total", "Alert events recorded", ["kind"])
WEBHOOK_DELIVERIES = Counter("monitor_webhook_delivery_attempts_total",
                             "Webhook delivery attempts by outcome", ["outcome"])
TELEGRAM_CAUGHT_UP = Gauge("monitor_telegram_caught_up_timestamp_seconds",
                           "When the listener last caught each channel up", ["source"],
                           multiprocess_mode="mostrecent")
TELEGRAM_BACKLOG = Gauge("monitor_telegram_channels_due", "Channels due for a catch-up as the round began",
                         multiprocess_mode="mostrecent")
HTTP_REQUESTS = Histogram("monitor_http_request_seconds", "Web requests", ["endpoint", "method", "status"])


@cache
def _broker(url: str) -> redis.Redis:
    # One client (and its connection pool) per process, not one per scrape.
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


class QueueDepths:
    """A collector reading the length of every Celery queue from the Redis broker at scrape time."""

    def __init__(self, broker_url: str, queues: tuple[str, ...]):
        self.broker_url, self.queues = broker_url, queues

    def collect(self):
        gauge = GaugeMetricFamily("monitor_queue_depth", "Tasks waiting in each queue", labels=["queue"])
        try:
            pipeline = _broker(self.broker_url).pipeline(transaction=False)
            for queue in self.queues:
                pipeline.llen(queue)
            for queue, depth in zip(self.queues, pipeline.execute(), strict=True):
                gauge.add_metric([queue], depth)
        except redis.RedisError:
            return  # no broker, no figure: an absent series, not a false zero
        yield gauge


def _pipeline_registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)
        return combined
    return REGISTRY


def exposition(broker_url: str | None, queues: tuple[str, ...]) -> bytes:
    """The text exposition of the pipeline's figures and the queue depths, for one scrape."""
    depths = CollectorRegistry()
    if broker_url:
        depths.register(QueueDepths(broker_url, queues))
    return generate_latest(_pipeline_registry()) + generate_latest(depths)


def serve(port: int, broker_url: str, queues: tuple[str, ...]) -> None:
    """Serve the figures on PORT from a thread of this process (a worker's main process)."""
    served = CollectorRegistry()
    served.register(_Combined(broker_url, queues))
    start_http_server(port, registry=served)


class _Combined:
    def __init__(self, broker_url: str, queues: tuple[str, ...]):
        self.depths = QueueDepths(broker_url, queues)

    def collect(self):
        yield from _pipeline_registry().collect()
        yield from self.depths.collect()
