"""Webhook subscriptions: who wants which alert events, with which filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.db.models import (
    AuditEntry,
    ClusterMembership,
    Post,
    ReviewDecision,
    WebhookSubscription,
    utcnow,
)
from monitor.messages import UserError
from monitor.notify.signing import generate_secret
from monitor.notify.targets import TargetPolicy, check_target

EVENT_TYPES = ("alert.opened", "alert.updated", "alert.confirmed", "alert.dismissed")


class SubscriptionError(UserError):
    pass


@dataclass(frozen=True)
class Filters:
    min_score: float | None = None
    labels: list[str] | None = None
    languages: list[str] | None = None
    source_ids: list[int] | None = None


def add_subscription(session: Session, url: str, events: list[str], filters: Filters,
                     policy: TargetPolicy, actor: str) -> WebhookSubscription:
    """The secret is on the returned object; show it once, it is not shown again."""
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise SubscriptionError(f"unknown event types {unknown}: use {', '.join(EVENT_TYPES)}")
    check_target(url, policy)
    subscription = WebhookSubscription(
        url=url, secret=generate_secret(), events=list(events or EVENT_TYPES),
        min_score=filters.min_score, labels=filters.labels, languages=filters.languages,
        source_ids=filters.source_ids, created_at=utcnow())
    session.add(subscription)
    session.flush()
    _audit(session, actor, "webhook.add", subscription, {"url": url, "events": subscription.events})
    return subscription


def get_subscription(session: Session, subscription_id: int) -> WebhookSubscription:
    subscription = session.get(WebhookSubscription, subscription_id)
    if subscription is None:
        raise SubscriptionError(f"no webhook subscription {subscription_id}")
    return subscription


def rotate_secret(session: Session, subscription_id: int, overlap: timedelta, actor: str,
                  now: datetime | None = None) -> WebhookSubscription:
    """A new secret; the old one keeps signing too until the overlap ends."""
    subscription = get_subscription(session, subscription_id)
    now = now or utcnow()
    subscription.previous_secret = subscription.secret
    subscription.previous_secret_expires_at = now + overlap
    subscription.secret = generate_secret()
    _audit(session, actor, "webhook.rotate_secret", subscription,
           {"overlap_seconds": overlap.total_seconds()})
    return subscription


def set_enabled(session: Session, subscription_id: int, enabled: bool, actor: str) -> None:
    subscription = get_subscription(session, subscription_id)
    subscription.enabled = enabled
    if enabled:
        subscription.disabled_reason, subscription.failure_count = None, 0
    _audit(session, actor, "webhook.enable" if enabled else "webhook.disable", subscription, {})


def secrets_in_use(subscription: WebhookSubscription, now: datetime) -> list[str]:
    in_use = [subscription.secret]
    if subscription.previous_secret and subscription.previous_secret_expires_at and \
            subscription.previous_secret_expires_at > now:
        in_use.append(subscription.previous_secret)
    return in_use


def wants(session: Session, subscription: WebhookSubscription, event_type: str, alert) -> bool:
    """Whether the subscription's event types and filters select this alert event."""
    if not subscription.enabled or event_type not in subscription.events:
        return False
    if subscription.min_score is not None and alert.score < subscription.min_score:
        return False
    if subscription.labels:
        label = session.scalar(select(ReviewDecision.label).where(ReviewDecision.alert_id == alert.id)
                               .order_by(ReviewDecision.id.desc()).limit(1))
        if label not in subscription.labels:
            return False
    if subscription.languages or subscription.source_ids:
        members = session.execute(
            select(Post.language, Post.source_id)
            .join(ClusterMembership, ClusterMembership.post_id == Post.id)
            .where(ClusterMembership.cluster_id == alert.cluster_id)).all()
        if subscription.languages and not {language for language, _ in members} & set(subscription.languages):
            return False
        if subscription.source_ids and not {source for _, source in members} & set(subscription.source_ids):
            return False
    return True


def _audit(session: Session, actor: str, action: str, subscription: WebhookSubscription,
           details: dict) -> None:
    # Never the secret: it is shown once to whoever created it and kept out of every log.
    session.add(AuditEntry(actor=actor, action=action, object_type="webhook_subscription",
                           object_id=str(subscription.id), details=details, created_at=utcnow()))
