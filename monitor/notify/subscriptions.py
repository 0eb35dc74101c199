"""Webhook subscriptions: who wants which alert events, with which filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.db.models import AuditEntry, ClusterMembership, Post, WebhookSubscription, utcnow
from monitor.messages import NotFound, UserError
from monitor.notify.signing import generate_secret
from monitor.review.decisions import latest_label
from monitor.ssrf import TargetPolicy, check_target

EVENT_TYPES = ("alert.opened", "alert.updated", "alert.confirmed", "alert.dismissed", "alert.reopened",
               "alert.merged")


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


def list_subscriptions(session: Session) -> list[WebhookSubscription]:
    return list(session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)))


def get_subscription(session: Session, subscription_id: int) -> WebhookSubscription:
    subscription = session.get(WebhookSubscription, subscription_id)
    if subscription is None:
        raise NotFound(f"no webhook subscription {subscription_id}")
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


@dataclass(frozen=True)
class AlertFacts:
    """What subscription filters look at, read once per event for all subscriptions."""

    score: float
    label: str | None
    languages: frozenset[str]
    source_ids: frozenset[int]


def alert_facts(session: Session, alert) -> AlertFacts:
    members = session.execute(
        select(Post.language, Post.source_id)
        .join(ClusterMembership, ClusterMembership.post_id == Post.id)
        .where(ClusterMembership.cluster_id == alert.cluster_id)).all()
    return AlertFacts(alert.score, latest_label(session, alert.id),
                      frozenset(language for language, _ in members if language),
                      frozenset(source for _, source in members))


def wants(subscription: WebhookSubscription, event_type: str, facts: AlertFacts) -> bool:
    """Whether the subscription's event types and filters select this alert event."""
    if not subscription.enabled or event_type not in subscription.events:
        return False
    if subscription.min_score is not None and facts.score < subscription.min_score:
        return False
    if subscription.labels and facts.label not in subscription.labels:
        return False
    if subscription.languages and not facts.languages & set(subscription.languages):
        return False
    return not (subscription.source_ids and not facts.source_ids & set(subscription.source_ids))


def _audit(session: Session, actor: str, action: str, subscription: WebhookSubscription,
           details: dict) -> None:
    # Never the secret: it is shown once to whoever created it and kept out of every log.
    session.add(AuditEntry(actor=actor, action=action, object_type="webhook_subscription",
                           object_id=str(subscription.id), details=details, created_at=utcnow()))
