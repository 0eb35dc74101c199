"""Read models for the review UI and API: plain dataclasses, no web framework."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from monitor.db.models import Alert, AlertStatus, Cluster, ClusterMembership, Post
from monitor.normalize import readable_text


@dataclass(frozen=True)
class AlertRow:
    alert: Alert
    representative_text: str


@dataclass(frozen=True)
class AlertPage:
    rows: list[AlertRow]
    page: int
    pages: int
    total: int


@dataclass(frozen=True)
class ClusterView:
    cluster: Cluster
    alert: Alert | None
    memberships: list[ClusterMembership]


def list_alerts(session: Session, status: AlertStatus | None = None, page: int = 1,
                per_page: int = 50) -> AlertPage:
    """Alerts by score, highest first."""
    query = select(Alert).options(joinedload(Alert.cluster).joinedload(Cluster.representative))
    count = select(func.count()).select_from(Alert)
    if status is not None:
        query, count = query.where(Alert.status == status), count.where(Alert.status == status)
    total = session.scalar(count) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    alerts = session.scalars(
        query.order_by(Alert.score.desc(), Alert.id).limit(per_page).offset((page - 1) * per_page)
    ).all()
    rows = [AlertRow(alert, _summary(alert.cluster.representative)) for alert in alerts]
    return AlertPage(rows, page, pages, total)


def get_cluster(session: Session, cluster_id: int) -> ClusterView | None:
    cluster = session.get(Cluster, cluster_id, options=[joinedload(Cluster.representative),
                                                         joinedload(Cluster.alert)])
    if cluster is None:
        return None
    memberships = session.scalars(
        select(ClusterMembership)
        .join(Post, Post.id == ClusterMembership.post_id)
        .options(joinedload(ClusterMembership.post).joinedload(Post.source))
        .where(ClusterMembership.cluster_id == cluster_id)
        .order_by(Post.published_at, Post.id)
    ).all()
    return ClusterView(cluster, cluster.alert, list(memberships))


def _summary(post: Post | None, length: int = 280) -> str:
    if post is None:
        return ""
    text = readable_text(post.text)
    return text if len(text) <= length else text[: length - 1] + "…"
