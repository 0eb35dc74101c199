"""Sending tasks from outside a worker (the CLI, the web app)."""

from __future__ import annotations

from config import Settings
from workers.celery_app import app, configure


def send(settings: Settings, task, *args):
    """Run TASK: inline with its result in the embedded (eager) mode, else queued (None)."""
    if app.conf.monitor_settings != settings:  # configured once per settings, not per task sent
        configure(app, settings)
    sent = task.delay(*args)
    # An eager result is there already: getting it never waits. Celery's guard against
    # waiting inside a task is one flag for the whole process, which an eager task running
    # for another request's thread (the web app serves on threads) would trip here.
    return sent.get(disable_sync_subtasks=False) if settings.celery_always_eager else None


def notify(settings: Settings, event_ids: list[int]) -> None:
    """Tell subscribers about committed alert events."""
    from workers.tasks import notify_task

    if event_ids:
        send(settings, notify_task, event_ids)


def deliver(settings: Settings, delivery_ids: list[int]) -> list[str | None]:
    """Attempt webhook deliveries now; their outcomes in the embedded mode, else None (queued)."""
    from workers.tasks import deliver_webhook_task

    return [send(settings, deliver_webhook_task, delivery_id) for delivery_id in delivery_ids]
