"""Webhook delivery: planned from the alert-event outbox, sent with short timeouts,
retried with backoff and jitter, logged attempt by attempt.

Alert events are written in the same transaction as the alert, so none is lost if
the broker is. Every delivery keeps one message id and one body for all its attempts,
so receivers can drop duplicates by the ``webhook-id`` header. Retries are driven by
the database (``next_attempt_at``, polled by beat), not by the broker, so a receiver
that is down for hours still gets every event once it is back.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.db.models import (
    Alert,
    AlertEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
    utcnow,
)
from monitor.db.session import dialect_insert
from monitor.messages import NotFound
from monitor.news.http import retry_after_seconds
from monitor.notify.payload import alert_body, test_body
from monitor.notify.signing import signature_header
from monitor.notify.subscriptions import alert_facts, get_subscription, secrets_in_use, wants
from monitor.ssrf import ForbiddenTarget, TargetPolicy, check_target

REDIRECTS_FOLLOWED = 3


@dataclass(frozen=True)
class RetryRules:
    max_attempts: int
    backoff_seconds: float
    max_backoff_seconds: float
    disable_after_failures: int
    timeout_seconds: float

    @classmethod
    def from_settings(cls, settings) -> "RetryRules":
        return cls(settings.webhook_max_attempts, settings.webhook_backoff_seconds,
                   settings.webhook_max_backoff_seconds, settings.webhook_disable_after_failures,
                   settings.webhook_timeout_seconds)

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter over an exponential ceiling; never sooner than Retry-After."""
        ceiling = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1))
        return max(random.uniform(ceiling / 2, ceiling), retry_after or 0.0)


@dataclass(frozen=True)
class Outgoing:
    """What one attempt sends: taken in a short transaction, sent outside any."""

    delivery_id: int
    attempt: int
    url: str
    message_id: str
    body: str
    secrets: list[str]


@dataclass(frozen=True)
class AttemptOutcome:
    status_code: int | None
    latency_ms: float
    error: str | None = None
    retry_after: float | None = None
    refused: bool = False  # the SSRF guard stopped it: no retry will change that

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def worth_retrying(self) -> bool:
        # Timeouts and connection errors (no status), 429 and 5xx; other 4xx never get better.
        if self.refused:
            return False
        return self.status_code is None or self.status_code == 429 or self.status_code >= 500


def plan_deliveries(session: Session, event_ids: list[int], base_url: str) -> list[int]:
    """One delivery per (subscription, event) for the events not planned yet; their ids."""
    events = session.scalars(
        select(AlertEvent).where(AlertEvent.id.in_(event_ids), AlertEvent.notified_at.is_(None))
        .order_by(AlertEvent.id).with_for_update(skip_locked=True)).all()
    subscriptions = session.scalars(
        select(WebhookSubscription).where(WebhookSubscription.enabled.is_(True))).all()
    now = utcnow()
    planned = []
    for event in events:
        facts = alert_facts(session, session.get(Alert, event.alert_id))
        chosen = [sub for sub in subscriptions if wants(sub, event.kind, facts)]
        if chosen:
            body = alert_body(session, event, base_url)
            for subscription in chosen:
                planned.append(_plan(session, subscription.id, event.id, event.kind, body, now))
        event.notified_at = now
    session.flush()
    return [delivery_id for delivery_id in planned if delivery_id is not None]


def plan_test_delivery(session: Session, subscription_id: int) -> int:
    subscription = get_subscription(session, subscription_id)
    now = utcnow()
    return _plan(session, subscription.id, None, "webhook.test", test_body(now, subscription.id), now)


def _plan(session: Session, subscription_id: int, event_id: int | None, event_type: str, body: str,
          now: datetime) -> int | None:
    return session.scalar(
        dialect_insert(session, WebhookDelivery).values(
            subscription_id=subscription_id, event_id=event_id, event_type=event_type, body=body,
            message_id=f"msg_{uuid.uuid4().hex}", status="pending", attempts=0,
            next_attempt_at=now, created_at=now)
        .on_conflict_do_nothing().returning(WebhookDelivery.id))


def claim(session: Session, delivery_id: int, rules: RetryRules, now: datetime) -> Outgoing | None:
    """Take a due delivery for one attempt, or None (delivered, given up, or not due yet).

    The claim pushes ``next_attempt_at`` past the attempt's own timeout, so the beat
    sweeper does not hand the same delivery to a second worker meanwhile.
    """
    delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True)
    if delivery is None or delivery.status != "pending" or delivery.next_attempt_at > now:
        return None
    subscription = delivery.subscription
    if not subscription.enabled:
        return None
    delivery.attempts += 1
    delivery.next_attempt_at = now + timedelta(seconds=rules.timeout_seconds * (REDIRECTS_FOLLOWED + 2))
    return Outgoing(delivery.id, delivery.attempts, subscription.url, delivery.message_id,
                    delivery.body, secrets_in_use(subscription, now))


def send(client: httpx.Client, outgoing: Outgoing, policy: TargetPolicy) -> AttemptOutcome:
    """POST the body, signed; 307/308 redirects are followed only to allowed targets."""
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": outgoing.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(outgoing.secrets, outgoing.message_id, timestamp,
                                              outgoing.body),
    }
    started = time.perf_counter()
    url = outgoing.url
    try:
        for _ in range(REDIRECTS_FOLLOWED + 1):
            check_target(url, policy)
            response = client.post(url, content=outgoing.body.encode(), headers=headers)
            if response.status_code not in (307, 308):
                break
            url = str(response.url.join(response.headers.get("location", "")))
        else:
            return AttemptOutcome(None, _since(started), f"more than {REDIRECTS_FOLLOWED} redirects")
    except ForbiddenTarget as error:
        return AttemptOutcome(None, _since(started), f"refused: {error}", refused=True)
    except httpx.TimeoutException:
        return AttemptOutcome(None, _since(started), "timed out")
    except httpx.HTTPError as error:
        return AttemptOutcome(None, _since(started), f"{type(error).__name__}: {error}")
    error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
    return AttemptOutcome(response.status_code, _since(started), error,
                          retry_after_seconds(response.headers.get("retry-after")))


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def record(session: Session, outgoing: Outgoing, outcome: AttemptOutcome, rules: RetryRules,
           now: datetime) -> str:
    """Log the attempt and move the delivery on; returns its status."""
    delivery = session.get(WebhookDelivery, outgoing.delivery_id, with_for_update=True)
    subscription = delivery.subscription
    session.add(WebhookAttempt(delivery_id=delivery.id, attempt=outgoing.attempt,
                               status_code=outcome.status_code, latency_ms=outcome.latency_ms,
                               error=outcome.error, created_at=now))
    delivery.last_error = outcome.error
    if outcome.delivered:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", now, None
        subscription.failure_count = 0
    elif outcome.worth_retrying and delivery.attempts < rules.max_attempts:
        delivery.next_attempt_at = now + timedelta(seconds=rules.backoff(delivery.attempts,
                                                                         outcome.retry_after))
    else:
        delivery.status, delivery.next_attempt_at = "failed", None
        subscription.failure_count += 1
        if subscription.failure_count >= rules.disable_after_failures:
            subscription.enabled = False
            subscription.disabled_reason = (
                f"disabled after {subscription.failure_count} deliveries failed in a row; "
                f"last: {outcome.error}")
    return delivery.status


def due_deliveries(session: Session, now: datetime, limit: int = 500) -> list[int]:
    return list(session.scalars(
        select(WebhookDelivery.id)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now,
               WebhookSubscription.enabled.is_(True))
        .order_by(WebhookDelivery.next_attempt_at).limit(limit)))


def list_deliveries(session: Session, subscription_id: int | None, limit: int) -> list[WebhookDelivery]:
    """The delivery log, newest first (each delivery's attempts are on it)."""
    query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
    if subscription_id is not None:
        query = query.where(WebhookDelivery.subscription_id == subscription_id)
    return list(session.scalars(query))


def redeliver(session: Session, delivery_id: int) -> int:
    """Send a delivery again, whatever became of it: same message id, same body. Returns its
    subscription's id."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise NotFound(f"no webhook delivery {delivery_id}")
    delivery.status, delivery.next_attempt_at = "pending", utcnow()
    return delivery.subscription_id
