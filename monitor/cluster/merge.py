"""Joining two clusters that carry one claim, and keeping apart two that do not.

A merge comes from a moderator (monitor/review/clusters.py), from the cluster stage,
when a post carries the claim of two clusters whose first posts carry the same claim too
(assign.py), or from the alert stage, when a cluster carries the call of a watched
person's wave (monitor/alerts/waves.py). A moderator's merge is a must-link by
construction: the posts now share one cluster, and nothing splits clusters automatically.
A moderator's split records a separation, a cannot-link between the two clusters that
automatic merges respect; merges carry separations over to the cluster that absorbs.
"""

from __future__ import annotations

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from monitor.db.alert_events import record_alert_event
from monitor.db.models import (
    AlertStatus,
    AuditEntry,
    Cluster,
    ClusterMembership,
    ClusterSeparation,
    Post,
    utcnow,
)


def separate(session: Session, cluster_id: int, other_cluster_id: int, actor: str) -> None:
    """Record that the two clusters must not be joined automatically."""
    low, high = sorted((cluster_id, other_cluster_id))
    if not separated(session, low, high):
        session.add(ClusterSeparation(cluster_id=low, other_cluster_id=high, created_by=actor))
        session.flush()


def separated(session: Session, cluster_id: int, other_cluster_id: int) -> bool:
    low, high = sorted((cluster_id, other_cluster_id))
    return session.scalar(select(ClusterSeparation.id).where(
        ClusterSeparation.cluster_id == low, ClusterSeparation.other_cluster_id == high)) is not None


def merge_into(session: Session, target: Cluster, absorbed: Cluster) -> tuple[int, list[int]]:
    """Move every post of ABSORBED into TARGET; return (posts moved, alert event ids).

    The absorbed cluster stays, empty, pointing at the target, so links to it still lead
    somewhere. Its alert moves to the target if the target has none; otherwise it is
    closed as merged and the target's alert carries on. The caller refreshes the target's
    figures and holds the cluster-assignment lock.
    """
    moved = session.execute(update(ClusterMembership)
                            .where(ClusterMembership.cluster_id == absorbed.id)
                            .values(cluster_id=target.id)).rowcount
    absorbed.merged_into_id, absorbed.post_count, absorbed.source_count = target.id, 0, 0
    absorbed.representative_post_id = None
    _carry_separations(session, target.id, absorbed.id)
    event_ids = []
    if absorbed.alert is not None:
        if target.alert is None:
            absorbed.alert.cluster_id = target.id
        else:
            now = utcnow()
            absorbed.alert.status, absorbed.alert.updated_at = AlertStatus.merged, now
            event = record_alert_event(session, absorbed.alert, "alert.merged", now)
            session.flush()
            event_ids.append(event.id)
    return moved, event_ids


def move_post(session: Session, post_id: int, old: Cluster, target_id: int, **membership) -> None:
    """Take POST_ID out of cluster OLD into cluster TARGET_ID (MEMBERSHIP: how it was placed
    there). A new membership row, with a new id: the workers' candidate indexes pick the
    move up. OLD's first post takes over as its representative if the post was it. The
    caller refreshes both clusters' figures and holds the cluster-assignment lock."""
    session.execute(delete(ClusterMembership).where(ClusterMembership.post_id == post_id))
    session.add(ClusterMembership(post_id=post_id, cluster_id=target_id, **membership))
    if old.representative_post_id == post_id:
        renew_representatives(session, [old])
    session.flush()


def renew_representatives(session: Session, clusters: list[Cluster]) -> list[Cluster]:
    """Make each cluster's first post (by publication) its representative again, after posts
    left or joined it; return those left with no post, whose figures become zero."""
    emptied = []
    for cluster in clusters:
        cluster.representative_post_id = session.scalar(
            select(ClusterMembership.post_id).join(Post, Post.id == ClusterMembership.post_id)
            .where(ClusterMembership.cluster_id == cluster.id).order_by(Post.published_at, Post.id).limit(1))
        if cluster.representative_post_id is None:
            cluster.post_count = cluster.source_count = 0
            emptied.append(cluster)
    session.flush()
    return emptied


def audit_merge(session: Session, actor: str, target_id: int, absorbed_id: int, moved: int,
                reason: str) -> None:
    """The audit trail's record of an automatic merge (a moderator's carries their reason)."""
    session.add(AuditEntry(actor=actor, action="cluster.merge", object_type="cluster",
                           object_id=str(target_id),
                           details={"absorbed_cluster_id": absorbed_id, "posts_moved": moved,
                                    "reason": reason}))


def _carry_separations(session: Session, target_id: int, absorbed_id: int) -> None:
    """The absorbed cluster's separations become the target's; one between the two ends
    (a moderator merging what was split has the last word)."""
    involved = or_(ClusterSeparation.cluster_id == absorbed_id,
                   ClusterSeparation.other_cluster_id == absorbed_id)
    for row in session.scalars(select(ClusterSeparation).where(involved)).all():
        other = row.other_cluster_id if row.cluster_id == absorbed_id else row.cluster_id
        session.delete(row)
        session.flush()
        if other != target_id:
            separate(session, target_id, other, row.created_by)
