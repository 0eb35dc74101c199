"""Which sources of a burst act independently.

Many Telegram news channels belong to networks that repost each other's flashes within
minutes, every day ("Москва с огоньком", "Москва с огоньком Live", "Москва Live"...): by
timing alone each of their stories looks coordinated. As research on coordinated sharing
does (CooRnet's repeated co-sharing), sources that have posted the same claim within the
coordination interval again and again before count as one actor: their baseline. A burst
spreads when enough independent actors carry it; a network's everyday reposting does not
open an alert, and a wave that reaches channels outside their habits does.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from itertools import combinations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.db.models import ClusterMembership, Post


def habitual_pairs(session: Session, source_ids: set[int], cluster_id: int, since: datetime,
                   interval: timedelta) -> Counter[tuple[int, int]]:
    """For each pair of SOURCE_IDS, in how many other clusters since SINCE both posted
    within INTERVAL of each other."""
    shared = (select(ClusterMembership.cluster_id)
              .join(Post, Post.id == ClusterMembership.post_id)
              .where(Post.source_id.in_(source_ids), ClusterMembership.cluster_id != cluster_id,
                     Post.published_at >= since)
              .group_by(ClusterMembership.cluster_id)
              .having(func.count(func.distinct(Post.source_id)) >= 2))
    rows = session.execute(
        select(ClusterMembership.cluster_id, Post.source_id, Post.published_at)
        .join(Post, Post.id == ClusterMembership.post_id)
        .where(ClusterMembership.cluster_id.in_(shared), Post.source_id.in_(source_ids))).all()
    by_cluster: dict[int, dict[int, list[datetime]]] = defaultdict(lambda: defaultdict(list))
    for other_cluster, source_id, published_at in rows:
        by_cluster[other_cluster][source_id].append(published_at)
    pairs: Counter[tuple[int, int]] = Counter()
    for times in by_cluster.values():
        for first, second in combinations(sorted(times), 2):
            if any(abs(a - b) <= interval for a in times[first] for b in times[second]):
                pairs[first, second] += 1
    return pairs


def independent_sources(source_ids: set[int], pairs: Counter[tuple[int, int]], habit: int) -> int:
    """The number of actors among SOURCE_IDS when sources that co-posted in HABIT or more
    earlier clusters count as one (transitively)."""
    parent = {source_id: source_id for source_id in source_ids}

    def root(source_id: int) -> int:
        while parent[source_id] != source_id:
            parent[source_id] = parent[parent[source_id]]
            source_id = parent[source_id]
        return source_id

    for (first, second), count in pairs.items():
        if count >= habit:
            parent[root(first)] = root(second)
    return len({root(source_id) for source_id in source_ids})
