"""Alert rules v1: a cluster that reaches N posts from M distinct sources within a time window.

One alert per cluster. A growing cluster updates its alert and records an
``alert.updated`` event; an unchanged one records nothing, so a redelivered task
sends no duplicate notification.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.alerts.events import record_alert_event
from monitor.db.models import Alert, AlertEvent, ClusterMembership, Post, utcnow


@dataclass(frozen=True)
class SpreadRule:
    min_posts: int
    min_sources: int
    window: timedelta

    @classmethod
    def from_settings(cls, settings) -> "SpreadRule":
        return cls(settings.alert_min_posts, settings.alert_min_sources,
                   timedelta(hours=settings.alert_window_hours))


@dataclass(frozen=True)
class Burst:
    """The busiest stretch of a cluster's timeline no longer than the rule's window."""

    posts: int
    sources: int
    start: datetime
    end: datetime

    @property
    def score(self) -> float:
        # Many sources weigh more than many posts from one source.
        return round(self.sources * math.log2(1 + self.posts), 2)

    def describe(self) -> str:
        hours = (self.end - self.start).total_seconds() / 3600
        return (f"{self.posts} posts from {self.sources} sources within {hours:.1f} h "
                f"({self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC)")


def busiest_window(timeline: list[tuple[datetime, int]], window: timedelta) -> Burst | None:
    """Sliding window over (published_at, source_id) pairs; the one with most sources, then posts."""
    timeline = sorted(timeline)
    best: Burst | None = None
    in_window: Counter[int] = Counter()
    left = 0
    for right, (published, source_id) in enumerate(timeline):
        in_window[source_id] += 1
        while published - timeline[left][0] > window:
            old_source = timeline[left][1]
            in_window[old_source] -= 1
            if not in_window[old_source]:
                del in_window[old_source]
            left += 1
        burst = Burst(right - left + 1, len(in_window), timeline[left][0], published)
        if best is None or (burst.sources, burst.posts) > (best.sources, best.posts):
            best = burst
    return best


def evaluate_alerts(session: Session, cluster_ids: list[int], rule: SpreadRule) -> list[int]:
    """Open or update the alerts of the given clusters; return the ids of new alert events."""
    events = []
    for cluster_id in cluster_ids:
        timeline = session.execute(
            select(Post.published_at, Post.source_id)
            .join(ClusterMembership, ClusterMembership.post_id == Post.id)
            .where(ClusterMembership.cluster_id == cluster_id)
        ).all()
        burst = busiest_window([tuple(row) for row in timeline], rule.window)
        if burst is None or burst.posts < rule.min_posts or burst.sources < rule.min_sources:
            continue
        event = _open_or_update(session, cluster_id, burst,
                                post_count=len(timeline),
                                source_count=len({source for _, source in timeline}))
        if event is not None:
            events.append(event)
    session.flush()
    return [event.id for event in events]


def _open_or_update(session: Session, cluster_id: int, burst: Burst, *, post_count: int,
                    source_count: int) -> AlertEvent | None:
    reasons = [burst.describe(), f"{post_count} posts from {source_count} sources in all"]
    alert = session.scalar(select(Alert).where(Alert.cluster_id == cluster_id))
    now = utcnow()
    if alert is None:
        alert = Alert(cluster_id=cluster_id, opened_at=now)
        session.add(alert)
        kind = "alert.opened"
    elif (alert.post_count, alert.source_count) == (post_count, source_count):
        return None
    else:
        kind = "alert.updated"
    alert.score, alert.reasons = burst.score, reasons
    alert.post_count, alert.source_count, alert.updated_at = post_count, source_count, now
    session.flush()
    return record_alert_event(session, alert, kind, now)
