"""Call waves: one alert for every post that puts the same call in a watched person's mouth.

A deepfake wave is reworded by every channel that carries it, in Russian and in Kazakh:
its posts are not near-duplicates of each other, and the clusters of near-duplicates split
it into many small items. What they share is the watched person they attribute a call to
come out to (the watchlist's spellings in both languages are the bridge between them)
within the alert window. A cluster whose posts attribute such a call to the person of an
open wave, within the window of the wave's last post, is merged into the wave's cluster,
as a moderator's merge would do (its alert, if any, closes as merged); the wave's alert is
then scored over all its posts. A moderator's split is respected: a separated cluster is
never joined back automatically.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.alerts.watchlists import WatchPatterns
from monitor.cluster.assign import refresh_cluster_stats
from monitor.cluster.merge import audit_merge, merge_into, separated
from monitor.db.models import Alert, AlertStatus, Cluster, ClusterMembership, Post

ACTOR = "alert rules"


def call_wave(session: Session, cluster_id: int, patterns: WatchPatterns) -> tuple[str, datetime] | None:
    """The wave key of the call the cluster's posts carry most ("person:ID") and the time of
    its first post that carries it; None when no post attributes a call to a watched person."""
    if not patterns.people:
        return None
    rows = session.execute(select(Post.published_at, Post.text)
                           .join(ClusterMembership, ClusterMembership.post_id == Post.id)
                           .where(ClusterMembership.cluster_id == cluster_id)).all()
    counts: Counter[int] = Counter()
    first: dict[int, datetime] = {}
    for published_at, text in rows:
        for person_id in patterns.read(text).calls:
            counts[person_id] += 1
            first[person_id] = min(first.get(person_id, published_at), published_at)
    if not counts:
        return None
    person_id = max(counts, key=lambda person: (counts[person], -person))
    return f"person:{person_id}", first[person_id]


def join_wave(session: Session, cluster_id: int, key: str, first_call_at: datetime,
              window: timedelta) -> tuple[int, list[int]]:
    """Merge the cluster into the cluster of the open wave KEY whose last post lies within
    WINDOW before FIRST_CALL_AT, if there is one; return (the cluster to assess, alert event ids)."""
    wave = session.scalar(
        select(Alert).join(Cluster, Cluster.id == Alert.cluster_id)
        .where(Alert.wave_key == key, Alert.status != AlertStatus.merged, Alert.cluster_id != cluster_id,
               Cluster.merged_into_id.is_(None), Cluster.last_seen_at >= first_call_at - window)
        .order_by(Alert.id).limit(1))
    if wave is None or separated(session, wave.cluster_id, cluster_id):
        return cluster_id, []
    target, absorbed = session.get(Cluster, wave.cluster_id), session.get(Cluster, cluster_id)
    moved, event_ids = merge_into(session, target, absorbed)
    refresh_cluster_stats(session, {target.id})
    audit_merge(session, ACTOR, target.id, cluster_id, moved,
                f"carries the call of wave {key} (alert {wave.id})")
    session.flush()
    return target.id, event_ids
