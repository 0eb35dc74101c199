"""The one Celery app: queues, routes and delivery guarantees in one place.

Delivery is at-least-once (acks_late, task_reject_on_worker_lost): a task whose
worker dies is redelivered, which is safe because every stage is idempotent.
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from config import Settings, load_settings

QUEUES = ("ingest", "embed", "cluster", "notify")


def configure(app: Celery, settings: Settings) -> None:
    """Apply settings to the app; tasks read ``app.conf.monitor_settings``."""
    app.conf.update(
        broker_url=settings.celery_broker_url,
        task_always_eager=settings.celery_always_eager,
        monitor_settings=settings,
        task_eager_propagates=True,
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue="ingest",
        task_routes={f"monitor.{name}.*": {"queue": name} for name in QUEUES},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        beat_schedule={
            "poll-due-feeds": {"task": "monitor.ingest.poll_due_feeds",
                               "schedule": settings.feed_poll_seconds},
            "retry-due-webhooks": {"task": "monitor.notify.retry_due_webhooks",
                                   "schedule": settings.webhook_retry_poll_seconds},
        },
    )


app = Celery("monitor", include=["workers.tasks"])
configure(app, load_settings())
