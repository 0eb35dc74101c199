"""`monitor webhooks ...`: newsroom subscriptions, their secrets and the delivery log."""

from __future__ import annotations

import click

from cli.database import session_scope
from cli.options import ACTOR
from config import Settings
from monitor.db.models import LABELS
from monitor.notify.subscriptions import EVENT_TYPES


@click.group("webhooks")
def webhooks_group() -> None:
    """Newsroom webhooks: subscriptions, deliveries and their log."""


@webhooks_group.command("add")
@click.argument("url")
@click.option("--event", "events", multiple=True, type=click.Choice(EVENT_TYPES),
              help="Event type to send (repeatable) [default: all].")
@click.option("--min-score", type=float, help="Only alerts scoring at least this.")
@click.option("--label", "labels", multiple=True, type=click.Choice(LABELS),
              help="Only alerts confirmed with this label (repeatable).")
@click.option("--language", "languages", multiple=True, help="Only clusters with posts in this language.")
@click.option("--source", "source_ids", multiple=True, type=int,
              help="Only clusters with posts from this source id.")
@click.option("--actor", required=True, help="Who adds it (kept in the audit trail).")
@click.pass_obj
def webhooks_add(settings: Settings, url: str, events, min_score, labels, languages, source_ids,
                 actor: str) -> None:
    """Send alert events to URL, signed per Standard Webhooks. Prints the secret once."""
    from monitor.notify.subscriptions import Filters, add_subscription
    from monitor.ssrf import TargetPolicy

    filters = Filters(min_score, list(labels) or None, list(languages) or None, list(source_ids) or None)
    with session_scope(settings) as session:
        subscription = add_subscription(session, url, list(events), filters,
                                         TargetPolicy.from_settings(settings), actor)
        click.echo(f"webhook subscription {subscription.id}: {url}")
        click.echo(f"secret (shown once, keep it in the receiver): {subscription.secret}")


@webhooks_group.command("list")
@click.pass_obj
def webhooks_list(settings: Settings) -> None:
    """Subscriptions with their health; secrets are never shown again."""
    from monitor.notify.subscriptions import list_subscriptions

    with session_scope(settings) as session:
        for sub in list_subscriptions(session):
            state = "enabled" if sub.enabled else f"DISABLED: {sub.disabled_reason or 'by hand'}"
            click.echo(f"{sub.id:>5}  {sub.url}  events={','.join(sub.events)}  [{state}]")


@webhooks_group.command("rotate-secret")
@click.argument("subscription_id", type=int)
@click.option("--overlap-hours", type=float, default=24, show_default=True,
              help="How long the old secret keeps signing too.")
@ACTOR
@click.pass_obj
def webhooks_rotate(settings: Settings, subscription_id: int, overlap_hours: float, actor: str) -> None:
    """A new secret; both are sent during the overlap so the receiver can switch."""
    from datetime import timedelta

    from monitor.notify.subscriptions import rotate_secret

    with session_scope(settings) as session:
        subscription = rotate_secret(session, subscription_id, timedelta(hours=overlap_hours), actor)
        click.echo(f"new secret (shown once): {subscription.secret}")


@webhooks_group.command("enable")
@click.argument("subscription_id", type=int)
@ACTOR
@click.pass_obj
def webhooks_enable(settings: Settings, subscription_id: int, actor: str) -> None:
    """Enable a subscription again (also one disabled after failures)."""
    _set_enabled(settings, subscription_id, True, actor)


@webhooks_group.command("disable")
@click.argument("subscription_id", type=int)
@ACTOR
@click.pass_obj
def webhooks_disable(settings: Settings, subscription_id: int, actor: str) -> None:
    """Stop sending to a subscription."""
    _set_enabled(settings, subscription_id, False, actor)


def _set_enabled(settings: Settings, subscription_id: int, enabled: bool, actor: str) -> None:
    from monitor.notify.subscriptions import set_enabled

    with session_scope(settings) as session:
        set_enabled(session, subscription_id, enabled, actor)
    click.echo(f"subscription {subscription_id} {'enabled' if enabled else 'disabled'}")


@webhooks_group.command("test")
@click.argument("subscription_id", type=int)
@click.pass_obj
def webhooks_test(settings: Settings, subscription_id: int) -> None:
    """Send a webhook.test event to the subscription."""
    from monitor.notify.delivery import plan_test_delivery

    with session_scope(settings) as session:
        delivery_id = plan_test_delivery(session, subscription_id)
    _deliver(settings, [delivery_id])


@webhooks_group.command("redeliver")
@click.argument("delivery_id", type=int)
@click.pass_obj
def webhooks_redeliver(settings: Settings, delivery_id: int) -> None:
    """Send a delivery again, with its original message id and body."""
    from monitor.notify.delivery import redeliver

    with session_scope(settings) as session:
        redeliver(session, delivery_id)
    _deliver(settings, [delivery_id])


@webhooks_group.command("retry-due")
@click.pass_obj
def webhooks_retry_due(settings: Settings) -> None:
    """Attempt every delivery whose retry time has come (beat does this in production)."""
    from monitor.db.models import utcnow
    from monitor.notify.delivery import due_deliveries

    with session_scope(settings) as session:
        due = due_deliveries(session, utcnow())
    _deliver(settings, due)


@webhooks_group.command("deliveries")
@click.option("--subscription", "subscription_id", type=int, help="Only this subscription's.")
@click.option("--limit", type=int, default=20, show_default=True)
@click.pass_obj
def webhooks_deliveries(settings: Settings, subscription_id: int | None, limit: int) -> None:
    """The delivery log: each delivery with its attempts (status code, latency, error)."""
    from monitor.notify.delivery import list_deliveries

    with session_scope(settings) as session:
        for delivery in list_deliveries(session, subscription_id, limit):
            click.echo(f"{delivery.id:>6}  sub {delivery.subscription_id}  {delivery.event_type:<16} "
                       f"{delivery.status:<9} {delivery.message_id}")
            for attempt in delivery.attempt_log:
                click.echo(f"        #{attempt.attempt} {attempt.created_at:%Y-%m-%d %H:%M:%S} "
                           f"status={attempt.status_code} {attempt.latency_ms} ms"
                           + (f" error={attempt.error}" if attempt.error else ""))


def _deliver(settings: Settings, delivery_ids: list[int]) -> None:
    from workers.dispatch import deliver

    for delivery_id, status in zip(delivery_ids, deliver(settings, delivery_ids), strict=True):
        click.echo(f"delivery {delivery_id}: " + (
            "queued" if not settings.celery_always_eager else status or "not due"))
